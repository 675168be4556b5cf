"""ONNX tensors read as NumPy arrays, never trusted: sizes checked before anything is allocated.

A TensorProto declares its shape (``dims``) and keeps its numbers in ``raw_data``, in a typed
field (``float_data``, ``int64_data``, ...) or in a separate file (external data). Before an
array is made, the declared size is checked against what can hold it: the model file's size for
data inside it, the external file's size for data outside it; the data found must then have
exactly the declared length. External data must lie in the model file's folder (or below it):
an absolute path, "..", or a link leading out of the folder is refused.
"""
import math
import os

import numpy as np

# TensorProto.DataType -> (NumPy dtype, the typed field that may hold the numbers)
DTYPES = {1: (np.float32, "float_data"), 11: (np.float64, "double_data"), 7: (np.int64, "int64_data"),
          6: (np.int32, "int32_data"), 3: (np.int8, "int32_data"), 2: (np.uint8, "int32_data"),
          5: (np.int16, "int32_data"), 9: (np.bool_, "int32_data")}
MAX_RANK = 16


class TensorReader:
    """Reads the tensors of one model file; ``folder`` and ``file_size`` bound what they may hold."""

    def __init__(self, path, file_size):
        self.path = path
        self.folder = os.path.dirname(os.path.abspath(path))
        self.file_size = file_size

    def declared(self, t, where):
        """(dtype, shape, nbytes) of TensorProto ``t``, checked; ValueError naming ``where`` otherwise."""
        if t.data_type not in DTYPES:
            raise ValueError(f"{self.path}: {where} has ONNX data type {t.data_type}, which convnp does not read"
                             " (float32, float64 and integer tensors are read)")
        if len(t.dims) > MAX_RANK or any(d < 0 for d in t.dims):
            raise ValueError(f"{self.path}: {where} declares an invalid shape {list(t.dims)}")
        if t.HasField("segment"):
            raise ValueError(f"{self.path}: {where} is a segmented tensor, which convnp does not read")
        dtype = np.dtype(DTYPES[t.data_type][0])
        shape = tuple(int(d) for d in t.dims)
        nbytes = math.prod(shape) * dtype.itemsize
        limit, what = self._limit(t, where)
        if nbytes > limit:
            raise ValueError(f"{self.path}: {where} declares shape {list(shape)} ({nbytes:,} bytes), more than"
                             f" {what} holds ({limit:,} bytes): the file is damaged or not what it claims")
        return dtype, shape, nbytes

    def _limit(self, t, where):
        if t.data_location != 1:                    # DEFAULT: in the model file
            return self.file_size, "the whole model file"
        location, offset, _ = self._external(t, where)
        return max(os.path.getsize(location) - offset, 0), f"the external file {os.path.basename(location)!r}"

    def to_array(self, t, where):
        """The array of TensorProto ``t`` (a new NumPy array of the declared shape)."""
        dtype, shape, nbytes = self.declared(t, where)
        if t.data_location == 1:
            raw = self._read_external(t, nbytes, where)
        elif t.raw_data:
            raw = t.raw_data
        else:
            field = DTYPES[t.data_type][1]
            values = getattr(t, field)
            if len(values) != math.prod(shape):
                raise ValueError(f"{self.path}: {where} declares {math.prod(shape)} values, its {field} holds"
                                 f" {len(values)}")
            return np.array(values, dtype=dtype).reshape(shape)
        if len(raw) != nbytes:
            raise ValueError(f"{self.path}: {where} declares {nbytes:,} bytes of data, the file holds {len(raw):,}")
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)

    # -- external data -------------------------------------------------------------------------
    def _external(self, t, where):
        """(path, offset, length or None) of external data, the path inside the model's folder."""
        info = {e.key: e.value for e in t.external_data}
        location = info.get("location", "")
        parts = location.replace("\\", "/").split("/")
        if not location or os.path.isabs(location) or ".." in parts or ":" in location:
            raise ValueError(f"{self.path}: {where} refers to external data at {location!r}, outside the model"
                             " file's folder; only files in that folder (or below it) are read")
        full = os.path.realpath(os.path.join(self.folder, location))
        if os.path.commonpath([full, os.path.realpath(self.folder)]) != os.path.realpath(self.folder):
            raise ValueError(f"{self.path}: {where} refers to external data at {location!r}, which leads"
                             " outside the model file's folder")
        if not os.path.isfile(full):
            raise ValueError(f"{self.path}: {where} refers to external data {location!r}, which does not exist")
        try:
            offset = int(info.get("offset", 0))
            length = int(info["length"]) if "length" in info else None
        except ValueError:
            raise ValueError(f"{self.path}: {where} has a non-numeric external data offset or length") from None
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"{self.path}: {where} has a negative external data offset or length")
        return full, offset, length

    def _read_external(self, t, nbytes, where):
        location, offset, length = self._external(t, where)
        if length is not None and length != nbytes:
            raise ValueError(f"{self.path}: {where} declares {nbytes:,} bytes, its external data {length:,}")
        with open(location, "rb") as f:
            f.seek(offset)
            return f.read(nbytes)
