"""Request bodies as images: the bytes of an image file, or a JSON array of pixel values.

Either way the result is what ``convnp predict`` gives a model: uint8 pixels (C, H, W) of the
model's input shape, grayscale or RGB, resized bilinearly (``data.folder.image_pixels``, the
conversion ``data.load_image`` applies to files). Nothing is decoded before it is bounded: the
body's size is capped by the app, and an image's pixel count is read from its header and
checked before Pillow decodes a single pixel.
"""
import io
import json
import warnings

import numpy as np

from ..data.folder import image_pixels
from .errors import RequestError

MAX_PIXELS = 4096 * 4096          # width x height of an uploaded image, checked before decoding
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
INVERT = ("auto", "yes", "no")


def request_pixels(body, content_type, shape, max_pixels=MAX_PIXELS):
    """uint8 pixels (C, H, W) of ``shape`` from a request body; RequestError for a bad one."""
    if not body:
        raise RequestError(400, "empty body: send an image file (PNG, JPEG, GIF, BMP, WebP) or a JSON array"
                                " of pixel values")
    if content_type.split(";")[0].strip() == "application/json" or body.lstrip()[:1] == b"[":
        return json_pixels(body, shape)
    return image_file_pixels(body, shape, max_pixels)


def json_pixels(body, shape):
    """A JSON array of pixel values 0..255, shaped (H, W) (one channel), (C, H, W) or (1, C, H, W).

    The array must already have the model's size (it is not resized); values are rounded to
    whole pixel values.
    """
    c, h, w = shape
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as e:    # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RequestError(400, f"the body is not valid JSON: {e}") from None
    if not isinstance(value, list):
        raise RequestError(400, f"expected a JSON array of pixel values, got a JSON {type(value).__name__}")
    accepted = [(c, h, w), (1, c, h, w)] + ([(h, w)] if c == 1 else [])
    try:
        array = np.array(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise RequestError(400, f"expected a rectangular array of numbers of shape {_shapes(accepted)}") from None
    if array.shape not in accepted:
        raise RequestError(400, f"expected pixel values in an array of shape {_shapes(accepted)},"
                                f" got shape {array.shape}")
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 255:
        raise RequestError(400, "expected pixel values between 0 and 255")
    return np.rint(array).astype(np.uint8).reshape(c, h, w)


def _shapes(shapes):
    return " or ".join(str(s) for s in shapes)


def image_file_pixels(body, shape, max_pixels=MAX_PIXELS):
    """The bytes of an image file, converted and resized to ``shape`` (C, H, W) as uint8.

    The header is read first (Image.open decodes no pixels); more than ``max_pixels`` pixels
    is refused with 413 before decoding, so a small file that would expand to gigabytes (a
    decompression bomb) costs nothing.
    """
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(body), formats=FORMATS)
    except Image.DecompressionBombError as e:     # Pillow refuses twice its MAX_IMAGE_PIXELS in open()
        raise RequestError(413, f"the image is too large; at most {max_pixels} pixels are accepted ({e})") from None
    except Exception as e:      # Pillow raises many kinds of errors for bytes that are not an image
        raise RequestError(400, f"not an image (expected PNG, JPEG, GIF, BMP or WebP bytes, or a JSON array"
                                f" of pixel values): {e}") from None
    with im:
        width, height = im.size
        if width * height > max_pixels:
            raise RequestError(413, f"the image is {width}x{height} ({width * height} pixels);"
                                    f" at most {max_pixels} pixels are accepted")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                return image_pixels(im, shape[1:], "L" if shape[0] == 1 else "RGB")
        except Exception as e:  # truncated or corrupt data is found only while decoding
            raise RequestError(400, f"cannot decode the image: {e}") from None


def invert_for(pixels, invert, dark_background):
    """(pixels, inverted): 255 - pixels when ``invert`` is "yes", or "auto" for a model trained on
    light strokes on black (MNIST) given an image whose border is mostly light (ink on paper).
    """
    if invert not in INVERT:
        raise RequestError(400, f"invert must be one of {', '.join(INVERT)}, got {invert!r}")
    flip = invert == "yes" or (invert == "auto" and dark_background and border_mean(pixels) > 127.5)
    return (255 - pixels if flip else pixels), flip


def border_mean(pixels):
    """The mean of the outermost rows and columns of (C, H, W) pixels: the image's background."""
    edges = [pixels[:, 0, :], pixels[:, -1, :], pixels[:, :, 0], pixels[:, :, -1]]
    return float(np.mean(np.concatenate([e.ravel() for e in edges])))
