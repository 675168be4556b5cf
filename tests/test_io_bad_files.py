"""Model files that are damaged, tampered with or malicious; writes that fail or are interrupted."""
import errno
import io as pyio
import os
import pickle
import re
import zipfile

import numpy as np
import pytest

from convnp import io, nn
from io_helpers import Scale, entries, rewrite_header, saved, small_cnn, write_entries  # noqa: F401


# -- bad files ---------------------------------------------------------------------------------
def test_not_an_npz(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(io.ModelFileError, match=r"notes.txt: not a convnp model file: expected an .npz archive"):
        io.load(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"the file is empty"):
        io.load(path)
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / "missing.npz")


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(io.ModelFileError, match=r"model.npz: the file is truncated or damaged"):
        io.load(saved)


def test_corrupted_bytes_are_detected(saved):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as z:
        info = z.getinfo("model/0.weight.npy")
    spot = info.header_offset + 30 + len(info.filename) + info.file_size - 5   # inside the weights
    data[spot] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(io.ModelFileError, match=r"truncated or damaged .*(CRC|crc)"):
        io.load(saved)


def test_missing_architecture_entry(tmp_path):
    path = tmp_path / "plain.npz"
    write_entries(path, {"weight": np.ones(3)})
    with pytest.raises(io.ModelFileError, match=r"plain.npz: no architecture entry \(__convnp__\)"):
        io.load(path)


def test_zip_member_that_is_not_an_array(tmp_path):
    path = tmp_path / "m.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("__convnp__.npy", b'{"format": "convnp-model"}')
    with pytest.raises(io.ModelFileError, match=r"entry '__convnp__' is not a NumPy array"):
        io.load(path)


def test_tampered_json(saved):
    arrays = entries(saved)
    arrays["__convnp__"] = np.frombuffer(b'{"format": "convnp-model", "format_version": 1, "archi', dtype=np.uint8)
    write_entries(saved, arrays)
    with pytest.raises(io.ModelFileError, match=r"model.npz: the description \(__convnp__\) is not valid JSON"):
        io.load(saved)


@pytest.mark.parametrize("change, message", [
    (lambda h: h["architecture"]["layers"].__setitem__(2, {"class": "ReLU", "config": {}, "x": 1}),
     r"ReLU at layer '2': expected the keys \['class', 'config'\], got \['class', 'config', 'x'\]"),
    (lambda h: h["architecture"].__setitem__("layers", {"0": 1}),
     r"Sequential at the top level: 'layers' must be a list"),
    (lambda h: h["architecture"]["layers"][0]["config"].__setitem__("kernel_size", 0),
     r"cannot rebuild Conv2d at layer '0' from config .*: ValueError: Conv2d: kernel_size must be >= 1"),
    (lambda h: h["architecture"]["layers"][4].__setitem__("block", 3),
     r"expected a layer description .* at layer '4.block', got 3"),
    (lambda h: h.__setitem__("training", [True]),
     r"'training' should list 19 true/false modes, one per layer, got \[true\]"),
    (lambda h: h.__setitem__("epoch", "2"), r"epoch must be an int or null"),
    (lambda h: h.__setitem__("extra", 1), r"the description should have the keys"),
    (lambda h: h.__setitem__("format_version", "1"), r"invalid format_version '1'"),
    (lambda h: h.__setitem__("metadata", {"__array__": "model/0.weight"}), r"refers to an entry 'model/0.weight'"),
    (lambda h: h.__setitem__("metadata", {"__array__": "metadata/0", "x": 1}), r"metadata: malformed array reference"),
    (lambda h: h.__setitem__("optimizer", {"class": "SGD", "param_names": None, "state": {"state": {"a": {}}}}),
     r"the optimizer's state should be keyed by parameter numbers, got \[.a.\]"),
    (lambda h: h.__setitem__("rng_state", {"bit_generator": "PCG64", "state": {}}), r"rng_state is not a valid"),
])
def test_tampered_description(saved, change, message):
    rewrite_header(saved, change)
    with pytest.raises(io.ModelFileError, match=r"model\.npz: (.* )?" + message):
        io.load(saved)


def test_newer_format_version(saved):
    rewrite_header(saved, lambda h: h.__setitem__("format_version", 3))
    with pytest.raises(io.ModelFileError, match=r"model.npz: written by a newer convnp \(format 3\);"
                                                r" this version reads format 2: upgrade convnp"):
        io.load(saved)


def test_unknown_layer_class(saved):
    rewrite_header(saved, lambda h: h["architecture"]["layers"][2].__setitem__("class", "Evil"))
    with pytest.raises(io.ModelFileError,
                       match=r"model.npz: unknown layer class 'Evil' at layer '2'; known classes: .*Conv2d"):
        io.load(saved)


def test_weights_that_do_not_fit(saved):
    rewrite_header(saved, lambda h: h["architecture"]["layers"][8]["config"].__setitem__("out_features", 3))
    with pytest.raises(io.ModelFileError, match=r"model.npz: the weights do not fit the described layers: "
                                                r".*8.weight: expected shape \(3, 96\), got \(5, 96\)"):
        io.load(saved)


def test_missing_and_unexpected_entries(saved):
    arrays = entries(saved)
    arrays["model/9.weight"] = arrays.pop("model/1.running_mean")
    write_entries(saved, arrays)
    with pytest.raises(io.ModelFileError, match=r"missing keys \['1.running_mean'\]; unexpected keys \['9.weight'\]"):
        io.load(saved)
    arrays = entries(saved)
    arrays["model/1.running_mean"] = arrays.pop("model/9.weight")
    arrays["stowaway"] = np.zeros(2)
    write_entries(saved, arrays)
    with pytest.raises(io.ModelFileError, match=r"entries \['stowaway'\] are not described"):
        io.load(saved)


class _Tripwire:
    """Unpickling this calls _tripped: the test checks that load never unpickles."""

    def __reduce__(self):
        return (_tripped, ())


_TRIPPED = []


def _tripped():
    _TRIPPED.append(1)
    return 0


def test_pickle_inside_is_refused(saved):
    arrays = entries(saved)
    payload = np.empty(1, dtype=object)
    payload[0] = _Tripwire()
    buffer = pyio.BytesIO()
    np.savez(buffer, **arrays, **{"metadata/0": payload})   # np.savez pickles object arrays
    saved.write_bytes(buffer.getvalue())
    with pytest.raises(io.ModelFileError, match=r"refused: entry 'metadata/0' holds pickled Python objects"):
        io.load(saved)
    assert _TRIPPED == []
    pickle.loads(pickle.dumps(_Tripwire()))   # the tripwire does work
    assert _TRIPPED == [1]


# -- atomic writes ------------------------------------------------------------------------------
def test_failure_mid_write_leaves_existing_file_untouched(saved, monkeypatch):
    before = saved.read_bytes()
    real_write = np.lib.format.write_array
    calls = []

    def failing_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(OSError, match="disk full"):
        io.save(saved, small_cnn())
    assert len(calls) == 3          # it failed part-way through the entries
    assert saved.read_bytes() == before
    assert os.listdir(saved.parent) == ["model.npz"]   # no temporary file left behind


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_interrupted_write_cleans_up(saved, monkeypatch, where):
    before = saved.read_bytes()

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, where, interrupt)
    with pytest.raises(KeyboardInterrupt):
        io.save(saved, small_cnn())
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert os.listdir(saved.parent) == ["model.npz"]
    io.load(saved)


def test_full_disk_names_the_file(saved, monkeypatch):
    before = saved.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=rf"cannot write {re.escape(str(saved))}: No space left on device") as info:
        io.save(saved, small_cnn())
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert saved.read_bytes() == before and os.listdir(saved.parent) == ["model.npz"]


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"the folder .*nowhere does not exist"):
        io.save(tmp_path / "nowhere" / "m.npz", nn.Sequential(Scale(1)))


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_file_mode(tmp_path):
    path = tmp_path / "m.npz"
    umask = os.umask(0o022)
    try:
        io.save(path, nn.Sequential(Scale(1)))
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644      # not mkstemp's 0600
    os.chmod(path, 0o640)
    io.save(path, nn.Sequential(Scale(1)))
    assert path.stat().st_mode & 0o777 == 0o640      # a replaced file keeps its mode


@pytest.mark.parametrize("where, config", [
    (8, {"in_features": 100_000, "out_features": 100_000, "bias": True}),        # a 40 GB Linear
    (1, {"num_features": 10**10, "eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True}),
])
def test_a_description_larger_than_the_weights_is_refused_before_allocating(saved, where, config):
    """The file's weights bound what rebuilding its description may allocate: checked before allocation."""
    header = {}
    rewrite_header(saved, lambda h: header.update(h))
    layer = header["architecture"]["layers"][where]
    rewrite_header(saved, lambda h: h["architecture"]["layers"][where]["config"].update(config))
    with pytest.raises(io.ModelFileError, match=r"model\.npz: .*convnp.load: the description asks for an array of"
                                                r" shape \(.*\) \(.* elements\), more than the file's weights hold"):
        io.load(saved)
    assert layer["class"] in ("Linear", "BatchNorm2d")
