"""Shared test helpers: the PyTorch comparison tolerance and random data."""
import numpy as np
import pytest

try:  # PyTorch is a test-only reference; one thread keeps it from fighting OpenBLAS for the cores
    import torch

    torch.set_num_threads(1)
except ImportError:
    pass

# Max relative error (max |ours - torch| / max |torch|) allowed against PyTorch, per dtype.
TOLERANCE = {np.float64: 1e-9, np.float32: 1e-4}


def max_rel_error(ours, theirs):
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, f"shape {ours.shape} != reference {theirs.shape}"
    scale = max(float(np.max(np.abs(theirs))) if theirs.size else 0.0, 1e-12)
    return float(np.max(np.abs(ours - theirs))) / scale if ours.size else 0.0


def assert_matches(ours, theirs, dtype, what=""):
    """Assert ``ours`` equals the reference within the tolerance for ``dtype``."""
    err = max_rel_error(ours, theirs)
    tol = TOLERANCE[np.dtype(dtype).type]
    assert err <= tol, f"{what}: max relative error {err:.3g} > {tol:g}"


def to_numpy(t):
    """A torch tensor (or None) as a NumPy array."""
    return None if t is None else t.detach().cpu().numpy()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
