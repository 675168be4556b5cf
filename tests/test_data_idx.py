"""IDX reading and the MNIST / Fashion-MNIST loaders on small files written by the tests."""
import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from convnp.data import fashion_mnist, mnist, parse_idx, read_idx

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def idx_bytes(array, type_byte=0x08, dims=None):
    """An IDX file's bytes for ``array`` (big-endian), optionally with lying header dims."""
    array = np.asarray(array)
    dims = array.shape if dims is None else dims
    header = bytes([0, 0, type_byte, len(dims)]) + np.asarray(dims, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_split(folder, prefix, images, labels, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    for kind, data in (("images-idx3-ubyte", idx_bytes(images)), ("labels-idx1-ubyte", idx_bytes(labels))):
        name = f"{prefix}-{kind}"
        if compress:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


def small_mnist(rng, n=12):
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    return images, labels


@pytest.mark.parametrize("dtype,code", [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B),
                                        (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)])
def test_parse_idx_all_types_big_endian(rng, dtype, code):
    a = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    out = parse_idx(idx_bytes(a, code))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, a)


def test_parse_idx_known_bytes():
    # 2 x 2 int16 [[1, 256], [-2, 3]], written by hand, big-endian
    data = bytes([0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 1, 0, 0xFF, 0xFE, 0, 3])
    np.testing.assert_array_equal(parse_idx(data), [[1, 256], [-2, 3]])


def test_read_idx_gz_and_raw_agree(tmp_path, rng):
    a = rng.integers(0, 256, size=(5, 7), dtype=np.uint8)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(a)))
    (tmp_path / "a").write_bytes(idx_bytes(a))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), a)
    out = read_idx(tmp_path / "a.gz")
    out[0, 0] = 1  # a writable array of its own, not a view of the file's bytes


def test_bad_magic(tmp_path, rng):
    data = b"\x01\x02" + idx_bytes(rng.integers(0, 9, (4,), dtype=np.uint8))[2:]
    (tmp_path / "x.gz").write_bytes(gzip.compress(data))
    with pytest.raises(ValueError, match=r"mnist: x.gz is not an IDX file: bad magic number 0x01020801"):
        read_idx(tmp_path / "x.gz", who="mnist")


def test_wrong_type_byte(rng):
    data = idx_bytes(rng.integers(0, 9, (4, 2)).astype(np.int32), 0x0C)
    with pytest.raises(ValueError, match=r"mnist: f has type byte 0x0C \(int32\), expected 0x08 \(unsigned byte\)"):
        parse_idx(data, "f", "mnist", type_byte=0x08)
    with pytest.raises(ValueError, match="unknown IDX type byte 0x07"):
        parse_idx(bytes([0, 0, 7, 1, 0, 0, 0, 0]), "f", "mnist")


def test_wrong_ndim(rng):
    data = idx_bytes(rng.integers(0, 9, (4, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="mnist: f has 2 dimensions, expected 3"):
        parse_idx(data, "f", "mnist", ndim=3)


def test_truncated_payload_message_matches_style_guide(tmp_path):
    # the header claims 10000 28x28 images (7840016 bytes) but the stream holds 5242880
    data = idx_bytes(np.zeros(5242880 - 16, np.uint8), dims=(10000, 28, 28))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(data, compresslevel=1))
    with pytest.raises(ValueError, match=r"^mnist: t10k-images-idx3-ubyte.gz is truncated: expected 7840016 bytes, got 5242880$"):
        read_idx(tmp_path / "t10k-images-idx3-ubyte.gz", who="mnist")


def test_truncated_header():
    with pytest.raises(ValueError, match="f is truncated: expected at least a 4-byte IDX header, got 3 bytes"):
        parse_idx(b"\0\0\x08", "f", "mnist")
    with pytest.raises(ValueError, match="f is truncated: expected a 16-byte header, got 9 bytes"):
        parse_idx(bytes([0, 0, 8, 3, 0, 0, 0, 1, 0]), "f", "mnist")


def test_dims_larger_than_payload_and_extra_bytes(rng):
    a = rng.integers(0, 256, (6, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"f is truncated: expected 33 bytes, got 30"):
        parse_idx(idx_bytes(a, dims=(7, 3)), "f", "mnist")
    with pytest.raises(ValueError, match=r"f has 3 bytes too many for its dimensions \(5, 3\): expected 27 bytes, got 30"):
        parse_idx(idx_bytes(a, dims=(5, 3)), "f", "mnist")


def test_cut_gzip_stream_is_truncated(tmp_path, rng):
    a = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
    packed = gzip.compress(idx_bytes(a))
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match=r"cut.gz is truncated: expected 156816 bytes, got \d+"):
        read_idx(tmp_path / "cut.gz", who="mnist")
    # only the 8-byte gzip trailer missing: the payload is complete but the stream is not
    (tmp_path / "tail.gz").write_bytes(packed[:-8])
    with pytest.raises(ValueError, match="tail.gz is truncated: the gzip stream ends before its end marker"):
        read_idx(tmp_path / "tail.gz", who="mnist")


def test_corrupt_gzip(tmp_path, rng):
    packed = bytearray(gzip.compress(idx_bytes(rng.integers(0, 256, (50, 28, 28), dtype=np.uint8))))
    packed[-6] ^= 0xFF  # flip bits of the CRC-32
    (tmp_path / "bad.gz").write_bytes(bytes(packed))
    with pytest.raises(ValueError, match="mnist: bad.gz is not a valid gzip file"):
        read_idx(tmp_path / "bad.gz", who="mnist")


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_from_local_folder(tmp_path, rng, compress):
    images, labels = small_mnist(rng)
    test_images, test_labels = small_mnist(rng, n=5)
    write_split(tmp_path, "train", images, labels, compress)
    write_split(tmp_path, "t10k", test_images, test_labels, compress)
    ds = mnist(root=tmp_path, download=False)
    assert ds.images.shape == (12, 1, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int64 and ds.name == "mnist"
    assert ds.classes == [str(d) for d in range(10)]
    np.testing.assert_array_equal(ds.images[:, 0], images)
    np.testing.assert_array_equal(ds.labels, labels)
    test = mnist(root=str(tmp_path), train=False, download=False)
    np.testing.assert_array_equal(test.images[:, 0], test_images)


def test_fashion_mnist_classes(tmp_path, rng):
    write_split(tmp_path, "t10k", *small_mnist(rng, 3))
    ds = fashion_mnist(root=tmp_path, train=False, download=False)
    assert ds.name == "fashion-mnist" and ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_mnist_images_labels_count_mismatch(tmp_path, rng):
    images, labels = small_mnist(rng)
    write_split(tmp_path, "train", images, labels[:-1])
    with pytest.raises(ValueError, match="mnist: train-images-idx3-ubyte.gz has 12 images but train-labels-idx1-ubyte.gz has 11 labels"):
        mnist(root=tmp_path, download=False)


def test_mnist_label_out_of_range(tmp_path, rng):
    images, labels = small_mnist(rng)
    labels[3] = 12
    write_split(tmp_path, "train", images, labels)
    with pytest.raises(ValueError, match=r"mnist: train-labels-idx1-ubyte.gz has label 12, expected 0..9"):
        mnist(root=tmp_path, download=False)


def test_mnist_images_file_with_labels_layout(tmp_path, rng):
    images, labels = small_mnist(rng)
    write_split(tmp_path, "train", images, labels)
    os.replace(tmp_path / "train-labels-idx1-ubyte.gz", tmp_path / "train-images-idx3-ubyte.gz")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz has 1 dimensions, expected 3"):
        mnist(root=tmp_path, download=False)


def test_mnist_missing_folder_or_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="mnist: data folder .*nowhere' does not exist"):
        mnist(root=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.gz or train-images-idx3-ubyte not found in .* and download=False\. .*--data-dir.*mnist_sample\(\)"):
        mnist(root=tmp_path, download=False)


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="the shared MNIST folder is not on this machine")
def test_real_mnist_folder():
    test = mnist(root=SHARED_MNIST, train=False, download=False)
    assert test.images.shape == (10000, 1, 28, 28) and test.images.dtype == np.uint8
    # the per-class counts its README states
    np.testing.assert_array_equal(np.bincount(test.labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    train = mnist(root=SHARED_MNIST, train=True, download=False)
    assert len(train) == 60000
    np.testing.assert_array_equal(np.bincount(train.labels), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    assert 0 < train.images.mean() < 255 and train.images.max() == 255
