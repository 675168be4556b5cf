"""MaxPool2d(dilation, return_indices), MaxUnpool2d, AdaptiveMaxPool2d and AdaptiveAvgPool2d of any size.

Oracles: PyTorch (outputs, int64 indices, input gradients) over random configurations,
float64 numerical gradients (on inputs without ties), and the layer protocol for a layer with
two outputs (backward(dy, None)) or two inputs (backward -> (dx, None)).
"""
import numpy as np
import pytest
from conftest import assert_matches, torch_parity

from convnp import functional as F
from convnp import nn
from convnp.gradcheck import check_function, check_layer


def distinct(shape, rng):
    """Values 0.01 apart in random order: no ties, so max pooling is differentiable at x."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1.0


def random_max_pool(seed):
    """MaxPool2d arguments PyTorch accepts, with dilation and ceil_mode, and an input shape."""
    rng = np.random.default_rng(seed)
    while True:
        kernel = tuple(int(k) for k in rng.integers(1, 4, size=2))
        stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
        dilation = tuple(int(d) for d in rng.integers(1, 4, size=2))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        ceil_mode = bool(rng.integers(2))
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 3)), *(int(s) for s in rng.integers(1, 10, size=2)))
        sizes = [F.pool_output_size(n, k, s, p, ceil_mode, d)
                 for n, k, s, p, d in zip(shape[2:], kernel, stride, padding, dilation)]
        kwargs = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
        # every window must hold a real element (else -inf, which PyTorch also gives, but no index to compare)
        if min(sizes) >= 1 and np.isfinite(F.max_pool2d_forward(np.zeros(shape), **kwargs)[0]).all():
            return kwargs, shape


# -- MaxPool2d with dilation and indices --------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("return_indices", [True, False])
@pytest.mark.parametrize("seed", range(30))
def test_max_pool_matches_torch(torch, seed, return_indices, dtype):
    kwargs, shape = random_max_pool(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    if seed % 3 == 0:
        x = np.round(x).astype(dtype)   # many ties: the first maximum must win
    layer = nn.MaxPool2d(**kwargs, return_indices=return_indices)
    out = torch_parity(layer, torch.nn.MaxPool2d(**kwargs, return_indices=return_indices), x, dtype=dtype, seed=seed)
    if return_indices:
        assert out[1].dtype == np.int64 and out[1].shape == out[0].shape
    assert layer.output_shape(shape) == ((out[0].shape,) * 2 if return_indices else out.shape)


def assert_nan_parity(torch, layer, torch_layer, x):
    """Outputs, indices and input gradient equal to PyTorch's, NaN where PyTorch has NaN."""
    (y, idx), tx = layer(x), torch.tensor(x, requires_grad=True)
    ty, t_idx = torch_layer(tx)
    dy = np.random.default_rng(0).standard_normal(y.shape)
    ty.backward(torch.tensor(dy))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(idx, t_idx.numpy())
    np.testing.assert_allclose(layer.backward(dy, None), tx.grad.numpy(), rtol=1e-12)


def test_max_pool_nan_with_indices_like_torch(torch):
    # With indices a NaN is the maximum (the last NaN of its window), as PyTorch's kernel decides
    x = np.arange(32.0).reshape(1, 2, 4, 4)
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = x[0, 1, 2, 2] = np.nan
    assert_nan_parity(torch, nn.MaxPool2d(3, 1, 1, return_indices=True),
                      torch.nn.MaxPool2d(3, 1, 1, return_indices=True), x)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2, dilation=2), dict(kernel_size=(2, 3), stride=1, padding=1,
                                                                          dilation=(2, 1), ceil_mode=True),
                                    dict(kernel_size=3, stride=2, padding=1, dilation=3)], ids=str)
def test_max_pool_gradcheck(kwargs):
    rng = np.random.default_rng(5)
    check_layer(nn.MaxPool2d(**kwargs), distinct((2, 2, 7, 8), rng), rng=rng)

    def with_indices(x):
        (y, _), cache = F.max_pool2d_forward(x, return_indices=True, **kwargs)
        return y, cache

    check_function(with_indices, F.max_pool2d_backward, [distinct((1, 2, 7, 6), rng)], rng=rng)


def test_indices_point_at_the_maxima():
    rng = np.random.default_rng(6)
    x = distinct((2, 3, 7, 9), rng)
    (y, idx), _ = F.max_pool2d_forward(x, 3, 2, 1, dilation=(1, 2), return_indices=True)
    np.testing.assert_array_equal(np.take_along_axis(x.reshape(2, 3, -1), idx.reshape(2, 3, -1), 2), y.reshape(2, 3, -1))


# -- MaxUnpool2d ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kernel, stride, padding, shape", [
    (2, None, 0, (2, 3, 6, 8)), (3, 2, 1, (1, 2, 7, 7)), ((2, 3), (1, 2), (1, 0), (2, 1, 5, 7)), (3, 1, 1, (1, 2, 4, 4)),
])
def test_max_unpool_matches_torch(torch, kernel, stride, padding, shape, dtype):
    rng = np.random.default_rng(7)
    (pooled, indices), _ = F.max_pool2d_forward(rng.standard_normal(shape).astype(dtype), kernel, stride, padding,
                                                return_indices=True)
    layer = nn.MaxUnpool2d(kernel, stride, padding)
    y = torch_parity(layer, torch.nn.MaxUnpool2d(kernel, stride, padding), pooled, indices, dtype=dtype)
    assert layer.output_shape(pooled.shape) == y.shape and y.dtype == dtype
    # with an explicit output size (the pooled input's own, when the default differs)
    t = torch.nn.functional.max_unpool2d(torch.tensor(pooled), torch.tensor(indices), kernel, stride, padding,
                                         output_size=shape[2:])
    assert_matches(layer(pooled, indices, output_size=shape), t.numpy(), dtype, "output_size")


def test_max_unpool_gradcheck_and_protocol():
    rng = np.random.default_rng(8)
    (pooled, indices), _ = F.max_pool2d_forward(rng.standard_normal((2, 2, 6, 4)), 2, return_indices=True)
    check_function(lambda x: F.max_unpool2d_forward(x, indices, 2), F.max_unpool2d_backward, [pooled], rng=rng)
    layer = nn.MaxUnpool2d(2)
    y = layer(pooled, indices)
    dx, d_indices = layer.backward(np.ones_like(y))
    assert d_indices is None and dx.shape == pooled.shape
    pool = nn.MaxPool2d(2, return_indices=True)
    y, idx = pool(rng.standard_normal((1, 1, 4, 4)))
    assert pool.backward(np.ones_like(y), None).shape == (1, 1, 4, 4)
    pool(rng.standard_normal((1, 1, 4, 4)))
    with pytest.raises(TypeError, match=r"MaxPool2d\(kernel_size=2, stride=2, return_indices=True\).backward: the"
                                        r" indices output has no gradient; pass None for it, got ndarray"):
        pool.backward(np.ones_like(y), np.ones_like(idx))


def test_max_unpool_errors():
    x, idx = np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), dtype=np.int64)
    layer = nn.MaxUnpool2d(2)
    with pytest.raises(ValueError, match=r"^MaxUnpool2d\(kernel_size=2, stride=2\): index 16 is outside the output of"
                                         r" size 4x4$"):
        layer(x, idx + 16)
    with pytest.raises(ValueError, match=r"expected indices of the input's shape \(1, 1, 2, 2\), got \(1, 1, 2, 1\)"):
        layer(x, idx[..., :1])
    with pytest.raises(TypeError, match=r"MaxUnpool2d\(kernel_size=2, stride=2\): indices must be an integer array,"
                                        r" got float64"):
        layer(x, x)
    with pytest.raises(ValueError, match=r"invalid output_size \(6, 4\): dimension 0 must be between 2 and 6 \(exclusive\)"):
        layer(x, idx, output_size=(6, 4))


# -- adaptive pooling ---------------------------------------------------------------------------------


ADAPTIVE_SIZES = [1, (2, 3), (5, 2), (7, 9), (None, 2), (3, None), (4, 1)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("output_size", ADAPTIVE_SIZES, ids=str)
@pytest.mark.parametrize("shape", [(2, 3, 7, 5), (1, 2, 3, 4), (1, 1, 1, 6)])
def test_adaptive_max_pool_matches_torch(torch, shape, output_size, dtype):
    rng = np.random.default_rng(9)
    x = rng.standard_normal(shape).astype(dtype)
    if shape[2] == 3:
        x = np.round(x).astype(dtype)   # ties
    for return_indices in (False, True):
        layer = nn.AdaptiveMaxPool2d(output_size, return_indices)
        out = torch_parity(layer, torch.nn.AdaptiveMaxPool2d(output_size, return_indices), x, dtype=dtype)
        y = out[0] if return_indices else out
        assert layer.output_shape(shape) == ((y.shape,) * 2 if return_indices else y.shape)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("output_size", ADAPTIVE_SIZES, ids=str)
def test_adaptive_avg_pool_any_size_matches_torch(torch, output_size, dtype):
    x = np.random.default_rng(10).standard_normal((2, 2, 5, 3)).astype(dtype)
    layer = nn.AdaptiveAvgPool2d(output_size)
    y = torch_parity(layer, torch.nn.AdaptiveAvgPool2d(output_size), x, dtype=dtype)
    assert layer.output_shape(x.shape) == y.shape


@pytest.mark.parametrize("output_size", [(2, 3), (4, 7), (None, 2)], ids=str)
def test_adaptive_gradcheck(output_size):
    rng = np.random.default_rng(11)
    check_layer(nn.AdaptiveMaxPool2d(output_size), distinct((2, 2, 5, 4), rng), rng=rng)
    check_layer(nn.AdaptiveAvgPool2d(output_size), rng.standard_normal((1, 2, 3, 5)), rng=rng)


def test_adaptive_nan_like_torch(torch):
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    x[0, 0, 1, 1] = x[0, 0, 2, 0] = np.nan
    assert_nan_parity(torch, nn.AdaptiveMaxPool2d(2, return_indices=True),
                      torch.nn.AdaptiveMaxPool2d(2, return_indices=True), x)


def test_adaptive_errors_and_repr():
    with pytest.raises(ValueError, match=r"AdaptiveMaxPool2d: output_size must be >= 1, got \(0, 0\)"):
        nn.AdaptiveMaxPool2d(0)
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool2d: output_size must be > 0, got -1"):
        nn.AdaptiveAvgPool2d((None, -1))
    with pytest.raises(TypeError, match=r"AdaptiveMaxPool2d: return_indices must be a bool, got 1"):
        nn.AdaptiveMaxPool2d(2, 1)
    assert repr(nn.AdaptiveMaxPool2d((None, 3), True)) == "AdaptiveMaxPool2d(output_size=(None, 3), return_indices=True)"
    assert repr(nn.MaxPool2d(3, dilation=2)) == "MaxPool2d(kernel_size=3, stride=3, dilation=2)"
    assert nn.MaxPool2d(**nn.MaxPool2d(3, 1, 1, 2, True, True).config()).config() == {
        "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2, "return_indices": True, "ceil_mode": True}
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=3, stride=3, dilation=3\): kernel_size \(3, 3\) with"
                                         r" dilation \(3, 3\) is larger than the padded input \(6, 6\)"):
        nn.MaxPool2d(3, dilation=3)(np.zeros((1, 1, 6, 6)))
