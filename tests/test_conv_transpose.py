"""ConvTranspose2d and conv_transpose2d_forward/backward: the adjoint of a convolution.

Oracles: the defining property <C^T x, y> = <x, C y>, the plain reference convolution's input
gradient, float64 numerical gradients, and PyTorch over random stride / padding /
output_padding / groups / dilation combinations.
"""
import numpy as np
import pytest
from conftest import assert_matches, torch_parity

from convnp import functional as F
from convnp import nn
from convnp.functional import conv_reference
from convnp.gradcheck import check_function, check_layer


def random_config(seed):
    """A random valid ConvTranspose2d configuration and input shape, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 1, 2, 3]))
    c_in, c_out = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    kernel = tuple(int(k) for k in rng.integers(1, 5, size=2))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    padding = tuple(int(p) for p in rng.integers(0, 3, size=2))
    # output_padding below stride or dilation: with stride 1 and dilation 2 it can exceed the stride
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    # an input large enough that (H - 1)*S - 2*P + D*(K - 1) + output_padding + 1 >= 1
    size = [max(1, -(-(2 * p - d * (k - 1) - o) // s) + 1) + int(rng.integers(0, 4))
            for p, d, k, o, s in zip(padding, dilation, kernel, output_padding, stride)]
    kwargs = dict(in_channels=c_in, out_channels=c_out, kernel_size=kernel, stride=stride, padding=padding,
                  output_padding=output_padding, groups=groups, bias=bool(rng.random() < 0.8), dilation=dilation)
    return kwargs, (int(rng.integers(1, 4)), c_in, *size)


# -- what it is: the adjoint of a convolution --------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_is_the_adjoint_of_conv2d(seed):
    kwargs, shape = random_config(seed)
    rng = np.random.default_rng(seed)
    g = kwargs["groups"]
    w = rng.standard_normal((kwargs["in_channels"], kwargs["out_channels"] // g, *kwargs["kernel_size"]))
    args = {k: kwargs[k] for k in ("stride", "padding", "dilation", "groups")}
    x = rng.standard_normal(shape)
    y, _ = F.conv_transpose2d_forward(x, w, None, output_padding=kwargs["output_padding"], **args)
    z = rng.standard_normal(y.shape)
    cz, _ = F.conv2d_forward(z, w, **args)                      # C z: the convolution the other way
    cz = cz[:, :, : x.shape[2], : x.shape[3]]                   # rows only output_padding >= stride adds
    np.testing.assert_allclose(np.sum(y * z), np.sum(x * cz), rtol=1e-12)   # <C^T x, z> = <x, C z>


@pytest.mark.parametrize("seed", range(10))
def test_forward_is_the_reference_convolution_input_gradient(seed):
    kwargs, shape = random_config(seed)
    rng = np.random.default_rng(seed + 50)
    g = kwargs["groups"]
    w = rng.standard_normal((kwargs["in_channels"], kwargs["out_channels"] // g, *kwargs["kernel_size"]))
    args = {k: kwargs[k] for k in ("stride", "padding", "dilation", "groups")}
    x = rng.standard_normal(shape)
    y, _ = F.conv_transpose2d_forward(x, w, None, output_padding=kwargs["output_padding"], **args)
    oh, ow = conv_reference.conv2d(np.zeros(y.shape), w, **args).shape[2:]
    dy = np.zeros((shape[0], shape[1], oh, ow))
    dy[:, :, : shape[2], : shape[3]] = x
    dx = conv_reference.conv2d_backward_col2im(dy, np.zeros(y.shape), w, **args)[0]
    np.testing.assert_allclose(y, dx, rtol=1e-12, atol=1e-12)


# -- numerical gradient checks (float64) --------------------------------------------------------

GRADCHECK_CASES = [
    (dict(in_channels=2, out_channels=3, kernel_size=3), (2, 2, 3, 3)),
    (dict(in_channels=2, out_channels=2, kernel_size=3, stride=2, padding=1, output_padding=1), (1, 2, 3, 2)),
    (dict(in_channels=4, out_channels=2, kernel_size=(2, 3), stride=(2, 1), groups=2), (2, 4, 2, 3)),
    (dict(in_channels=2, out_channels=2, kernel_size=2, dilation=2, output_padding=1, bias=False), (1, 2, 3, 3)),
    (dict(in_channels=3, out_channels=3, kernel_size=3, stride=3, padding=2, groups=3), (1, 3, 2, 3)),
]


@pytest.mark.parametrize("kwargs, shape", GRADCHECK_CASES)
def test_gradcheck_layer(kwargs, shape):
    layer = nn.ConvTranspose2d(**kwargs, rng=0).to(np.float64)
    errors = check_layer(layer, np.random.default_rng(1).standard_normal(shape), rng=2)
    assert set(errors) == {"input", "weight"} | ({"bias"} if kwargs.get("bias", True) else set())


def test_gradcheck_functional():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 4, 3, 2)), rng.standard_normal((4, 1, 2, 3)), rng.standard_normal(2)

    def forward(x, w, b):
        return F.conv_transpose2d_forward(x, w, b, stride=(2, 1), padding=(0, 1), output_padding=(1, 0), groups=2)

    assert len(check_function(forward, F.conv_transpose2d_backward, [x, w, b], rng=4)) == 3


# -- PyTorch parity ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(40))
def test_matches_torch_random_configs(torch, seed, dtype):
    kwargs, shape = random_config(seed)
    layer = nn.ConvTranspose2d(**kwargs, rng=seed).to(dtype)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    y = torch_parity(layer, torch.nn.ConvTranspose2d(**kwargs), x, dtype=dtype, seed=seed)
    assert y.dtype == dtype and layer.output_shape(shape) == y.shape


@pytest.mark.parametrize("kwargs, shape", [
    (dict(kernel_size=3, stride=1, dilation=2, output_padding=1), (2, 2, 4, 3)),        # output_padding >= stride
    (dict(kernel_size=(3, 2), stride=(1, 3), dilation=(3, 1), output_padding=(2, 2)), (1, 2, 3, 4)),
    (dict(kernel_size=1, stride=2, padding=0, output_padding=1), (1, 2, 3, 3)),          # kernel 1
    (dict(kernel_size=4, stride=2, padding=1), (2, 2, 5, 7)),                           # the DCGAN upsampler
    (dict(kernel_size=3, padding=2), (1, 2, 5, 5)),                                     # padding beyond the kernel's reach
])
def test_matches_torch_edge_cases(torch, kwargs, shape):
    full = dict(in_channels=2, out_channels=3) | kwargs
    for dtype in (np.float64, np.float32):
        layer = nn.ConvTranspose2d(**full, rng=1).to(dtype)
        x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
        torch_parity(layer, torch.nn.ConvTranspose2d(**full), x, dtype=dtype)


def test_output_size_argument_matches_torch(torch):
    layer = nn.ConvTranspose2d(2, 3, 3, stride=3, padding=1, rng=0).to(np.float64)
    ref = torch.nn.ConvTranspose2d(2, 3, 3, stride=3, padding=1).double()
    ref.load_state_dict({k: torch.tensor(v) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5))
    for size in [(10, 13), (12, 15), [1, 3, 11, 14]]:
        y = layer(x, output_size=size)
        layer.take_cache()
        assert_matches(y, ref(torch.tensor(x), output_size=size).detach().numpy(), np.float64, str(size))
    with pytest.raises(ValueError, match=r"requested output size \(13, 13\), but valid sizes range from"
                                         r" \(10, 13\) to \(12, 15\) for an input of size \(4, 5\)"):
        layer(x, output_size=(13, 13))


# -- layer behaviour -----------------------------------------------------------------------------


def test_default_weights_like_torch():
    layer = nn.ConvTranspose2d(4, 6, (3, 2), groups=2, rng=0)
    assert layer.weight.shape == (4, 3, 3, 2) and layer.bias.shape == (6,)
    assert layer.weight.dtype == np.float32
    bound = 1 / np.sqrt(3 * 3 * 2)  # fan_in = out_channels/groups * KH * KW, as PyTorch computes it
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.8 * bound


def test_frozen_parameters_and_input_grad():
    x = np.random.default_rng(0).standard_normal((2, 2, 3, 3)).astype(np.float32)
    trained, frozen = nn.ConvTranspose2d(2, 3, 3, stride=2, rng=0), nn.ConvTranspose2d(2, 3, 3, stride=2, rng=0)
    frozen.requires_grad_(False)
    dy = np.random.default_rng(1).standard_normal(trained(x).shape).astype(np.float32)
    dx = trained.backward(dy)
    frozen(x)
    np.testing.assert_array_equal(frozen.backward(dy), dx)
    assert not frozen.weight.grad.any() and not frozen.bias.grad.any() and trained.weight.grad.any()
    trained.zero_grad()
    trained(x)
    assert trained.backward(dy, input_grad=False) is None and trained.weight.grad.any()
    _, cache = F.conv_transpose2d_forward(x, trained.weight.data)
    assert F.conv_transpose2d_backward(dy, cache, input_grad=False, weight_grad=False) == (None, None, None)


def test_repr_config_and_rebuild():
    layer = nn.ConvTranspose2d(4, 8, (3, 5), stride=2, padding=(1, 2), output_padding=1, groups=4, bias=False)
    assert repr(layer) == ("ConvTranspose2d(4, 8, kernel_size=(3, 5), stride=2, padding=(1, 2), output_padding=1,"
                           " groups=4, bias=False)")
    rebuilt = nn.ConvTranspose2d(**layer.config())
    assert repr(rebuilt) == repr(layer) and rebuilt.weight.shape == layer.weight.shape == (4, 2, 3, 5)
    assert layer.output_shape((None, 4, 5, 6)) == (None, 8, 10, 12)


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(output_padding=2, stride=2), ValueError,
     r"^ConvTranspose2d: output_padding must be smaller than either stride or dilation, got output_padding=\(2, 2\)"
     r" with stride=\(2, 2\) and dilation=\(1, 1\)$"),
    (dict(output_padding=(0, 1)), ValueError, r"output_padding must be smaller than either stride or dilation"),
    (dict(groups=4), ValueError, r"ConvTranspose2d: in_channels \(6\) and out_channels \(8\) must be divisible by groups \(4\)"),
    (dict(padding=-1), ValueError, r"ConvTranspose2d: padding must be >= 0, got \(-1, -1\)"),
    (dict(bias=None), TypeError, r"ConvTranspose2d: bias must be True or False, got None"),
])
def test_constructor_errors(kwargs, error, text):
    with pytest.raises(error, match=text):
        nn.ConvTranspose2d(**(dict(in_channels=6, out_channels=8, kernel_size=3) | kwargs))


def test_input_errors():
    layer = nn.ConvTranspose2d(3, 2, 3, padding=2)
    with pytest.raises(ValueError, match=r"^ConvTranspose2d\(3, 2, kernel_size=3, padding=2\): expected input"
                                         r" \(N, 3, H, W\), got \(1, 2, 4, 4\)$"):
        layer(np.zeros((1, 2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"output size \(-1, 0\) is not positive \(input \(1, 3, 1, 2\)"):
        layer(np.zeros((1, 3, 1, 2), np.float32))
    with pytest.raises(ValueError, match=r"conv_transpose2d: in channels 5 \(weight.shape\[0\]\) must be divisible"
                                         r" by groups=2"):
        F.conv_transpose2d_forward(np.zeros((1, 5, 2, 2)), np.zeros((5, 1, 2, 2)), groups=2)
    with pytest.raises(ValueError, match=r"conv_transpose2d: expected bias of shape \(4,\), got \(2,\)"):
        F.conv_transpose2d_forward(np.zeros((1, 2, 2, 2)), np.zeros((2, 2, 2, 2)), np.zeros(2), groups=2)
    with pytest.raises(RuntimeError, match=r"ConvTranspose2d.backward\(\) called before forward\(\)"):
        layer.backward(np.zeros((1, 2, 2, 2), np.float32))
