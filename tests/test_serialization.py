"""mg.save / mg.load: round trips, no pickle, and clear errors for truncated or foreign files."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


def test_round_trip_of_a_state_dict(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 2, rng=1))
    path = tmp_path / "model.npz"
    mg.save({**model.state_dict(), "vocab": np.array(["a", "bb"])}, path)
    loaded = mg.load(path)
    assert list(loaded) == ["0.weight", "0.bias", "2.weight", "2.bias", "vocab"]
    assert loaded["0.weight"].dtype == np.float32
    fresh = nn.Sequential(nn.Linear(3, 4, rng=5), nn.Tanh(), nn.Linear(4, 2, rng=6))
    fresh.load_state_dict({k: v for k, v in loaded.items() if k != "vocab"})
    x = np.ones((2, 3), dtype=np.float32)
    np.testing.assert_array_equal(fresh(x).data, model(x).data)


def test_save_accepts_tensors_and_refuses_objects(tmp_path):
    mg.save({"w": mg.tensor([1.0, 2.0], requires_grad=True)}, tmp_path / "t.npz")
    np.testing.assert_array_equal(mg.load(tmp_path / "t.npz")["w"], [1.0, 2.0])
    with pytest.raises(TypeError, match="'bad' has dtype object"):
        mg.save({"bad": np.array([{"x": 1}], dtype=object)}, tmp_path / "o.npz")
    with pytest.raises(TypeError, match="state dict"):
        mg.save([1, 2], tmp_path / "o.npz")


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "m.npz"
    mg.save({"w": np.arange(1000.0)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"m\.npz is not a valid state file"):
        mg.load(path)


def test_flipped_byte_fails_the_checksum(tmp_path):
    path = tmp_path / "m.npz"
    mg.save({"w": np.arange(1000.0)}, path)
    data = bytearray(path.read_bytes())
    data[2000] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="CRC"):
        mg.load(path)


def test_pickled_content_is_never_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([{"run": "code"}], dtype=object))  # an object array is a pickle inside
    with pytest.raises(ValueError, match="evil.npz is not a valid state file: array 'payload' has dtype object"):
        mg.load(path)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(b"\x80\x04\x95not really")
    with pytest.raises(ValueError, match="plain.pkl is not a valid state file"):
        mg.load(plain)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        mg.load(tmp_path / "nope.npz")


def test_a_header_that_claims_a_huge_array_is_refused_before_allocating(tmp_path):
    import io
    import zipfile

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (1 << 40,)})
    path = tmp_path / "crafted.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.npy", buffer.getvalue() + b"\0" * 16)
    with pytest.raises(ValueError, match="declares 8796093022208 bytes, more than the limit"):
        mg.load(path)
    with zipfile.ZipFile(path, "w") as z:  # under the limit, but far more than the file holds
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (1 << 20,)})
        z.writestr("a.npy", buffer.getvalue() + b"\0" * 16)
    with pytest.raises(ValueError, match="declares 8388608 bytes but the file holds"):
        mg.load(path)
