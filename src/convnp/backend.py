"""The array module in use: NumPy, or CuPy when the arrays live on a GPU.

Every op asks its input which module to use (``xp = array_module(x)``), so the same
code runs on NumPy and on CuPy arrays. CuPy is never imported here unless it is
already loaded: a CPU-only user pays nothing for it.
"""
import sys

import numpy as np


def array_module(*arrays):
    """Return ``cupy`` if any of ``arrays`` is a CuPy array, else ``numpy``."""
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        return cupy.get_array_module(*arrays)
    return np


def to_numpy(x):
    """Return ``x`` as a NumPy array (copies from the GPU for CuPy arrays)."""
    if hasattr(x, "get") and array_module(x) is not np:
        return x.get()
    return np.asarray(x)
