"""mg.load on hostile and foreign files: nothing is ever unpickled, and each refusal says what is wrong.

``test_serialization.py`` covers round trips, a truncated file, a flipped byte and a crafted header;
here the payloads really would run code if unpickled (each test first shows that they do, with
``allow_pickle=True``), and every other kind of file gets its own message.
"""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


class Payload:
    """Unpickling this writes a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def _npy_header(shape, descr="<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def test_an_object_array_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker, path = tmp_path / "ran.txt", tmp_path / "evil.npz"
    np.savez(path, weights=np.arange(3.0), payload=np.array([Payload(marker)], dtype=object))
    np.load(path, allow_pickle=True)["payload"]  # the payload is live: unpickling it runs code
    assert marker.read_text() == "code ran"
    marker.unlink()
    with pytest.raises(ValueError, match=r"evil\.npz .*array 'payload' has dtype object.*never unpickles"):
        mg.load(path)
    assert not marker.exists()


def test_a_pickle_file_is_refused_by_its_first_bytes_and_runs_nothing(tmp_path):
    marker, path = tmp_path / "ran.txt", tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weights": Payload(marker)}))
    pickle.loads(path.read_bytes())  # live, as above
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ValueError, match=r"model\.pt is not a valid state file: it looks like a pickle"):
        mg.load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "it is empty"),
        (b"w,b\n1.0,2.0\n", r"it is not an \.npz archive \(it starts with b'w,b\\n1\.'\)"),
        (b"\x93NUMPY\x01\x00", r"it holds a single \.npy array, not a state dict"),
    ],
    ids=["empty", "csv", "npy"],
)
def test_files_that_are_not_archives_are_named(tmp_path, content, message):
    path = tmp_path / "state.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"state\.npz is not a valid state file: " + message):
        mg.load(path)


def test_a_single_npy_file_written_by_numpy_is_refused(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.ones(3))
    with pytest.raises(ValueError, match=r"w\.npy is not a valid state file: it holds a single \.npy array"):
        mg.load(path)


def test_an_archive_with_other_members_is_refused_by_name(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("w.npy", _npy_header((2,)) + np.ones(2).tobytes())
        z.writestr("notes.txt", "not an array")
    with pytest.raises(ValueError, match="the archive holds 'notes.txt', which is not a .npy array"):
        mg.load(path)


@pytest.mark.parametrize(
    "shape, stored, message",
    [
        ((-1,), 16, r"array 'w' declares the shape \(-1,\), with a negative length"),
        ((1 << 40, 1 << 40), 16, r"array 'w' declares \d+ bytes, more than the limit"),
        ((4,), 16, "array 'w' declares 32 bytes but the file holds 16"),
    ],
    ids=["negative", "overflowing", "short"],
)
def test_crafted_headers_are_refused_before_reading(tmp_path, shape, stored, message):
    path = tmp_path / "crafted.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("w.npy", _npy_header(shape) + b"\0" * stored)
    with pytest.raises(ValueError, match=r"crafted\.npz is not a valid state file: " + message):
        mg.load(path)


def test_a_corrupt_header_names_the_file(tmp_path):
    path = tmp_path / "bad.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("w.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': 'zz'}   \n")
    with pytest.raises(ValueError, match=r"bad\.npz is not a valid state file \(truncated or corrupt\?\)"):
        mg.load(path)


def test_a_directory_is_named(tmp_path):
    with pytest.raises(ValueError, match="load: cannot read .*: .*Is a directory"):
        mg.load(tmp_path)


def test_compressed_archives_still_load(tmp_path):
    np.savez_compressed(tmp_path / "c.npz", w=np.arange(4.0), tags=np.array(["O", "B-PER"]))
    loaded = mg.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(loaded["w"], np.arange(4.0))
    assert list(loaded["tags"]) == ["O", "B-PER"]


def test_a_state_file_of_another_model_names_the_keys_that_do_not_match(tmp_path):
    mg.save(nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 2, rng=1)).state_dict(), tmp_path / "a.npz")
    other = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Linear(4, 2, rng=1))  # no Tanh: the second layer is "1"
    with pytest.raises(KeyError, match=r"missing keys \['1\.weight', '1\.bias'\], unexpected keys \['2\.weight', "):
        other.load_state_dict(mg.load(tmp_path / "a.npz"))
    wider = nn.Sequential(nn.Linear(3, 4, rng=5), nn.Tanh(), nn.Linear(4, 3, rng=6))  # the last layer differs
    before = wider.state_dict()
    with pytest.raises(ValueError, match=r"'2\.weight' has shape \(2, 4\) in the state but \(3, 4\) in the model"):
        wider.load_state_dict(mg.load(tmp_path / "a.npz"))
    for name, value in wider.state_dict().items():  # checked before copying: nothing was half-loaded
        np.testing.assert_array_equal(value, before[name])
