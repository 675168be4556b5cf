"""functional.pad, the padding layers and Conv2d(padding_mode=...): gradient checks, PyTorch parity, errors."""
import numpy as np
import pytest
from conftest import assert_matches, to_numpy, torch_parity

from convnp import functional as F
from convnp import nn
from convnp.gradcheck import check_function, check_layer

MODES = ["constant", "reflect", "replicate", "circular"]
LAYERS = {"constant": "ConstantPad2d", "reflect": "ReflectionPad2d", "replicate": "ReplicationPad2d",
          "circular": "CircularPad2d"}


def random_pad(rng, mode, shape, n_pads):
    """Pads PyTorch accepts for ``mode`` on the last n_pads // 2 axes of ``shape`` (negative ones for constant)."""
    pads = []
    for i in range(n_pads // 2):
        size = shape[-1 - i]
        high = {"reflect": size - 1, "circular": size}.get(mode, 3)
        low = -min(2, size // 2) if mode == "constant" else 0
        pads += [int(rng.integers(low, high + 1)) for _ in range(2)]
    return tuple(pads)


# -- functional.pad vs PyTorch -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(12))
def test_pad_matches_torch(torch, seed, mode, dtype):
    rng = np.random.default_rng(seed)
    # (input ndim, number of pads): PyTorch's combinations for the non-constant modes, any for constant
    combos = [(4, 4), (3, 2), (4, 6), (2, 4)] if mode == "constant" else [(4, 4), (3, 4), (3, 2), (2, 2)]
    ndim, n_pads = combos[seed % 4]
    shape = tuple(int(s) for s in rng.integers(1, 6, size=ndim))
    pad = random_pad(rng, mode, shape, n_pads)
    value = float(rng.standard_normal()) if mode == "constant" else 0.0
    x = rng.standard_normal(shape).astype(dtype)
    y, cache = F.pad_forward(x, pad, mode, value)
    dy = rng.standard_normal(y.shape).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.pad(tx, pad, mode=mode, value=value) if mode == "constant" else (
        torch.nn.functional.pad(tx, pad, mode=mode))
    ty.backward(torch.tensor(dy))
    what = f"{mode} {shape} pad={pad}"
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, to_numpy(ty), err_msg=what)   # a copy: exact
    assert_matches(F.pad_backward(dy, cache), to_numpy(tx.grad), dtype, what + " backward")
    np.testing.assert_array_equal(F.pad(x, pad, mode, value), y)


@pytest.mark.parametrize("mode", MODES)
def test_pad_gradcheck(mode):
    rng = np.random.default_rng(1)
    pad = (2, 1, 0, 3) if mode != "constant" else (2, -1, -2, 3)
    errors = check_function(lambda x: F.pad_forward(x, pad, mode, 0.5), F.pad_backward,
                            [rng.standard_normal((2, 2, 4, 3))], rng=rng)
    assert set(errors) == {"input 0"}


def test_known_values():
    x = np.array([[1.0, 2.0, 3.0]])
    assert F.pad(x, (2, 1), "reflect").tolist() == [[3, 2, 1, 2, 3, 2]]
    assert F.pad(x, (2, 1), "replicate").tolist() == [[1, 1, 1, 2, 3, 3]]
    assert F.pad(x, (2, 1), "circular").tolist() == [[2, 3, 1, 2, 3, 1]]
    assert F.pad(x, (-1, 2), "constant", 9.0).tolist() == [[2, 3, 9, 9]]
    _, cache = F.pad_forward(x, (2, 1), "reflect")
    # x[0] is read once, x[1] three times (centre and both mirrors), x[2] twice
    assert F.pad_backward(np.ones((1, 6)), cache).tolist() == [[1, 3, 2]]


# -- layers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", MODES + ["zeros"])
@pytest.mark.parametrize("seed", range(6))
def test_layers_match_torch(torch, seed, mode, dtype):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(2, 6, size=4))[: 3 + seed % 2]
    padding = random_pad(rng, "constant" if mode == "zeros" else mode, shape, 4)
    if seed == 0:
        padding = min(shape[-2:]) - 1 if mode == "reflect" else 2   # the int form
    if mode == "zeros":
        layer, ref = nn.ZeroPad2d(padding), torch.nn.ZeroPad2d(padding)
    elif mode == "constant":
        layer, ref = nn.ConstantPad2d(padding, -1.5), torch.nn.ConstantPad2d(padding, -1.5)
    else:
        layer, ref = getattr(nn, LAYERS[mode])(padding), getattr(torch.nn, LAYERS[mode])(padding)
    x = rng.standard_normal(shape).astype(dtype)
    y = torch_parity(layer, ref, x, dtype=dtype, seed=seed)
    assert layer.output_shape(shape) == y.shape and y.dtype == dtype


@pytest.mark.parametrize("layer", [nn.ZeroPad2d((1, 0, 2, -1)), nn.ConstantPad2d(1, 2.0), nn.ReflectionPad2d((2, 1, 0, 1)),
                                   nn.ReplicationPad2d(3), nn.CircularPad2d((1, 2, 3, 0))], ids=repr)
def test_layer_gradcheck_and_rebuild(layer):
    check_layer(layer, np.random.default_rng(0).standard_normal((1, 2, 3, 4)), rng=1)
    rebuilt = type(layer)(**layer.config())
    assert repr(rebuilt) == repr(layer)
    assert layer.output_shape((None, 2, 3, 4)) == (None, 2) + layer.output_shape((1, 2, 3, 4))[2:]


def test_layer_repr_like_torch():
    assert repr(nn.ZeroPad2d(1)) == "ZeroPad2d((1, 1, 1, 1))"
    assert repr(nn.ReflectionPad2d((1, 0, 2, 3))) == "ReflectionPad2d((1, 0, 2, 3))"
    assert repr(nn.ConstantPad2d(2, 3.5)) == "ConstantPad2d((2, 2, 2, 2), value=3.5)"


# -- Conv2d(padding_mode=...) ----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "zeros"])
@pytest.mark.parametrize("seed", range(8))
def test_conv_padding_mode_matches_torch(torch, seed, mode, dtype):
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 2]))
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=2))
    stride = (1, 1) if seed % 3 == 0 else tuple(int(s) for s in rng.integers(1, 3, size=2))
    padding = "same" if seed % 3 == 0 else tuple(int(p) for p in rng.integers(0, 3, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    kwargs = dict(in_channels=2 * groups, out_channels=3 * groups, kernel_size=kernel, stride=stride, padding=padding,
                  dilation=dilation, groups=groups, padding_mode=mode)
    shape = (2, 2 * groups, 5 + int(rng.integers(0, 3)), 5 + int(rng.integers(0, 3)))  # larger than every pad
    layer = nn.Conv2d(**kwargs, rng=seed).to(dtype)
    torch_parity(layer, torch.nn.Conv2d(**kwargs), rng.standard_normal(shape).astype(dtype), dtype=dtype, seed=seed)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv_padding_mode_gradcheck(mode):
    layer = nn.Conv2d(2, 3, 3, stride=(2, 1), padding=(1, 2), padding_mode=mode, rng=0).to(np.float64)
    assert set(check_layer(layer, np.random.default_rng(1).standard_normal((2, 2, 4, 5)), rng=2)) == {
        "input", "weight", "bias"}


def test_conv_padding_mode_is_pad_then_convolve():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 2, 5, 4)), rng.standard_normal((3, 2, 3, 3))
    y, _ = F.conv2d_forward(x, w, padding=(1, 2), padding_mode="circular")
    expected, _ = F.conv2d_forward(F.pad(x, (2, 2, 1, 1), "circular"), w)
    np.testing.assert_array_equal(y, expected)


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, error, text", [
    (((1, 1, 1, 1), "reflect"), ValueError, r"^pad: reflect padding must be smaller than the padded dimension, got pad"
                                             r" \(1, 1\) for dimension 2 of size 1$"),
    (((5, 0, 0, 0), "circular"), ValueError, r"circular padding must be at most the padded dimension's size, got pad"
                                             r" \(5, 0\) for dimension 3 of size 4"),
    (((-1, 0, 0, 0), "replicate"), ValueError, r"negative padding is only supported in constant mode, got pad"
                                               r" \(-1, 0, 0, 0\) with mode 'replicate'"),
    (((1, 1), "replicate"), ValueError, r"pad: mode 'replicate' with 2 pads expects a 2-D or 3-D input, got shape"
                                        r" \(2, 2, 1, 4\)"),
    (((1, 1), "wrap"), ValueError, r"pad: mode must be one of 'constant', 'reflect', 'replicate', 'circular', got 'wrap'"),
    (((1, 1, 1),), ValueError, r"pad: pad must have an even length of at most 2 \* x.ndim = 8, got \(1, 1, 1\)"),
    (((1.5, 1),), TypeError, r"pad: pad must be a tuple of ints, got \(1.5, 1\)"),
    (((-3, -2),), ValueError, r"pad: pad \(-3, -2\) gives dimension 3 of input \(2, 2, 1, 4\) a negative size -1"),
    (((1, 1, 1, 1, 1, 1), "reflect"), ValueError, r"mode 'reflect' with 6 pads expects a 4-D or 5-D input"),
    (((1, 1), "constant", "0"), TypeError, r"pad: value must be a number, got '0'"),
])
def test_pad_errors(args, error, text):
    with pytest.raises(error, match=text):
        F.pad_forward(np.zeros((2, 2, 1, 4)), *args)


def test_layer_errors():
    with pytest.raises(TypeError, match=r"ZeroPad2d: padding must be an int or a 4-tuple of ints \(left, right, top,"
                                        r" bottom\), got \(1, 2\)"):
        nn.ZeroPad2d((1, 2))
    with pytest.raises(ValueError, match=r"ReflectionPad2d: padding must be >= 0 \(only constant padding crops\),"
                                         r" got \(1, -1, 0, 0\)"):
        nn.ReflectionPad2d((1, -1, 0, 0))
    with pytest.raises(ValueError, match=r"ReflectionPad2d\(\(3, 3, 3, 3\)\): reflect padding must be smaller than the"
                                         r" padded dimension, got pad \(3, 3\) for dimension 3 of size 3"):
        nn.ReflectionPad2d(3)(np.zeros((1, 1, 4, 3)))
    with pytest.raises(ValueError, match=r"CircularPad2d\(\(1, 1, 1, 1\)\): expected input \(N, C, H, W\) or \(C, H, W\),"
                                         r" got \(4, 4\)"):
        nn.CircularPad2d(1)(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"Conv2d: padding_mode must be one of 'zeros', 'reflect', 'replicate',"
                                         r" 'circular', got 'zero'"):
        nn.Conv2d(1, 1, 3, padding_mode="zero")
    with pytest.raises(ValueError, match=r"Conv2d\(1, 1, kernel_size=3, padding=2, padding_mode='reflect'\): reflect"
                                         r" padding must be smaller than the padded dimension"):
        nn.Conv2d(1, 1, 3, padding=2, padding_mode="reflect")(np.zeros((1, 1, 2, 5), np.float32))
