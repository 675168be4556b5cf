"""The IDX file format of MNIST and Fashion-MNIST, read with gzip and np.frombuffer.

Layout (all integers big-endian):
    bytes 0-1   0x00 0x00 (magic)
    byte  2     the element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     the number of dimensions, ndim
    4 * ndim    each dimension as an unsigned 32-bit int
    the rest    prod(dims) elements, row-major

A file is decompressed if it starts with the gzip magic (1f 8b), whatever its name, so
both ``train-images-idx3-ubyte.gz`` and the uncompressed ``train-images-idx3-ubyte`` work.
"""
import math
import zlib
from pathlib import Path

import numpy as np

IDX_TYPES = {
    0x08: ("unsigned byte", np.dtype(np.uint8)),
    0x09: ("signed byte", np.dtype(np.int8)),
    0x0B: ("int16", np.dtype(">i2")),
    0x0C: ("int32", np.dtype(">i4")),
    0x0D: ("float32", np.dtype(">f4")),
    0x0E: ("float64", np.dtype(">f8")),
}

_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path, who="read_idx", type_byte=None, ndim=None):
    """Read an IDX file (gzip-compressed or not) into a native-endian array of its shape.

    Args:
        path: the file.
        who: the name that starts error messages (e.g. "mnist").
        type_byte: if given, the required element type (0x08 for MNIST).
        ndim: if given, the required number of dimensions (3 for images, 1 for labels).

    Returns: an array of shape ``dims`` and the file's element type (native byte order).

    Raises:
        ValueError: not gzip or IDX, wrong magic, type byte or ndim, truncated, or extra bytes;
            the message names the file and says what was expected and what was found.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        data, complete = _gunzip(raw, path.name, who)
    else:
        data, complete = raw, True
    return parse_idx(data, path.name, who, type_byte, ndim, complete)


def parse_idx(data, name="IDX data", who="parse_idx", type_byte=None, ndim=None, complete=True):
    """Parse the bytes of an IDX file (see the module docstring); ``name`` is used in messages.

    ``complete=False`` says the bytes came from a gzip stream that ended early: the file is
    reported as truncated even when the header and payload sizes happen to agree.
    """
    if len(data) < 4:
        raise ValueError(f"{who}: {name} is truncated: expected at least a 4-byte IDX header, got {len(data)} bytes")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{who}: {name} is not an IDX file: bad magic number 0x{data[:4].hex()}"
            f" (expected 0x0000 then a type byte and the number of dimensions)"
        )
    code, n_dims = data[2], data[3]
    if code not in IDX_TYPES:
        raise ValueError(f"{who}: {name} has an unknown IDX type byte 0x{code:02X}")
    if type_byte is not None and code != type_byte:
        raise ValueError(
            f"{who}: {name} has type byte 0x{code:02X} ({IDX_TYPES[code][0]}),"
            f" expected 0x{type_byte:02X} ({IDX_TYPES[type_byte][0]})"
        )
    if ndim is not None and n_dims != ndim:
        raise ValueError(f"{who}: {name} has {n_dims} dimensions, expected {ndim}")
    if n_dims == 0:
        raise ValueError(f"{who}: {name} has 0 dimensions, expected at least 1")
    header = 4 + 4 * n_dims
    if len(data) < header:
        raise ValueError(f"{who}: {name} is truncated: expected a {header}-byte header, got {len(data)} bytes")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=n_dims, offset=4))
    dtype = IDX_TYPES[code][1]
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) < expected:
        raise ValueError(f"{who}: {name} is truncated: expected {expected} bytes, got {len(data)}")
    if len(data) > expected:
        raise ValueError(
            f"{who}: {name} has {len(data) - expected} bytes too many for its dimensions {dims}:"
            f" expected {expected} bytes, got {len(data)}"
        )
    if not complete:
        raise ValueError(f"{who}: {name} is truncated: the gzip stream ends before its end marker")
    # astype copies: the array owns writable memory in native byte order
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _gunzip(raw, name, who):
    """Decompress gzip bytes; returns (data, complete). A cut stream gives what it holds."""
    out = []
    complete = True
    rest = raw
    try:
        while rest:
            d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # 16+: expect a gzip header
            out.append(d.decompress(rest))
            out.append(d.flush())
            if not d.eof:
                complete = False
                break
            # a gzip file may hold several members back to back, and end in zero padding
            rest = d.unused_data.lstrip(b"\0")
            if rest and rest[:2] != _GZIP_MAGIC:
                raise ValueError(f"{who}: {name} has {len(rest)} bytes of garbage after its gzip stream")
    except zlib.error as e:
        raise ValueError(f"{who}: {name} is not a valid gzip file: {e}") from None
    return b"".join(out), complete
