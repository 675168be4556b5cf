"""Image files on disk: ``image_folder`` (one sub-folder per class) and ``load_image``.

Pillow does the decoding; it is imported inside the functions, so convnp itself does not
need it (``pip install convnp[image]`` adds it).
"""
import os
import warnings
from pathlib import Path

import numpy as np

from .. import checks
from .dataset import Dataset

# the extensions torchvision's ImageFolder accepts, compared in lower case
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_MODES = {"L": 1, "RGB": 3}


def image_folder(root, size=None, mode="L"):
    """Images in ``root/<class>/<image>`` as a Dataset, like torchvision's ImageFolder.

    Classes are the sub-folder names, sorted; label k is ``classes[k]``. Files are taken in
    sorted order (sub-folders of a class folder included); files without an image extension
    (``IMAGE_EXTENSIONS``, any case) are skipped.

    Args:
        root: the folder holding one sub-folder per class.
        size: None (every image must already have the same size), an int (square), or
            (H, W): every image is resized to exactly this size (bilinear; the aspect ratio
            is not kept).
        mode: "L" (grey, C = 1) or "RGB" (C = 3); images are converted to it.

    Returns: a Dataset named after the folder, images (N, C, H, W) uint8.

    Raises:
        ImportError: Pillow is not installed.
        FileNotFoundError: ``root`` is missing, has no class folders, or a class has no image.
        ValueError: bad ``mode``, an image Pillow cannot decode (the message names it), or
            images of different sizes with ``size=None``.
    """
    who = "image_folder"
    mode = _check_mode(mode, who)
    size = None if size is None else checks.pair(size, "size", who)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{who}: folder {str(root)!r} does not exist")
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"{who}: {root} has no class sub-folders (expected root/<class>/<image>)")
    paths, labels = [], []
    for label, name in enumerate(classes):
        found = _image_files(root / name)
        if not found:
            raise FileNotFoundError(
                f"{who}: class folder {name!r} in {root} has no image files ({', '.join(IMAGE_EXTENSIONS)})"
            )
        paths += found
        labels += [label] * len(found)
    images = [load_image(p, size, mode, who=who, relative_to=root) for p in paths]
    _check_same_size(images, paths, root, who)
    return Dataset(np.stack(images), np.array(labels, dtype=np.int64), classes, root.name)


def load_image(path, size=None, mode="L", *, who="load_image", relative_to=None):
    """One image file as a uint8 array (C, H, W), converted to ``mode`` and resized to ``size``.

    Args: path; size None, int or (H, W) (exact size, bilinear); mode "L" or "RGB".
    An image of more than MAX_PIXELS pixels is refused from its header, before it is decoded
    (a small file can hold a huge image: a decompression bomb).
    Raises: ImportError without Pillow; FileNotFoundError; ValueError if it cannot be decoded
    or is too large.
    """
    mode = _check_mode(mode, who)
    size = None if size is None else checks.pair(size, "size", who)
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImportError(f"{who} needs Pillow to decode images: pip install 'convnp[image]'") from None
    path = Path(path)
    shown = path.relative_to(relative_to) if relative_to is not None else path
    try:
        with _open(Image, path, shown, who) as im:
            pixels = image_pixels(im, size, mode)
    except FileNotFoundError:
        raise FileNotFoundError(f"{who}: image {str(path)!r} does not exist") from None
    except _TooLarge as e:
        raise ValueError(str(e)) from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ValueError(f"{who}: cannot decode {shown}: {e}") from None
    return pixels


def image_pixels(im, size=None, mode="L"):
    """An opened Pillow image as uint8 (C, H, W): converted to ``mode``, resized to ``size`` (H, W), bilinear.

    What ``load_image`` does once the file is open; convnp.serve applies it to uploads.
    """
    from PIL import Image

    im = im.convert(mode)
    if size is not None and im.size != (size[1], size[0]):
        im = im.resize((size[1], size[0]), Image.BILINEAR)  # Pillow sizes are (W, H)
    pixels = np.asarray(im, dtype=np.uint8)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


# Pillow's own default limit (Image.MAX_IMAGE_PIXELS: about 0.25 GB as 24-bit RGB), fixed here
# so that the guard holds whatever that global is set to.
MAX_PIXELS = 89_478_485


class _TooLarge(Exception):
    """An image refused for its size; load_image turns it into a ValueError."""


def _open(Image, path, shown, who):
    """Image.open(path), refusing an image of more than MAX_PIXELS pixels from its header."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)   # refused below, in our words
        try:
            im = Image.open(path)
        except Image.DecompressionBombError:   # past twice Pillow's limit: it gives no size
            raise _TooLarge(f"{who}: {shown} has more than {2 * MAX_PIXELS:,} pixels; {_REFUSED}") from None
    width, height = im.size
    if width * height > MAX_PIXELS:
        im.close()
        raise _TooLarge(f"{who}: {shown} is {width}x{height} pixels ({width * height:,}); {_REFUSED}")
    return im


_REFUSED = (f"images of more than {MAX_PIXELS:,} pixels are refused before decoding"
            " (a decompression bomb guard): scale it down first")


def _check_mode(mode, who):
    if mode not in _MODES:
        raise ValueError(f"{who}: mode must be 'L' or 'RGB', got {mode!r}")
    return mode


def _image_files(folder):
    """Image files under ``folder``, recursively, in torchvision's order (sorted walk, sorted names)."""
    files = []
    for where, _, names in sorted(os.walk(folder, followlinks=True)):
        files += [Path(where) / n for n in sorted(names) if n.lower().endswith(IMAGE_EXTENSIONS)]
    return files


def _check_same_size(images, paths, root, who):
    """Refuse images of different sizes (they cannot form one (N, C, H, W) array)."""
    first = images[0].shape[1:]
    for image, path in zip(images, paths):
        if image.shape[1:] != first:
            raise ValueError(
                f"{who}: images differ in size: {paths[0].relative_to(root)} is {first[0]}x{first[1]} (HxW)"
                f" but {path.relative_to(root)} is {image.shape[1]}x{image.shape[2]}; pass size=(H, W) to resize"
            )
