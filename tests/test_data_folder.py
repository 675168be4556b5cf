"""image_folder and load_image on image files written by the tests with Pillow."""
import re
import struct
import sys
import warnings
import zlib

import numpy as np
import pytest

from convnp.data import image_folder, load_image

Image = pytest.importorskip("PIL.Image")


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_classes_sorted_and_labels(tmp_path, rng):
    grey = {name: rng.integers(0, 256, (6, 5), dtype=np.uint8) for name in ("b1", "a2", "c3")}
    save(tmp_path / "zebra" / "b1.png", grey["b1"])
    save(tmp_path / "zebra" / "a2.PNG", grey["a2"])
    save(tmp_path / "ant" / "sub" / "c3.bmp", grey["c3"])
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    (tmp_path / "README").write_text("a file at the top is not a class")
    ds = image_folder(tmp_path)
    assert ds.classes == ["ant", "zebra"] and ds.name == tmp_path.name
    assert ds.images.shape == (3, 1, 6, 5) and ds.images.dtype == np.uint8
    assert ds.labels.tolist() == [0, 1, 1]
    # lossless formats: the pixels come back exactly, files in sorted order within a class
    np.testing.assert_array_equal(ds.images[0, 0], grey["c3"])
    np.testing.assert_array_equal(ds.images[1, 0], grey["a2"])
    np.testing.assert_array_equal(ds.images[2, 0], grey["b1"])


def test_rgb_layout_and_grey_conversion(tmp_path, rng):
    rgb = rng.integers(0, 256, (4, 7, 3), dtype=np.uint8)
    save(tmp_path / "x" / "a.png", rgb)
    ds = image_folder(tmp_path, mode="RGB")
    assert ds.images.shape == (1, 3, 4, 7)
    np.testing.assert_array_equal(ds.images[0], rgb.transpose(2, 0, 1))
    grey = image_folder(tmp_path, mode="L")
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    np.testing.assert_array_equal(grey.images[0, 0], expected)


def test_resize(tmp_path, rng):
    save(tmp_path / "a" / "1.png", rng.integers(0, 256, (10, 12), dtype=np.uint8))
    save(tmp_path / "b" / "2.png", rng.integers(0, 256, (20, 8), dtype=np.uint8))
    assert image_folder(tmp_path, size=8).images.shape == (2, 1, 8, 8)
    ds = image_folder(tmp_path, size=(6, 9), mode="RGB")
    assert ds.images.shape == (2, 3, 6, 9)
    expected = np.asarray(Image.open(tmp_path / "b" / "2.png").convert("RGB").resize((9, 6), Image.BILINEAR))
    np.testing.assert_array_equal(ds.images[1], expected.transpose(2, 0, 1))


def test_sizes_differ(tmp_path, rng):
    save(tmp_path / "a" / "1.png", rng.integers(0, 256, (10, 12), dtype=np.uint8))
    save(tmp_path / "b" / "2.png", rng.integers(0, 256, (20, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"image_folder: images differ in size: a/1.png is 10x12 \(HxW\) but b/2.png is 20x8; pass size=\(H, W\)"):
        image_folder(tmp_path)


def test_errors(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match="image_folder: folder .* does not exist"):
        image_folder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="has no class sub-folders"):
        image_folder(tmp_path)
    save(tmp_path / "a" / "1.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.txt").write_text("")
    with pytest.raises(FileNotFoundError, match="class folder 'b' in .* has no image files"):
        image_folder(tmp_path)
    (tmp_path / "b" / "broken.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match="image_folder: cannot decode b/broken.jpg"):
        image_folder(tmp_path)
    with pytest.raises(ValueError, match="image_folder: mode must be 'L' or 'RGB', got 'CMYK'"):
        image_folder(tmp_path, mode="CMYK")
    with pytest.raises(ValueError, match="image_folder: size must be >= 1"):
        image_folder(tmp_path, size=0)


def test_pillow_missing(tmp_path, monkeypatch, rng):
    save(tmp_path / "a" / "1.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `from PIL import ...` fail
    with pytest.raises(ImportError, match=r"image_folder needs Pillow to decode images: pip install 'convnp\[image\]'"):
        image_folder(tmp_path)


def test_load_image(tmp_path, rng):
    rgb = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    save(tmp_path / "one.png", rgb)
    np.testing.assert_array_equal(load_image(tmp_path / "one.png", mode="RGB"), rgb.transpose(2, 0, 1))
    assert load_image(tmp_path / "one.png", size=28).shape == (1, 28, 28)
    with pytest.raises(FileNotFoundError, match="load_image: image .*nope.png' does not exist"):
        load_image(tmp_path / "nope.png")


def png_header_only(path, width, height):
    """A 60-byte PNG that declares width x height grey pixels and holds none: Pillow reads the size."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side, message", [
    (10000, r"is 10000x10000 pixels \(100,000,000\); images of more than 89,478,485 pixels are refused before"
            r" decoding \(a decompression bomb guard\): scale it down first$"),
    (20000, r"has more than 178,956,970 pixels; images of more than 89,478,485 pixels are refused before"
            r" decoding \(a decompression bomb guard\): scale it down first$"),
])
def test_huge_image_is_refused_before_decoding_without_pillows_warning(tmp_path, side, message):
    bomb = png_header_only(tmp_path / "bomb.png", side, side)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=rf"^predict: {re.escape(str(bomb))} " + message):
            load_image(bomb, size=28, who="predict")
    assert caught == []                               # Pillow's DecompressionBombWarning is not printed
    ok = png_header_only(tmp_path / "ok.png", 9000, 9000)       # 81 million: under the limit, so decoded
    with pytest.raises(ValueError, match=r"predict: cannot decode .*ok.png"):   # (and found to hold no pixels)
        load_image(ok, size=28, who="predict")
