"""The small layers of convnp.onnx.layers that imported graphs use: gradients and index conversions."""
import math

import numpy as np
import pytest

from convnp import gradcheck, nn
from convnp.onnx.layers import Erf, OnnxIndices, Permute, PlaneIndices


def test_permute_and_erf_gradients():
    rng = np.random.default_rng(0)
    gradcheck.check_layer(Permute((0, 3, 1, 2)), rng.standard_normal((2, 3, 4, 5)), rng=rng)
    gradcheck.check_layer(Erf(), rng.standard_normal((3, 4)) * 2, rng=rng)


def test_erf_values():
    x = np.linspace(-5, 5, 41)
    np.testing.assert_allclose(Erf()(x), [math.erf(v) for v in x], rtol=1e-14, atol=1e-15)
    assert Erf()(x.astype(np.float32)).dtype == np.float32


def test_permute_refuses_bad_perms():
    with pytest.raises(ValueError, match=r"Permute: perm must order the axes 0..2, got \[0, 0, 1\]"):
        Permute((0, 0, 1))
    with pytest.raises(ValueError, match=r"expected an input with 3 axes, got shape \(2, 3\)"):
        Permute((0, 2, 1))(np.zeros((2, 3)))


def test_index_conversions_invert_each_other():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 4))
    y, indices = nn.MaxPool2d(2, return_indices=True)(x)
    flat = OnnxIndices()(indices, x)
    np.testing.assert_array_equal(x.ravel()[flat], y)                  # ONNX's: flat over (N, C, H, W)
    np.testing.assert_array_equal(PlaneIndices()(flat, (6, 4)), indices)
    wider = PlaneIndices()(flat, (6, 4), 5)                             # the same positions in a 6 x 5 plane
    np.testing.assert_array_equal(wider // 5 * 4 + wider % 5, indices)
    with pytest.raises(TypeError, match="expected integer indices"):
        PlaneIndices()(flat.astype(np.float32), (6, 4))
