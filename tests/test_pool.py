"""Pooling: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d and their functional ops."""
import numpy as np
import pytest
from conftest import assert_matches, to_numpy

from convnp import functional as F
from convnp import nn
from convnp.functional import adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward
from convnp.gradcheck import check_function, check_layer

pytestmark = pytest.mark.usefixtures("threads")  # every test on 1, 2 and 3 threads (conftest.py)

DTYPES = [np.float64, np.float32]


def random_config(rng):
    """A pooling configuration PyTorch accepts: (x shape, kernel, stride, padding, ceil_mode, count_include_pad)."""
    while True:
        kernel = tuple(int(k) for k in rng.integers(1, 5, size=2))
        stride = tuple(int(s) for s in rng.integers(1, 5, size=2))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        ceil_mode = bool(rng.integers(2))
        count_include_pad = bool(rng.integers(2))
        shape = (int(rng.choice([1, 2, 3])), int(rng.integers(1, 4)), *(int(s) for s in rng.integers(1, 10, size=2)))
        sizes = [F.pool_output_size(n, k, s, p, ceil_mode) for n, k, s, p in zip(shape[2:], kernel, stride, padding)]
        if min(sizes) >= 1:
            return shape, kernel, stride, padding, ceil_mode, count_include_pad


def distinct(shape, rng):
    """Values 0.01 apart in random order: no ties, so max pooling is differentiable at x."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1.0


# -- output size --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "size, k, s, p, ceil, expected",
    [
        (28, 2, 2, 0, False, 14),
        (7, 2, 2, 0, False, 3),
        (7, 2, 2, 0, True, 4),
        (5, 3, 2, 1, True, 3),
        (5, 2, 2, 1, True, 3),     # ceil would give 4, but that window would start at 6 = H + P: dropped
        (3, 4, 2, 0, True, 1),     # ceil mode: a kernel larger than the input still gives one window
        (3, 4, 2, 0, False, 0),
    ],
)
def test_pool_output_size(size, k, s, p, ceil, expected):
    assert F.pool_output_size(size, k, s, p, ceil) == expected


def test_pool_output_size_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    for _ in range(200):
        shape, k, s, p, ceil, _ = random_config(rng)
        y = torch.nn.functional.max_pool2d(torch.zeros(shape), k, s, p, ceil_mode=ceil)
        ours = tuple(F.pool_output_size(n, kk, ss, pp, ceil) for n, kk, ss, pp in zip(shape[2:], k, s, p))
        assert ours == tuple(y.shape[2:])


# -- PyTorch parity -------------------------------------------------------------------------
def _torch_pool(torch, kind, x, dy, k, s, p, ceil, cip):
    xt = torch.tensor(x, requires_grad=True)
    if kind == "max":
        yt = torch.nn.functional.max_pool2d(xt, k, s, p, ceil_mode=ceil)
    else:
        yt = torch.nn.functional.avg_pool2d(xt, k, s, p, ceil_mode=ceil, count_include_pad=cip)
    yt.backward(torch.tensor(dy))
    return to_numpy(yt), to_numpy(xt.grad)


def _ours_pool(kind, x, k, s, p, ceil, cip, rng):
    """Our forward and backward, with a random upstream gradient: (y, dy, dx)."""
    if kind == "max":
        y, cache = F.max_pool2d_forward(x, k, s, p, ceil_mode=ceil)
        backward = F.max_pool2d_backward
    else:
        y, cache = F.avg_pool2d_forward(x, k, s, p, ceil, cip)
        backward = F.avg_pool2d_backward
    dy = rng.standard_normal(y.shape).astype(x.dtype)
    return y, dy, backward(dy, cache)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("seed", range(6))
def test_matches_torch_random_configs(seed, kind, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    for trial in range(30):
        shape, k, s, p, ceil, cip = random_config(rng)
        x = rng.standard_normal(shape).astype(dtype)
        if kind == "max" and trial % 3 == 0:
            x = np.round(x * 2).astype(dtype)          # many ties: the first maximum must win
        y, dy, dx = _ours_pool(kind, x, k, s, p, ceil, cip, rng)
        yt, dxt = _torch_pool(torch, kind, x, dy, k, s, p, ceil, cip)
        what = f"{kind} {shape} k={k} s={s} p={p} ceil={ceil} cip={cip}"
        assert y.dtype == dtype and dx.dtype == dtype, what
        assert_matches(y, yt, dtype, what + " forward")
        assert_matches(dx, dxt, dtype, what + " backward")


EDGE_CONFIGS = [
    # shape, kernel, stride, padding, ceil_mode, count_include_pad
    ((1, 1, 7, 7), 2, 2, 0, False, True),            # odd size: last row/column dropped
    ((2, 3, 7, 5), 2, 2, 0, True, True),             # ceil: partial windows at the end
    ((1, 2, 5, 5), 2, 2, 1, True, False),            # the ceil window that would start in padding is dropped
    ((2, 1, 5, 8), 3, 2, 1, True, True),             # ceil window runs past the padded input
    ((2, 1, 5, 8), 3, 2, 1, True, False),
    ((1, 1, 3, 3), 4, 2, 0, True, True),             # kernel larger than the input, allowed in ceil mode
    ((1, 1, 3, 3), 4, 2, 1, True, False),
    ((2, 2, 6, 9), (2, 3), (1, 2), (1, 0), False, False),   # non-square everything, overlapping rows
    ((1, 3, 5, 5), 1, 1, 0, False, True),            # kernel 1
    ((1, 3, 9, 9), 2, 3, 0, False, True),            # stride > kernel: gaps
    ((2, 2, 6, 6), 3, 1, 1, False, True),            # heavy overlap (3x3, stride 1, same padding)
    ((2, 2, 6, 6), 3, 1, 1, False, False),
    ((1, 1, 1, 1), 1, 1, 0, False, True),
    ((1, 1, 2, 9), (2, 4), (1, 3), (1, 2), True, False),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("config", EDGE_CONFIGS, ids=str)
def test_matches_torch_edge_cases(config, kind, dtype):
    torch = pytest.importorskip("torch")
    shape, k, s, p, ceil, cip = config
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    y, dy, dx = _ours_pool(kind, x, k, s, p, ceil, cip, rng)
    yt, dxt = _torch_pool(torch, kind, x, dy, k, s, p, ceil, cip)
    assert_matches(y, yt, dtype, "forward")
    assert_matches(dx, dxt, dtype, "backward")


@pytest.mark.parametrize("config", [
    ((2, 2, 4, 4), 2, 2, 0, False),
    ((1, 2, 5, 7), 3, 1, 1, False),        # overlapping windows share tied elements
    ((1, 1, 5, 5), 3, 2, 1, True),
    ((1, 1, 6, 4), (3, 2), (2, 1), (1, 1), True),
])
@pytest.mark.parametrize("value", [0.0, 1.5, -2.0])
def test_max_pool_ties_like_torch(config, value):
    """A constant input ties everywhere: PyTorch sends each gradient to the first element of its window."""
    torch = pytest.importorskip("torch")
    shape, k, s, p, ceil = config
    x = np.full(shape, value)
    y, cache = F.max_pool2d_forward(x, k, s, p, ceil_mode=ceil)
    dy = np.random.default_rng(0).standard_normal(y.shape)
    dx = F.max_pool2d_backward(dy, cache)
    yt, dxt = _torch_pool(torch, "max", x, dy, k, s, p, ceil, True)
    np.testing.assert_array_equal(y, yt)
    assert_matches(dx, dxt, np.float64, "ties")


def test_max_pool_ties_first_in_row_major_order():
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])
    y, cache = F.max_pool2d_forward(x, 2)
    dx = F.max_pool2d_backward(np.array([[[[5.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0.0, 5.0], [0.0, 0.0]]]])


def test_max_pool_overlapping_windows_accumulate():
    # 3 at the centre is the maximum of all four 2x2 windows (stride 1): it gets all four gradients
    x = np.array([[[[0.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 0.0]]]])
    y, cache = F.max_pool2d_forward(x, 2, stride=1)
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 2), 3.0))
    dx = F.max_pool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 10.0
    np.testing.assert_array_equal(dx, expected)


def test_max_pool_propagates_nan():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    y, _ = F.max_pool2d_forward(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 0, 1]) and not np.isnan(y[0, 0, 1]).any()


def test_padding_never_wins_max():
    # all inputs negative: the -inf padding must never be the maximum (zero padding would be)
    x = -1.0 - np.random.default_rng(0).random((1, 1, 4, 4))
    y, cache = F.max_pool2d_forward(x, 3, 2, 1)
    assert (y < -1.0).all()
    dx = F.max_pool2d_backward(np.ones_like(y), cache)
    assert dx.sum() == y.size


def test_common_case_matches_reshape_reference():
    """2x2, stride 2, no padding: equal to the reshape-to-(N, C, H/2, 2, W/2, 2) reference."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 8, 10)).astype(np.float32)
    windows = x.reshape(3, 4, 4, 2, 5, 2)
    y_max, _ = F.max_pool2d_forward(x, 2)
    y_avg, cache = F.avg_pool2d_forward(x, 2)
    np.testing.assert_array_equal(y_max, windows.max(axis=(3, 5)))
    np.testing.assert_allclose(y_avg, windows.mean(axis=(3, 5)), rtol=1e-6, atol=1e-7)   # float32 sums
    dy = rng.standard_normal(y_avg.shape).astype(np.float32)
    dx = F.avg_pool2d_backward(dy, cache)
    np.testing.assert_array_equal(dx, np.repeat(np.repeat(dy / 4, 2, axis=2), 2, axis=3))


def avg_pool_loops(x, k, s, p, ceil, cip):
    """Average pooling one window at a time, PyTorch's divisor rule written out (a slow reference)."""
    n, c, h, w = x.shape
    ho, wo = (F.pool_output_size(size, k, s, p, ceil) for size in (h, w))
    y = np.zeros((n, c, ho, wo))
    for oh in range(ho):
        for ow in range(wo):
            r0, c0 = oh * s - p, ow * s - p
            r1, c1 = min(r0 + k, h + p), min(c0 + k, w + p)       # clipped to the padded input
            real = x[:, :, max(r0, 0):min(r1, h), max(c0, 0):min(c1, w)]
            divisor = (r1 - r0) * (c1 - c0) if cip else real.shape[2] * real.shape[3]
            y[:, :, oh, ow] = real.sum(axis=(2, 3)) / divisor
    return y


@pytest.mark.parametrize("shape", [(1, 2, 4, 4), (2, 1, 3, 3), (1, 1, 5, 6), (1, 1, 2, 7)])
@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1), (3, 3, 1), (2, 1, 1), (4, 3, 2)])
@pytest.mark.parametrize("ceil", [False, True])
@pytest.mark.parametrize("cip", [False, True])
def test_avg_pool_matches_loop_reference(shape, k, s, p, ceil, cip):
    if min(F.pool_output_size(n, k, s, p, ceil) for n in shape[2:]) < 1:
        pytest.skip("no window fits")
    x = np.random.default_rng(12).standard_normal(shape)
    y, _ = F.avg_pool2d_forward(x, k, s, p, ceil, cip)
    np.testing.assert_allclose(y, avg_pool_loops(x, k, s, p, ceil, cip), rtol=1e-12, atol=1e-15)


def test_avg_divisor_example_with_ceil_and_padding():
    # H = 3, K = 3, S = 2, P = 1, ceil: windows start at -1 and 1; the second spans rows 1..3,
    # clipped to the padded end H + P = 4 -> rows 1, 2, 3: 3 rows, of which 2 are real.
    x = np.ones((1, 1, 3, 1))
    y, _ = F.avg_pool2d_forward(x, (3, 1), (2, 1), (1, 0), True, True)
    np.testing.assert_allclose(y[0, 0, :, 0], [2 / 3, 2 / 3])
    y, _ = F.avg_pool2d_forward(x, (3, 1), (2, 1), (1, 0), True, False)
    np.testing.assert_allclose(y[0, 0, :, 0], [1.0, 1.0])


# -- gradient checks (float64) --------------------------------------------------------------------
GRAD_CONFIGS = [
    ((2, 2, 4, 6), 2, 2, 0, False, True),
    ((1, 2, 5, 5), 3, 1, 1, False, False),     # overlapping
    ((2, 1, 5, 7), 3, 2, 1, True, True),       # ceil + padding
    ((1, 2, 5, 6), 3, 2, 1, True, False),
    ((1, 1, 6, 5), (2, 3), (3, 1), (1, 0), False, True),
]


@pytest.mark.parametrize("config", GRAD_CONFIGS, ids=str)
def test_max_pool_gradcheck(config):
    shape, k, s, p, ceil, _ = config
    rng = np.random.default_rng(5)
    check_function(lambda x: F.max_pool2d_forward(x, k, s, p, ceil_mode=ceil), F.max_pool2d_backward,
                   [distinct(shape, rng)], rng=rng)
    check_layer(nn.MaxPool2d(k, s, p, ceil_mode=ceil), distinct(shape, rng), rng=rng)


@pytest.mark.parametrize("config", GRAD_CONFIGS, ids=str)
def test_avg_pool_gradcheck(config):
    shape, k, s, p, ceil, cip = config
    rng = np.random.default_rng(6)
    check_function(lambda x: F.avg_pool2d_forward(x, k, s, p, ceil, cip), F.avg_pool2d_backward,
                   [rng.standard_normal(shape)], rng=rng)
    check_layer(nn.AvgPool2d(k, s, p, ceil, cip), rng.standard_normal(shape), rng=rng)


def test_global_avg_pool_gradcheck():
    rng = np.random.default_rng(7)
    check_function(F.global_avg_pool2d_forward, F.global_avg_pool2d_backward, [rng.standard_normal((2, 3, 4, 5))],
                   rng=rng)
    check_layer(nn.AdaptiveAvgPool2d(1), rng.standard_normal((2, 3, 3, 4)), rng=rng)


@pytest.mark.parametrize("size", [(2, 3), (3, 3), (5, 2)])
def test_adaptive_avg_pool_gradcheck(size):
    rng = np.random.default_rng(8)
    check_function(lambda x: adaptive_avg_pool2d_forward(x, size), adaptive_avg_pool2d_backward,
                   [rng.standard_normal((2, 2, 5, 7))], rng=rng)
    check_layer(nn.AdaptiveAvgPool2d(size), rng.standard_normal((1, 2, 4, 6)), rng=rng)


# -- global and adaptive average pooling vs PyTorch --------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output_size", [1, (1, 1), 2, (3, 2), (4, 7), (9, 1)])
@pytest.mark.parametrize("shape", [(2, 3, 7, 5), (1, 2, 4, 4), (3, 1, 1, 6)])
def test_adaptive_avg_pool_matches_torch(shape, output_size, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    x = rng.standard_normal(shape).astype(dtype)
    layer = nn.AdaptiveAvgPool2d(output_size)
    y = layer(x)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.AdaptiveAvgPool2d(output_size)(xt)
    yt.backward(torch.tensor(dy))
    assert y.dtype == dtype and dx.dtype == dtype
    assert layer.output_shape(shape) == y.shape
    assert_matches(y, to_numpy(yt), dtype, "forward")
    assert_matches(dx, to_numpy(xt.grad), dtype, "backward")


# -- layers ------------------------------------------------------------------------------------
def test_repr_like_torch():
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2)"
    assert repr(nn.MaxPool2d(3, 1, 1, ceil_mode=True)) == "MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True)"
    assert repr(nn.AvgPool2d((2, 3), count_include_pad=False)) == (
        "AvgPool2d(kernel_size=(2, 3), stride=(2, 3), count_include_pad=False)")
    assert repr(nn.AdaptiveAvgPool2d(1)) == "AdaptiveAvgPool2d(output_size=1)"


@pytest.mark.parametrize("layer", [
    nn.MaxPool2d(2), nn.MaxPool2d((3, 2), (1, 2), (1, 0), ceil_mode=True), nn.AvgPool2d(3, 2, 1, True, False),
    nn.AdaptiveAvgPool2d((2, 3)),
], ids=repr)
def test_config_rebuilds_layer(layer):
    clone = type(layer)(**layer.config())
    assert repr(clone) == repr(layer) and clone.config() == layer.config()


@pytest.mark.parametrize("layer", [
    nn.MaxPool2d(2), nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.AvgPool2d((2, 3), 1, (1, 0)),
    nn.AvgPool2d(3, 2, 1, True, False), nn.AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool2d((2, 4)),
], ids=repr)
@pytest.mark.parametrize("shape", [(2, 3, 9, 8), (1, 1, 5, 4)])
def test_output_shape_agrees_with_forward(layer, shape):
    y = layer(np.zeros(shape, dtype=np.float32))
    assert layer.output_shape(shape) == y.shape
    assert layer.output_shape((None, *shape[1:])) == (None, *y.shape[1:])
    assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32


def test_layers_match_functional():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    np.testing.assert_array_equal(nn.MaxPool2d(3, 2, 1, ceil_mode=True)(x),
                                  F.max_pool2d_forward(x, 3, 2, 1, ceil_mode=True)[0])
    np.testing.assert_array_equal(nn.AvgPool2d(2, 1, 1, False, False)(x),
                                  F.avg_pool2d_forward(x, 2, 1, 1, False, False)[0])


@pytest.mark.parametrize("make", [lambda: nn.MaxPool2d(2), lambda: nn.AvgPool2d(2), lambda: nn.AdaptiveAvgPool2d(1)])
def test_backward_before_forward(make):
    layer = make()
    with pytest.raises(RuntimeError, match=rf"{type(layer).__name__}.backward\(\) called before forward\(\)"):
        layer.backward(np.zeros((1, 1, 1, 1)))


def test_errors_wrong_input():
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=2, stride=2\): expected input \(N, C, H, W\), got \(3, 8, 8\)"):
        nn.MaxPool2d(2)(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match=r"AvgPool2d\(kernel_size=2, stride=2\): expected input \(N, C, H, W\), got \(8, 8\)"):
        nn.AvgPool2d(2).output_shape((8, 8))
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool2d\(output_size=1\): expected input \(N, C, H, W\), got \(2, 8\)"):
        nn.AdaptiveAvgPool2d(1)(np.zeros((2, 8)))
    with pytest.raises(TypeError, match=r"MaxPool2d\(kernel_size=2, stride=2\): expected a floating-point array .* got dtype int64"):
        nn.MaxPool2d(2)(np.zeros((1, 1, 4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"max_pool2d: expected input \(N, C, H, W\) with H, W >= 1, got \(1, 1, 0, 4\)"):
        F.max_pool2d_forward(np.zeros((1, 1, 0, 4)), 1)


def test_error_kernel_larger_than_padded_input():
    msg = (r"MaxPool2d\(kernel_size=5, stride=5\): kernel_size \(5, 5\) is larger than the padded input \(3, 3\)"
           r" \(input \(1, 1, 3, 3\), padding \(0, 0\)\)")
    with pytest.raises(ValueError, match=msg):
        nn.MaxPool2d(5)(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"kernel_size \(4, 4\) is larger than the padded input \(3, 4\)"):
        nn.AvgPool2d(4, padding=1).output_shape((None, 3, 1, 2))
    with pytest.raises(ValueError, match=r"avg_pool2d: kernel_size \(3, 3\) is larger than the padded input \(2, 2\)"):
        F.avg_pool2d_forward(np.zeros((1, 1, 2, 2)), 3)


def test_errors_bad_arguments():
    with pytest.raises(ValueError, match=r"MaxPool2d: padding must be at most half of kernel_size, got padding \(2, 2\) with kernel_size \(3, 3\)"):
        nn.MaxPool2d(3, padding=2)
    with pytest.raises(ValueError, match=r"AvgPool2d: padding must be at most half of kernel_size, got padding \(0, 2\) with kernel_size \(3, 3\)"):
        nn.AvgPool2d(3, padding=(0, 2))
    with pytest.raises(ValueError, match=r"MaxPool2d: kernel_size must be >= 1, got \(0, 0\)"):
        nn.MaxPool2d(0)
    with pytest.raises(ValueError, match=r"AvgPool2d: stride must be >= 1, got \(2, -1\)"):
        nn.AvgPool2d(2, stride=(2, -1))
    with pytest.raises(ValueError, match=r"MaxPool2d: padding must be >= 0, got \(-1, -1\)"):
        nn.MaxPool2d(2, padding=-1)
    with pytest.raises(TypeError, match=r"MaxPool2d: kernel_size must be an int or a pair of ints, got 2.5"):
        nn.MaxPool2d(2.5)
    with pytest.raises(TypeError, match=r"MaxPool2d: ceil_mode must be a bool, got 1"):
        nn.MaxPool2d(2, ceil_mode=1)
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool2d: output_size must be >= 1, got \(0, 0\)"):
        nn.AdaptiveAvgPool2d(0)
    with pytest.raises(ValueError, match=r"avg_pool2d: padding must be at most half"):
        F.avg_pool2d_forward(np.zeros((1, 1, 4, 4)), 2, 1, 2)


def test_sequential_with_pooling_backward_shapes():
    model = nn.Sequential(nn.MaxPool2d(2), nn.AvgPool2d(3, 1, 1), nn.AdaptiveAvgPool2d(1))
    x = np.random.default_rng(11).standard_normal((2, 3, 8, 8)).astype(np.float32)
    y = model(x)
    assert y.shape == model.output_shape(x.shape) == (2, 3, 1, 1)
    dx = model.backward(np.ones_like(y))
    assert dx.shape == x.shape and dx.dtype == np.float32
