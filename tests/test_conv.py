"""Conv2d and conv2d_forward/backward: gradient checks, PyTorch parity, shapes, errors, im2col."""
import numpy as np
import pytest

from conftest import assert_matches, to_numpy
from convnp import functional as F
from convnp import nn
from convnp.gradcheck import check_function, check_layer

pytestmark = pytest.mark.usefixtures("threads")  # every test on 1, 2 and 3 threads (conftest.py)

# -- numerical gradient checks (float64) ------------------------------------------------------

# (layer arguments, input shape); each check stays at a few hundred perturbed entries.
GRADCHECK_CASES = [
    (dict(in_channels=2, out_channels=3, kernel_size=3), (2, 2, 5, 5)),
    (dict(in_channels=2, out_channels=2, kernel_size=3, stride=2, padding=1), (2, 2, 6, 5)),
    (dict(in_channels=2, out_channels=3, kernel_size=(2, 3), padding=(1, 2)), (1, 2, 4, 6)),
    (dict(in_channels=2, out_channels=2, kernel_size=(2, 4), padding="same", dilation=(2, 1)), (2, 2, 5, 6)),
    (dict(in_channels=2, out_channels=2, kernel_size=3, padding="valid", dilation=2), (2, 2, 6, 7)),
    (dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, groups=2), (2, 4, 4, 4)),
    (dict(in_channels=3, out_channels=3, kernel_size=3, padding=1, groups=3), (2, 3, 4, 5)),  # depthwise
    (dict(in_channels=3, out_channels=6, kernel_size=(1, 3), groups=3), (1, 3, 3, 5)),  # depthwise, multiplier 2
    (dict(in_channels=2, out_channels=3, kernel_size=3, stride=(2, 1), bias=False), (2, 2, 7, 5)),
    (dict(in_channels=3, out_channels=4, kernel_size=1), (2, 3, 3, 4)),
    (dict(in_channels=2, out_channels=3, kernel_size=(3, 2), stride=(1, 2), dilation=(1, 2), padding=(2, 0)), (1, 2, 4, 7)),
]


@pytest.mark.parametrize("kwargs, shape", GRADCHECK_CASES)
def test_gradcheck_layer(kwargs, shape):
    layer = nn.Conv2d(**kwargs, rng=0).to(np.float64)
    x = np.random.default_rng(1).standard_normal(shape)
    errors = check_layer(layer, x, rng=2)
    assert set(errors) == {"input", "weight"} | ({"bias"} if kwargs.get("bias", True) else set())


def test_gradcheck_functional():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 4, 5, 4)), rng.standard_normal((4, 2, 2, 3)), rng.standard_normal(4)

    def forward(x, w, b):
        return F.conv2d_forward(x, w, b, stride=(1, 2), padding="valid", dilation=(2, 1), groups=2)

    assert len(check_function(forward, F.conv2d_backward, [x, w, b], rng=4)) == 3


# -- PyTorch parity ------------------------------------------------------------------------------


def random_config(seed):
    """A random valid Conv2d configuration and input shape, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 1, 2, 3]))
    c_in, c_out = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    kernel = tuple(int(k) for k in rng.integers(1, 5, size=2))
    # stride 1 often, so that 'same' (stride 1 only) comes up often too
    stride = (1, 1) if rng.random() < 0.4 else tuple(int(s) for s in rng.integers(1, 4, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    kind = rng.choice(["int", "pair", "valid", "same"] if stride == (1, 1) else ["int", "pair", "valid"])
    padding = {"int": int(rng.integers(0, 3)), "pair": [int(p) for p in rng.integers(0, 3, size=2)],
               "valid": "valid", "same": "same"}[kind]
    pad = {"int": (padding, padding), "pair": padding}.get(kind, (0, 0))  # 'same' fits any size
    reach = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    h, w = (max(1, r - 2 * p) + int(rng.integers(0, 6)) for r, p in zip(reach, pad))
    n = int(rng.integers(1, 4))
    kwargs = dict(in_channels=c_in, out_channels=c_out, kernel_size=kernel, stride=stride, padding=padding,
                  dilation=dilation, groups=groups, bias=bool(rng.random() < 0.8))
    return kwargs, (n, c_in, h, w)


def torch_conv(torch, layer, x, dy):
    """PyTorch's output and gradients (x, weight, bias) for ``layer``'s parameters and config."""
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.weight.data, requires_grad=True)
    tb = None if layer.bias is None else torch.tensor(layer.bias.data, requires_grad=True)
    padding = layer.padding if isinstance(layer.padding, (int, str)) else tuple(layer.padding)
    ty = torch.nn.functional.conv2d(tx, tw, tb, layer.stride, padding, layer.dilation, layer.groups)
    ty.backward(torch.tensor(dy))
    return to_numpy(ty), to_numpy(tx.grad), to_numpy(tw.grad), None if tb is None else to_numpy(tb.grad)


def assert_torch_parity(torch, layer, x, seed, dtype):
    y = layer(x)
    dy = np.random.default_rng(seed + 1000).standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)
    ty, tdx, tdw, tdb = torch_conv(torch, layer, x, dy)
    assert_matches(y, ty, dtype, "output")
    assert_matches(dx, tdx, dtype, "input gradient")
    assert_matches(layer.weight.grad, tdw, dtype, "weight gradient")
    if layer.bias is not None:
        assert_matches(layer.bias.grad, tdb, dtype, "bias gradient")


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # PyTorch notes that it copies the input
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(36))
def test_matches_torch_random_configs(torch, seed, dtype):
    kwargs, shape = random_config(seed)
    layer = nn.Conv2d(**kwargs, rng=seed).to(dtype)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    assert_torch_parity(torch, layer, x, seed, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_torch_benchmark_sized(torch, dtype):
    # Large enough that BLAS blocks the products and the batch spans many columns.
    layer = nn.Conv2d(16, 32, 3, padding=1, rng=0).to(dtype)
    x = np.random.default_rng(0).standard_normal((8, 16, 14, 14)).astype(dtype)
    assert_torch_parity(torch, layer, x, 0, dtype)


# -- dtypes, shapes, accumulation ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(dtype):
    layer = nn.Conv2d(3, 4, 3, padding=1, rng=0).to(dtype)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(dtype)
    y = layer(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == dtype


def test_default_weights_are_float32_with_pytorch_init():
    layer = nn.Conv2d(4, 6, (3, 2), groups=2, rng=0)
    assert layer.weight.shape == (6, 2, 3, 2) and layer.bias.shape == (6,)
    assert layer.weight.dtype == layer.bias.dtype == np.float32
    bound = 1 / np.sqrt(2 * 3 * 2)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert np.array_equal(layer.weight.data, nn.Conv2d(4, 6, (3, 2), groups=2, rng=0).weight.data)
    assert nn.Conv2d(4, 6, 3, bias=False).bias is None
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


@pytest.mark.parametrize("kwargs, shape", GRADCHECK_CASES + [
    (dict(in_channels=3, out_channels=5, kernel_size=5, stride=3, padding="valid"), (1, 3, 17, 12)),
])
def test_output_shape_matches_forward(kwargs, shape):
    layer = nn.Conv2d(**kwargs, rng=0)
    y = layer(np.zeros(shape, dtype=np.float32))
    assert layer.output_shape(shape) == y.shape
    assert layer.output_shape((None, *shape[1:])) == (None, *y.shape[1:])


def test_same_padding_keeps_size_and_pads_bottom_right():
    # Even kernel: total padding 1 goes to the bottom/right, so the output's top-left pixel
    # sees x[0, 0] at kernel offset (0, 0) (no zero row/column before it).
    layer = nn.Conv2d(1, 1, 2, padding="same", bias=False).to(np.float64)
    layer.weight.data[...] = [[[[1.0, 0.0], [0.0, 0.0]]]]
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    np.testing.assert_array_equal(layer(x), x)


def test_gradients_accumulate_and_zero_grad_resets():
    layer = nn.Conv2d(2, 3, 3, padding=1, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4)).astype(np.float32)
    dy = np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)
    layer(x)
    layer.backward(dy)
    once = {name: p.grad.copy() for name, p in layer.named_parameters()}
    layer(x)
    layer.backward(dy)
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[name], rtol=1e-6, atol=1e-6)
    layer.zero_grad()
    assert all(not p.grad.any() for p in layer.parameters())


def test_empty_batch():
    layer = nn.Conv2d(4, 6, 3, padding=1, groups=2)
    y = layer(np.zeros((0, 4, 5, 5), np.float32))
    assert y.shape == (0, 6, 5, 5)
    assert layer.backward(y).shape == (0, 4, 5, 5) and not layer.weight.grad.any()


def test_functional_without_bias_returns_none():
    x = np.ones((1, 2, 3, 3))
    y, cache = F.conv2d_forward(x, np.ones((4, 2, 2, 2)))
    assert y.shape == (1, 4, 2, 2) and np.all(y == 8.0)
    dx, dw, db = F.conv2d_backward(np.ones_like(y), cache)
    assert db is None and dx.shape == x.shape and dw.shape == (4, 2, 2, 2)


def test_conv_output_size():
    assert F.conv_output_size(28, 3, 1, 1) == 28
    assert F.conv_output_size(28, 3, 2, 1) == 14
    assert F.conv_output_size(7, 3, 1, 0, dilation=3) == 1
    assert F.conv_output_size(6, 4, 1, (1, 2)) == 6


# -- repr and config --------------------------------------------------------------------------------


def test_repr_and_config():
    assert repr(nn.Conv2d(3, 8, kernel_size=3)) == "Conv2d(3, 8, kernel_size=3)"
    assert repr(nn.Conv2d(3, 8, 3, stride=2, padding=1)) == "Conv2d(3, 8, kernel_size=3, stride=2, padding=1)"
    layer = nn.Conv2d(4, 8, (3, 5), padding="same", dilation=2, groups=4, bias=False)
    assert repr(layer) == "Conv2d(4, 8, kernel_size=(3, 5), padding='same', dilation=2, groups=4, bias=False)"
    assert nn.Conv2d(4, 8, 3, padding=(1, 2)).config() == {
        "in_channels": 4, "out_channels": 8, "kernel_size": 3, "stride": 1, "padding": [1, 2],
        "dilation": 1, "groups": 1, "bias": True, "padding_mode": "zeros",
    }
    assert repr(nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect")) == (
        "Conv2d(3, 8, kernel_size=3, padding=1, padding_mode='reflect')")
    rebuilt = nn.Conv2d(**layer.config())
    assert repr(rebuilt) == repr(layer) and rebuilt.weight.shape == layer.weight.shape


# -- error messages -------------------------------------------------------------------------------------


def test_wrong_input_channels_or_ndim():
    layer = nn.Conv2d(3, 8, kernel_size=3)
    with pytest.raises(ValueError, match=r"^Conv2d\(3, 8, kernel_size=3\): expected input \(N, 3, H, W\), got \(8, 1, 28, 28\)$"):
        layer(np.zeros((8, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"expected input \(N, 3, H, W\), got \(3, 28, 28\)"):
        layer(np.zeros((3, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"expected input \(N, 3, H, W\), got \(None, 1, 28, 28\)"):
        layer.output_shape((None, 1, 28, 28))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"padded input size \(4, 6\) is smaller than the effective kernel size \(5, 5\)"):
        nn.Conv2d(1, 1, 5, padding=(0, 1))(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"padded input size \(4, 4\) is smaller than the effective kernel size \(5, 3\)"
                                         r" \(kernel \(3, 3\) with dilation \(2, 1\)\)"):
        nn.Conv2d(1, 1, 3, dilation=(2, 1)).output_shape((None, 1, 4, 4))


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(in_channels=0), ValueError, r"Conv2d: in_channels must be > 0, got 0"),
    (dict(out_channels=-2), ValueError, r"Conv2d: out_channels must be > 0, got -2"),
    (dict(kernel_size=0), ValueError, r"Conv2d: kernel_size must be >= 1, got \(0, 0\)"),
    (dict(kernel_size=(3, 3, 3)), TypeError, r"Conv2d: kernel_size must be an int or a pair of ints"),
    (dict(stride=(1, 0)), ValueError, r"Conv2d: stride must be >= 1, got \(1, 0\)"),
    (dict(dilation=0), ValueError, r"Conv2d: dilation must be >= 1, got \(0, 0\)"),
    (dict(padding=-1), ValueError, r"Conv2d: padding must be >= 0, got \(-1, -1\)"),
    (dict(padding="full"), ValueError, r"Conv2d: padding must be an int, a pair of ints, 'valid' or 'same', got 'full'"),
    (dict(padding="same", stride=2), ValueError, r"Conv2d: padding='same' is not supported for strided convolutions"),
    (dict(groups=4), ValueError, r"Conv2d: in_channels \(6\) and out_channels \(8\) must be divisible by groups \(4\)"),
    (dict(groups=0), ValueError, r"Conv2d: groups must be > 0, got 0"),
    (dict(bias=1), TypeError, r"Conv2d: bias must be True or False, got 1"),
])
def test_constructor_errors(kwargs, error, text):
    args = dict(in_channels=6, out_channels=8, kernel_size=3) | kwargs
    with pytest.raises(error, match=text):
        nn.Conv2d(**args)


def test_dtype_and_type_errors():
    layer = nn.Conv2d(2, 2, 3)
    with pytest.raises(TypeError, match=r"^Conv2d\(2, 2, kernel_size=3\): input dtype float64 does not match"
                                        r" the parameters' dtype float32"):
        layer(np.zeros((1, 2, 5, 5)))
    with pytest.raises(TypeError, match=r"expected a floating-point array .* got dtype int64"):
        layer(np.zeros((1, 2, 5, 5), dtype=np.int64))
    with pytest.raises(TypeError, match=r"conv2d: expected an array, got list"):
        F.conv2d_forward([[1.0]], np.zeros((1, 1, 1, 1)))


def test_functional_errors():
    x = np.zeros((1, 4, 5, 5))
    with pytest.raises(ValueError, match=r"conv2d: expected input \(N, 6, H, W\), got \(1, 4, 5, 5\)"):
        F.conv2d_forward(x, np.zeros((4, 3, 3, 3)), groups=2)
    with pytest.raises(ValueError, match=r"conv2d: out channels 5 \(weight.shape\[0\]\) must be divisible by groups=2"):
        F.conv2d_forward(x, np.zeros((5, 2, 3, 3)), groups=2)
    with pytest.raises(ValueError, match=r"conv2d: expected bias of shape \(4,\), got \(3,\)"):
        F.conv2d_forward(x, np.zeros((4, 4, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"conv2d: expected weight \(F, C/groups, KH, KW\), got \(4, 4, 3\)"):
        F.conv2d_forward(x, np.zeros((4, 4, 3)))


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match=r"^Conv2d.backward\(\) called before forward\(\), or twice after one forward"):
        nn.Conv2d(1, 1, 3).backward(np.zeros((1, 1, 2, 2), np.float32))


# -- im2col and col2im ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_col2im_is_the_adjoint_of_im2col(seed):
    kwargs, shape = random_config(seed + 100)
    geometry = {k: kwargs[k] for k in ("kernel_size", "stride", "padding", "dilation")}
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    cols = F.im2col(x, **geometry)
    c = rng.standard_normal(cols.shape)
    back = F.col2im(c, shape, **geometry)
    assert back.shape == shape
    np.testing.assert_allclose(np.sum(back * x), np.sum(c * cols), rtol=1e-12)


def test_im2col_layout():
    # Rows are (c, p, q), columns (n, i, j): X[c, p, q, n, i, j] = x_pad[n, c, i*S + p*D, j*S + q*D]
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6))
    cols = F.im2col(x, (2, 3), stride=(2, 1), padding=1, dilation=(1, 2))
    x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    oh, ow = F.conv_output_size(5, 2, 2, 1), F.conv_output_size(6, 3, 1, 1, 2)
    X = cols.reshape(3, 2, 3, 2, oh, ow)
    for c, p, q, n, i, j in [(0, 0, 0, 0, 0, 0), (2, 1, 2, 1, oh - 1, ow - 1), (1, 0, 1, 1, 1, 2)]:
        assert X[c, p, q, n, i, j] == x_pad[n, c, i * 2 + p, j + 2 * q]


def test_col2im_checks_the_column_shape():
    with pytest.raises(ValueError, match=r"col2im: expected cols of shape \(18, 32\), got \(18, 31\)"):
        F.col2im(np.zeros((18, 31)), (2, 2, 4, 4), 3, padding=1)
