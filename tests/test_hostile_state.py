"""Hostile state files and model directories: loading is bounded by what the file honestly holds, a refused load
leaves the model as it was, and every fault is a one-line ``ValueError`` naming the file, never a MemoryError,
a hang or another exception.

``test_serialization.py`` and ``test_serialization_safety.py`` cover round trips, pickles and the first crafted
headers; here: decompression bombs, the size limits and how a caller raises them, files that are not regular
files, keys that ``np.savez`` would swallow, ``load_state_dict``'s checks, the NER model directory, and seeded
fuzzing of archives and model directories.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import threading
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, serialization
from minigrad.guard import InplaceError
from models import features, ner
from models.tagger import Tagger, TaggerConfig, weight_shapes


def _npy(shape, descr="<f8", data=b"", version=(1, 0), fortran=False) -> bytes:
    """A .npy member: a header saying ``shape`` and ``descr`` (true or not), then ``data``."""
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": fortran, "shape": shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buffer, header)
    else:
        np.lib.format.write_array_header_2_0(buffer, header)
    return buffer.getvalue() + data


def _archive(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # a duplicate is what some cases plant
        for name, content in members:
            z.writestr(name, content)
    return path


def _peak(fn, *args, **kwargs):
    """(what ``fn`` raised or returned, the peak of memory traced while it ran, in bytes)."""
    tracemalloc.start()
    try:
        try:
            out = fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - the caller looks at it
            out = e
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _one_line_error(e: BaseException, *names: str) -> None:
    assert isinstance(e, ValueError), f"{type(e).__name__}: {e}"  # ConllError is one too
    message = str(e)
    assert "\n" not in message, message
    assert any(name in message for name in names), message


# -- mg.load: bounded by the file ------------------------------------------------------------------
def test_a_compressed_archive_that_inflates_far_beyond_its_size_is_refused_before_allocating(tmp_path):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, small=np.arange(3.0), w=np.zeros(1 << 22))  # 32 MiB of zeros in about 33 KB
    size = path.stat().st_size
    error, peak = _peak(mg.load, path)
    assert isinstance(error, ValueError)
    assert str(error) == (
        f"load: {path} is not a valid state file: array 'w' brings the total its arrays declare to {(1 << 25) + 24} "
        f"bytes, more than 16 times the file's {size} bytes plus 1048576 (mg.load's max_ratio): a compressed archive "
        "that inflates this much is refused"
    )
    assert peak < 4 << 20  # nothing near the 32 MiB was allocated
    loaded = mg.load(path, max_ratio=math.inf)  # the caller trusts it: a keyword raises the limit
    assert loaded["w"].shape == (1 << 22,) and not loaded["w"].any()
    np.testing.assert_array_equal(loaded["small"], np.arange(3.0))


def test_the_ratio_limit_is_a_module_constant_read_at_each_call(tmp_path, monkeypatch):
    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, w=np.zeros(1 << 19))  # 4 MiB in about 4 KB
    with pytest.raises(ValueError, match="more than 16 times the file's"):
        mg.load(path)
    monkeypatch.setattr(serialization, "MAX_RATIO", 2000)
    assert mg.load(path)["w"].shape == (1 << 19,)


def test_a_small_compressed_archive_still_loads_within_the_allowance(tmp_path):
    path = tmp_path / "mask.npz"
    np.savez_compressed(path, mask=np.zeros(100_000, dtype=bool))  # 100 KB from a few hundred bytes
    assert path.stat().st_size < 1000
    assert mg.load(path)["mask"].shape == (100_000,)


def test_the_absolute_limit_counts_every_array_and_the_caller_raises_it(tmp_path, monkeypatch):
    path = tmp_path / "two.npz"
    mg.save({"a": np.zeros(375), "b": np.ones(375)}, path)  # 3000 bytes each, uncompressed
    with pytest.raises(ValueError, match=r"two\.npz .*array 'a' declares 3000 bytes, more than the limit 2000"):
        mg.load(path, max_bytes=2000)
    with pytest.raises(ValueError, match=r"array 'b' brings the total its arrays declare to 6000 bytes, more than the"):
        mg.load(path, max_bytes=5000)
    assert set(mg.load(path, max_bytes=6000)) == {"a", "b"}
    monkeypatch.setattr(serialization, "MAX_BYTES", 5000)
    with pytest.raises(ValueError, match="more than the limit 5000"):
        mg.load(path)
    assert set(mg.load(path, max_bytes=1 << 20)) == {"a", "b"}
    assert serialization.read_headers(path, max_bytes=6000) == {
        "a": ((375,), np.dtype("<f8")),
        "b": ((375,), np.dtype("<f8")),
    }


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_bytes": -1}, "max_bytes must be a non-negative integer"),
        ({"max_bytes": "1GB"}, "max_bytes must be a non-negative integer"),
        ({"max_bytes": True}, "max_bytes must be a non-negative integer"),
        ({"max_ratio": 0}, r"max_ratio must be a positive number \(math.inf for no limit\)"),
        ({"max_ratio": float("nan")}, "max_ratio must be a positive number"),
    ],
)
def test_limits_that_make_no_sense_are_refused(tmp_path, kwargs, message):
    mg.save({"w": np.ones(2)}, tmp_path / "w.npz")
    with pytest.raises(ValueError, match="load: " + message):
        mg.load(tmp_path / "w.npz", **kwargs)


def test_a_header_length_beyond_numpys_limit_is_refused_before_it_is_read(tmp_path):
    """A version 2 header's length field can say 4 GiB; NumPy reads that many bytes before it checks."""
    length = 32 << 20
    member = b"\x93NUMPY\x02\x00" + length.to_bytes(4, "little") + b" " * length  # compresses to ~32 KB
    path = _archive(tmp_path / "long.npz", [("w.npy", member)], zipfile.ZIP_DEFLATED)
    error, peak = _peak(mg.load, path)
    assert isinstance(error, ValueError)
    assert f"array 'w' has a .npy header of {length} bytes, more than the limit 10000" in str(error)
    assert peak < 4 << 20


def test_every_member_is_checked_before_any_is_read(tmp_path):
    """A later member named like an earlier array's key ('a' beside 'a.npy') is refused before 'a' is read,
    and it is never read in place of the member that was checked."""
    huge = _npy((1 << 25,), data=b"\0" * 16)  # claims 256 MiB
    path = _archive(tmp_path / "alias.npz", [("a.npy", _npy((2,), data=b"\0" * 16)), ("a", huge)])
    error, peak = _peak(mg.load, path)
    assert isinstance(error, ValueError)
    assert "the archive holds 'a', which is not a .npy array" in str(error)
    assert peak < 4 << 20


@pytest.mark.parametrize(
    "members, message",
    [
        ([("w.npy", _npy((2,), data=b"\0" * 16)), ("w.npy", _npy((3,), data=b"\0" * 24))], "holds 'w.npy' twice"),
        ([("w.npy", _npy((2,), data=b"\0" * 32))], "declares 16 bytes but the file holds 32, more than it"),
        ([("w.npy", _npy((2,), descr="|S0"))], r"array 'w' has dtype \|S0; mg.load reads numeric, bool and string"),
        ([("w.npy", _npy((2,), descr="<M8[s]", data=b"\0" * 16))], "has dtype datetime64"),
        ([("w.npy", _npy((2,), descr=[("a", "<f8")], data=b"\0" * 16))], r"has dtype \[\('a', '<f8'\)\]"),
        ([("w.npy", b"\x93NUMPY\x03\x00" + _npy((2,), data=b"\0" * 16)[8:])], r"header of version \(3, 0\)"),
        ([("w.npy", b"\x93NUMPY\x01\x00\x30")], r"\(truncated or corrupt\?\)"),
        ([("w.npy", b"not an array at all")], r"\(truncated or corrupt\?\): the magic string is not correct"),
    ],
    ids=["duplicate", "trailing-bytes", "zero-itemsize", "datetime", "structured", "version-3", "short", "not-npy"],
)
def test_odd_members_are_refused_by_name(tmp_path, members, message):
    path = _archive(tmp_path / "odd.npz", members)
    with pytest.raises(ValueError, match=r"load: .*odd\.npz is not a valid state file.*" + message):
        mg.load(path)


def test_an_encrypted_member_is_a_value_error(tmp_path):
    data = bytearray(_archive(tmp_path / "plain.npz", [("w.npy", _npy((2,), data=b"\0" * 16))]).read_bytes())
    central = data.index(b"PK\x01\x02")
    data[6] |= 0x1  # the encryption bit of the member's flags, in its local header and in the directory
    data[central + 8] |= 0x1  # zipfile would raise RuntimeError("... password required for extraction")
    path = tmp_path / "locked.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"locked\.npz .*the archive's member 'w\.npy' is encrypted"):
        mg.load(path)


def _finishes(fn, seconds=5.0):
    """What ``fn()`` raised or returned, in a thread; None if it was still running after ``seconds``."""
    box = []
    thread = threading.Thread(target=lambda: box.append(_call(fn)), daemon=True)
    thread.start()
    thread.join(seconds)
    return box[0] if box else None


def _call(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        return e


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path):
    fifo = tmp_path / "state.npz"
    os.mkfifo(fifo)
    link = tmp_path / "link.npz"
    link.symlink_to(fifo)
    try:
        for path in (fifo, link):
            error = _finishes(lambda p=path: mg.load(p))
            assert isinstance(error, ValueError), error
            assert str(error) == f"load: cannot read {path}: Is a FIFO (named pipe); mg.load reads only regular files"
    finally:  # a reader still blocked in open() (the code before the check) is let go: the test fails, not hangs
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_a_device_and_a_directory_are_refused_by_their_kind(tmp_path):
    with pytest.raises(ValueError, match="load: cannot read /dev/zero: Is a character device; mg.load reads only"):
        mg.load("/dev/zero")
    with pytest.raises(ValueError, match="Is a directory; mg.load reads only regular files"):
        mg.load(tmp_path)


# -- mg.save: any key ------------------------------------------------------------------------------
def test_save_stores_the_keys_that_np_savez_takes_as_its_own_arguments(tmp_path):
    state = {
        "allow_pickle": np.arange(3.0),  # np.savez took this as its flag and dropped the array
        "file": np.ones(2, dtype=np.int32),
        "arr_0": np.zeros((2, 2), dtype=np.float32),
        "x.npy": np.array([True, False]),
        "dir/name": np.array(["a", "bb"]),
        "ünïcode": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "kwds": np.array(1.5),
    }
    mg.save(state, tmp_path / "keys.npz")
    loaded = mg.load(tmp_path / "keys.npz")
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape
        np.testing.assert_array_equal(loaded[key], value)


def test_save_refuses_a_key_that_a_zip_name_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match=r"save: the key 'a\\x00b' holds a NUL character"):
        mg.save({"a\0b": np.ones(1)}, tmp_path / "nul.npz")
    with pytest.raises(ValueError, match="save: the key .* is not valid Unicode"):
        mg.save({"\udc80": np.ones(1)}, tmp_path / "surrogate.npz")


# -- load_state_dict: everything checked, then everything written ------------------------------------
def _model():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 2, rng=1))
    model.register_buffer("steps", np.array([7], dtype=np.int64))
    return model


def _snapshot(model):
    params = dict(model.named_parameters())
    return {name: (p._data, p._data.copy()) for name, p in params.items()} | {
        name: (b, b.copy()) for name, b in model.named_buffers()
    }


def _unchanged(model, before):
    now = _snapshot(model)
    assert list(now) == list(before)
    for name, (array, copy) in before.items():
        assert now[name][0] is array, f"{name} was replaced, not written in place"
        np.testing.assert_array_equal(now[name][0], copy, err_msg=name)


def _good_state(model):
    """New values for every entry, with '0.weight' last: an entry written first would show a half-load."""
    state = {k: v + 1 for k, v in model.state_dict().items() if k != "0.weight"}
    state["0.weight"] = model.state_dict()["0.weight"] + 1
    return state


BAD_ENTRIES = {
    "shape": ("0.weight", np.zeros((3, 4), np.float32), ValueError, r"'0\.weight' has shape \(3, 4\) in the state"),
    "complex": ("0.weight", np.ones((4, 3), complex), ValueError, "complex numbers cannot be stored as floats"),
    "bool": ("0.weight", np.ones((4, 3), bool), ValueError, "booleans cannot be stored as floats"),
    "str": ("0.weight", np.full((4, 3), "1.5"), ValueError, "strings cannot be stored as floats"),
    "object": ("0.weight", np.full((4, 3), None), ValueError, "Python objects cannot be stored as floats"),
    "overflow": ("0.weight", np.full((4, 3), 1e300), ValueError, r"its values reach 1e\+300, outside float32's range"),
    "ragged": ("0.weight", [[1.0], [1.0, 2.0]], ValueError, r"'0\.weight' is not an array"),
    "float-into-int-buffer": ("steps", np.array([7.5]), ValueError, "floats cannot be stored as integers"),
    "int-out-of-range": ("steps", np.array([2**64 - 1], np.uint64), ValueError, "outside int64's range"),
}


@pytest.mark.parametrize("kind", list(BAD_ENTRIES))
def test_a_refused_entry_leaves_every_array_as_it_was(kind):
    model = _model()
    name, value, error, message = BAD_ENTRIES[kind]
    state = _good_state(model)
    del state[name]
    state[name] = value  # the bad entry comes last: everything before it would have been written
    before = _snapshot(model)
    with pytest.raises(error, match="load_state_dict: " + ".*" + message):
        model.load_state_dict(state)
    _unchanged(model, before)


@pytest.mark.parametrize("change", ["missing", "unexpected"])
def test_key_mismatches_leave_every_array_as_it_was(change):
    model = _model()
    state = _good_state(model)
    if change == "missing":
        del state["steps"]
    else:
        state["extra"] = np.ones(1)
    before = _snapshot(model)
    named = "steps" if change == "missing" else "extra"
    with pytest.raises(KeyError, match=f"load_state_dict: missing keys .*{named}"):
        model.load_state_dict(state)
    _unchanged(model, before)


def test_a_parameter_held_by_a_live_graph_is_refused_and_nothing_is_written():
    model = _model()
    x = mg.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    loss = model[0](x).sum()  # the gradient for x reads 0.weight, and nothing else of the model
    state = _good_state(model)  # '0.weight' comes last: written in order, the rest would have been half-loaded
    before = _snapshot(model)
    with pytest.raises(InplaceError, match=r"load_state_dict: the parameter '0\.weight' .* is saved by 'matmul'"):
        model.load_state_dict(state)
    _unchanged(model, before)
    loss.backward()  # the graph is done with it: now it loads
    model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, state[name])


def test_values_that_cast_without_loss_are_loaded():
    model = _model()
    state = {k: (v.astype(np.float64) if v.dtype.kind == "f" else v) for k, v in _good_state(model).items()}
    state["2.bias"] = np.array([3, -4], dtype=np.int64)  # integers into floats
    state["0.bias"] = np.array([np.inf, np.nan, 1e30, -1e30], dtype=np.float64)  # inf and nan stay what they are
    state["steps"] = np.array([9], dtype=np.int32)
    model.load_state_dict(state)
    loaded = model.state_dict()
    assert all(loaded[k].dtype == np.float32 for k in ("0.weight", "0.bias", "2.weight", "2.bias"))
    np.testing.assert_array_equal(loaded["2.bias"], [3.0, -4.0])
    np.testing.assert_array_equal(loaded["0.bias"], np.array([np.inf, np.nan, 1e30, -1e30], np.float32))
    assert loaded["steps"].dtype == np.int64 and loaded["steps"][0] == 9


# -- the NER model directory -------------------------------------------------------------------------
CONFIG = TaggerConfig(half=1, word_dim=3, case_dim=2, suffix_dim=2, hidden=4, dropout=0.0)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tagger") / "model"
    words, suffixes = features.Vocab(["met", "in", "dana", "oslo"]), features.Vocab(["met", "ana"])
    Tagger(CONFIG, words, suffixes, ["O", "B-PER", "I-PER", "B-LOC"], "BIO").save(directory)
    return directory


@pytest.fixture
def model_dir(saved_model, tmp_path):
    return shutil.copytree(saved_model, tmp_path / "model")


def _edit_config(directory, edit):
    path = directory / "config.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


def test_weight_shapes_are_those_of_the_model():
    for config in (CONFIG, TaggerConfig(half=0, word_dim=2, case_dim=1, suffix_dim=1, hidden=0)):
        tagger = Tagger(config, features.Vocab(["a"]), features.Vocab([]), ["O", "B-X"])
        made = {k: v.shape for k, v in tagger.model.state_dict().items()}
        assert made == weight_shapes(config, 3, 2, 2)


def test_a_saved_tagger_loads_with_its_weights(saved_model):
    tagger = Tagger.load(saved_model)
    state = mg.load(saved_model / "weights.npz")
    for key, value in tagger.model.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
    assert tagger.labels == ["O", "B-PER", "I-PER", "B-LOC"] and tagger.config == CONFIG


@pytest.mark.parametrize("hidden", [1_000_000, 4_000_000])
def test_a_config_asking_for_a_huge_model_is_refused_before_allocating(model_dir, hidden, capsys):
    _edit_config(model_dir, lambda meta: meta["config"].update(hidden=hidden))
    error, peak = _peak(Tagger.load, model_dir)
    assert isinstance(error, ValueError), error
    assert str(error).startswith(
        f"load: {model_dir / 'weights.npz'} holds 'classifier.hidden.weight' of shape (4, 21), but "
        f"{model_dir / 'config.json'} makes it ({hidden}, 21) (half=1, word_dim=3, case_dim=2, suffix_dim=2, "
        f"hidden={hidden}, 6 words, 4 suffixes, 4 labels)"
    )
    assert peak < 4 << 20  # 4,000,000 x 21 float32 would be 336 MB
    text = model_dir.parent / "in.txt"
    text.write_text("we met Dana\n")
    assert ner.main(["tag", "--model", str(model_dir), str(text)]) == 2
    err = capsys.readouterr().err  # one line, with the shapes that do not match
    assert err.startswith("error: ") and err.count("\n") == 1 and f"({hidden}, 21)" in err, err


CONFIG_FAULTS = {
    "label-not-a-string": (lambda m: m.update(labels=["O", 3]), "'labels' holds 3, which is not a string"),
    "label-null": (lambda m: m.update(labels=["O", None]), "'labels' holds None, which is not a string"),
    "labels-not-a-list": (lambda m: m.update(labels="O B-PER"), "'labels' is a str, not a list of strings"),
    "label-not-bio": (lambda m: m.update(labels=["O", "PER"]), "the label 'PER' is not O or B-/I- followed by a type"),
    "no-O-first": (lambda m: m.update(labels=["B-PER", "O"]), "labels must start with 'O'"),
    "label-twice": (lambda m: m.update(labels=["O", "B-PER", "B-PER"]), "'labels' holds 'B-PER' twice"),
    "word-twice": (lambda m: m["words"].append("met"), "'words' holds 'met' twice"),
    "no-pad": (lambda m: m.update(words=m["words"][1:]), "'words' must start with '<pad>', '<unk>'"),
    "dim-a-string": (lambda m: m["config"].update(word_dim="3"), "config.word_dim must be an integer, got '3'"),
    "dim-a-bool": (lambda m: m["config"].update(case_dim=True), "config.case_dim must be an integer, got True"),
    "dim-zero": (lambda m: m["config"].update(suffix_dim=0), "config.suffix_dim must be at least 1, got 0"),
    "half-negative": (lambda m: m["config"].update(half=-1), "config.half must be at least 0, got -1"),
    "dropout": (lambda m: m["config"].update(dropout=1.5), r"config.dropout must be a number in \[0, 1\), got 1.5"),
    "unknown-setting": (lambda m: m["config"].update(layers=2), r"'config' has unknown settings \['layers'\]"),
    "config-a-list": (lambda m: m.update(config=[1]), "'config' is a list, not an object"),
    "scheme": (lambda m: m.update(scheme=["BIO"]), r"scheme \['BIO'\] is not one of"),
    "missing-field": (lambda m: m.pop("suffixes"), r"missing fields \['suffixes'\], unexpected fields \[\]"),
}


@pytest.mark.parametrize("fault", list(CONFIG_FAULTS))
def test_a_faulty_config_names_the_file_and_the_field(model_dir, fault):
    edit, message = CONFIG_FAULTS[fault]
    _edit_config(model_dir, edit)
    with pytest.raises(ValueError, match=f"load: {model_dir / 'config.json'} is not a tagger configuration: {message}"):
        Tagger.load(model_dir)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"[1, 2]", "expected a JSON object, found list"),
        (b"{'config': 1}", r"not JSON\): Expecting property name"),
        (b"[" * 100_000, "not JSON"),
        ('{"labels": "é"}'.encode("latin-1"), "is not UTF-8 text"),
    ],
    ids=["list", "not-json", "deep", "latin-1"],
)
def test_a_config_that_is_not_one_names_the_file(model_dir, content, message):
    (model_dir / "config.json").write_bytes(content)
    with pytest.raises(ValueError, match=f"load: {model_dir / 'config.json'} " + ".*" + message):
        Tagger.load(model_dir)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_config_that_is_a_fifo_is_refused_at_once(model_dir):
    (model_dir / "config.json").unlink()
    os.mkfifo(model_dir / "config.json")
    try:
        error = _finishes(lambda: Tagger.load(model_dir))
        assert isinstance(error, ValueError) and "config.json is not a regular file" in str(error), error
    finally:
        try:
            os.close(os.open(model_dir / "config.json", os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


WEIGHT_FAULTS = {
    "missing": (lambda s: s.pop("classifier.out.bias"), r"missing \['classifier\.out\.bias'\], unexpected \[\]"),
    "extra": (lambda s: s.update(extra=np.ones(1)), r"missing \[\], unexpected \['extra'\]"),
    "shape": (lambda s: s.update({"cases.weight": np.ones((3, 2), np.float32)}), "holds 'cases.weight' of shape"),
    "ints": (lambda s: s.update({"cases.weight": np.ones((12, 2), int)}), "of dtype int64; the tagger's weights"),
    "overflow": (lambda s: s.update({"cases.weight": np.full((12, 2), 1e300)}), "outside float32's range"),
}


@pytest.mark.parametrize("fault", list(WEIGHT_FAULTS))
def test_faulty_weights_name_the_weight_file(model_dir, fault):
    edit, message = WEIGHT_FAULTS[fault]
    state = mg.load(model_dir / "weights.npz")
    edit(state)
    mg.save(state, model_dir / "weights.npz")
    with pytest.raises(ValueError, match=f"load: {model_dir / 'weights.npz'}.*{message}"):
        Tagger.load(model_dir)


# -- seeded fuzzing ----------------------------------------------------------------------------------
DESCRS = ["<f8", "<f4", ">i4", "|b1", "<U3", "|S2", "<c16", "|O", "<M8[s]", "|V8", "|S0", "<f2", "zz"]


def _crafted(rng) -> bytes:
    """An archive of 1-3 members whose headers may lie: any shape (negative, huge, empty), dtype, data length."""
    buffer = io.BytesIO()
    compression = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED][rng.integers(2)]
    with zipfile.ZipFile(buffer, "w", compression) as z:
        for i in range(rng.integers(1, 4)):
            ndim = rng.integers(0, 4)
            shape = tuple(int(n) for n in rng.choice([-1, 0, 1, 2, 3, 5, 1 << 20, 1 << 40], ndim))
            descr = DESCRS[rng.integers(len(DESCRS))]
            try:
                header = _npy(shape, descr, version=[(1, 0), (2, 0)][rng.integers(2)], fortran=bool(rng.integers(2)))
            except (ValueError, TypeError):  # NumPy will not write this descr: write the bytes ourselves
                header = _npy(shape)[:-1].replace(b"'<f8'", repr(descr).encode()) + b"\n"
            length = int(rng.choice([0, 1, 8, 16, 24, 48, 1000]))
            z.writestr(f"m{i}.npy", header + rng.bytes(length))
    return buffer.getvalue()


def _mutated(data: bytes, rng) -> bytes:
    data = bytearray(data)
    kind = rng.integers(4)
    if kind == 0 or not data:  # truncate
        return bytes(data[: rng.integers(0, len(data) + 1)])
    if kind == 1:  # flip a few bytes
        for _ in range(rng.integers(1, 4)):
            data[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
        return bytes(data)
    if kind == 2:  # overwrite a run with random bytes
        start = rng.integers(len(data))
        run = rng.bytes(int(rng.integers(1, 16)))
        data[start : start + len(run)] = run
        return bytes(data)
    return bytes(data[: rng.integers(len(data))] + rng.bytes(int(rng.integers(1, 64))))  # a random tail


def _check_load(path, original):
    """mg.load either gives back exactly the arrays saved, or raises a one-line ValueError naming the file."""
    try:
        loaded = mg.load(path)
    except ValueError as e:
        _one_line_error(e, str(path))
        return False
    if original is not None:
        assert list(loaded) == list(original)
        for key, value in original.items():
            assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape
            np.testing.assert_array_equal(loaded[key], value)
    return True


def test_fuzzed_archives_load_exactly_or_are_refused_with_one_line(tmp_path):
    rng = np.random.default_rng(20240522)
    original = {"w": rng.standard_normal((3, 4)).astype(np.float32), "b": np.arange(5), "tags": np.array(["O", "B"])}
    mg.save(original, tmp_path / "plain.npz")
    np.savez_compressed(tmp_path / "packed.npz", **original)
    sources = [(tmp_path / "plain.npz").read_bytes(), (tmp_path / "packed.npz").read_bytes()]
    path = tmp_path / "fuzzed.npz"
    outcomes = {True: 0, False: 0}
    tracemalloc.start()
    try:
        for i in range(600):
            if i % 3 == 2:  # lying headers, unmutated or mutated
                data, expected = _crafted(rng), None
                if rng.integers(2):
                    data = _mutated(data, rng)
            else:
                data, expected = _mutated(sources[i % 3], rng), original
            path.write_bytes(data)
            outcomes[_check_load(path, expected)] += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # no crafted header got a large allocation
    assert outcomes[True] > 20 and outcomes[False] > 300  # both outcomes were reached


def _random_json(rng, depth=0):
    """Any JSON value: a wrong type, a wrong number, or a small nested list or object."""
    choice = rng.integers(9 if depth < 2 else 7)
    if choice == 7:
        return [_random_json(rng, depth + 1) for _ in range(rng.integers(3))]
    if choice == 8:
        return {"k": _random_json(rng, depth + 1)}
    return [None, True, -1, 0, 10**12, 2.5, "x", [], {}][choice]


def test_fuzzed_model_directories_load_or_are_refused_with_one_line(saved_model, tmp_path):
    rng = np.random.default_rng(7)
    meta = json.loads((saved_model / "config.json").read_text())
    weights = (saved_model / "weights.npz").read_bytes()
    reference = Tagger.load(saved_model).model.state_dict()
    directory = tmp_path / "fuzzed"
    directory.mkdir()
    loaded = refused = 0
    tracemalloc.start()
    try:
        for i in range(250):
            m = json.loads(json.dumps(meta))
            data = weights
            kind = i % 4
            if kind == 0:  # a setting replaced by any JSON value, or a plausible but wrong number
                key = list(m["config"])[rng.integers(len(m["config"]))]
                wrong = int(rng.choice([0, 1, 5, 10**6, 4 * 10**6]))
                m["config"][key] = _random_json(rng) if rng.integers(2) else wrong
            elif kind == 1:  # a top-level field replaced, or one of its items
                key = list(m)[rng.integers(len(m))]
                if isinstance(m[key], list) and m[key] and rng.integers(2):
                    m[key][rng.integers(len(m[key]))] = _random_json(rng)
                else:
                    m[key] = _random_json(rng)
            elif kind == 2:  # the weights mutated
                data = _mutated(weights, rng)
            else:  # config.json's text mutated
                text = _mutated(json.dumps(m).encode(), rng)
            (directory / "config.json").write_bytes(text if kind == 3 else json.dumps(m).encode())
            (directory / "weights.npz").write_bytes(data)
            try:
                tagger = Tagger.load(directory)
            except ValueError as e:
                _one_line_error(e, str(directory))
                refused += 1
                continue
            loaded += 1
            for key, value in tagger.model.state_dict().items():  # loaded: the weights are the saved ones
                np.testing.assert_array_equal(value, reference[key])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    assert loaded > 5 and refused > 150
