"""conv_transpose_phases: the transposed convolution by output phases against the col2im path.

Both paths are forced on the same inputs (use_phases patched) and must agree within a
rounding bound derived from the dtype; PyTorch checks the configurations the phase path
takes; the rule (use_phases) is checked on the layers it was measured on.
"""
import numpy as np
import pytest
from conftest import torch_parity

from convnp import functional as F
from convnp import nn
from convnp.functional import conv_transpose_phases as phases
from convnp.functional.conv_transpose import conv_transpose_output_size
from convnp.gradcheck import check_layer


@pytest.fixture
def force(monkeypatch):
    """force(True) sends every configuration the phase path can take there, force(False) none."""
    return lambda on: monkeypatch.setattr(phases, "use_phases", lambda *args: on)


def phase_config(seed):
    """A random ConvTranspose2d configuration with kernels multiple of the strides (the phase path's)."""
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 1, 2, 3]))
    c_in, c_out = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    stride = tuple(int(s) for s in rng.integers(1, 5, size=2))
    stride = stride if stride != (1, 1) else (2, 1)
    kernel = tuple(s * int(rng.integers(1, 4)) for s in stride)
    padding = tuple(int(rng.integers(0, k)) for k in kernel)
    output_padding = tuple(int(rng.integers(0, s)) for s in stride)
    size = [int(rng.integers(1, 8)) for _ in range(2)]
    kwargs = dict(in_channels=c_in, out_channels=c_out, kernel_size=kernel, stride=stride, padding=padding,
                  output_padding=output_padding, groups=groups, bias=bool(rng.random() < 0.7))
    out = [conv_transpose_output_size(n, k, s, p, o) for n, k, s, p, o in zip(size, kernel, stride, padding,
                                                                             output_padding)]
    if min(out) < 1:  # padding too large for this input: draw again
        return phase_config(seed + 1000)
    return kwargs, (int(rng.integers(1, 4)), c_in, *size)


def functional_args(kwargs, dtype, rng):
    """x's companions: weight, bias (or None) and the keyword arguments of conv_transpose2d_forward."""
    g = kwargs["groups"]
    w = rng.standard_normal((kwargs["in_channels"], kwargs["out_channels"] // g, *kwargs["kernel_size"]))
    b = rng.standard_normal(kwargs["out_channels"]).astype(dtype) if kwargs["bias"] else None
    args = {k: kwargs[k] for k in ("stride", "padding", "output_padding", "groups")}
    return w.astype(dtype), b, args


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(40))
def test_phases_match_col2im(force, seed, dtype):
    kwargs, shape = phase_config(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w, b, args = functional_args(kwargs, dtype, rng)
    assert phases.phase_plan(x.shape, w.shape, kwargs["stride"], kwargs["padding"], (1, 1), (1, 1)) is not None
    force(False)
    y_ref, cache_ref = F.conv_transpose2d_forward(x, w, b, **args)
    scale, _ = F.conv_transpose2d_forward(np.abs(x), np.abs(w), None if b is None else np.abs(b), **args)
    force(True)
    y, cache = F.conv_transpose2d_forward(x, w, b, **args)
    assert y.dtype == dtype and y.shape == y_ref.shape
    # Each output is a sum of at most `terms` products (and the bias) in another order: the two
    # differ by at most 2 * terms * eps * sum |x w| (the standard bound on a summation's error)
    terms = kwargs["in_channels"] // kwargs["groups"] * np.prod(kwargs["kernel_size"]) + 1
    bound = 2 * terms * np.finfo(dtype).eps * scale
    assert np.all(np.abs(y.astype(np.float64) - y_ref) <= bound)
    assert np.any(y != 0)
    # the cache is the same either way, so backward is
    dy = rng.standard_normal(y.shape).astype(dtype)
    for ours, ref in zip(F.conv_transpose2d_backward(dy, cache), F.conv_transpose2d_backward(dy, cache_ref)):
        assert (ours is None and ref is None) or np.array_equal(ours, ref)


def test_phases_match_col2im_on_threads(force, threads):
    """Shards of the batch (1, 2, 3 threads, tiny shards allowed) give the same y as one piece."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 4, 6, 5))
    w = rng.standard_normal((4, 3, 4, 4))
    b = rng.standard_normal(3)
    force(False)
    y_ref, _ = F.conv_transpose2d_forward(x, w, b, stride=2, padding=1)
    force(True)
    y, _ = F.conv_transpose2d_forward(x, w, b, stride=2, padding=1)
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=1e-12 * np.abs(y_ref).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(12))
def test_phases_match_torch(torch, force, seed, dtype):
    force(True)
    kwargs, shape = phase_config(seed + 100)
    layer = nn.ConvTranspose2d(**kwargs, rng=seed).to(dtype)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    torch_parity(layer, torch.nn.ConvTranspose2d(**kwargs), x, dtype=dtype, seed=seed)


@pytest.mark.parametrize("kwargs, shape", [
    (dict(in_channels=6, out_channels=4, kernel_size=4, stride=2, padding=1), (2, 6, 5, 7)),              # DCGAN's
    (dict(in_channels=4, out_channels=6, kernel_size=2, stride=2), (1, 4, 3, 3)),                          # K == S
    (dict(in_channels=4, out_channels=4, kernel_size=(6, 4), stride=(3, 2), padding=(1, 1),
          output_padding=(2, 1), groups=2), (2, 4, 3, 4)),
])
def test_phases_gradcheck(force, kwargs, shape):
    force(True)
    layer = nn.ConvTranspose2d(**kwargs, rng=0).to(np.float64)
    errors = check_layer(layer, np.random.default_rng(1).standard_normal(shape), rng=2)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("stride, kernel, dilation", [((2, 2), (3, 4), (1, 1)), ((2, 2), (4, 4), (2, 1)),
                                                      ((1, 1), (3, 3), (1, 1)), ((3, 1), (4, 2), (1, 1))])
def test_no_plan_outside_the_phase_path(stride, kernel, dilation):
    """Dilation, a kernel not a multiple of its stride, or stride 1 on both axes: the col2im path."""
    assert phases.phase_plan((2, 3, 5, 5), (3, 2, *kernel), stride, (1, 1), (9, 9), dilation) is None


@pytest.mark.parametrize("c_in, c_out, size, kernel, stride, padding, expected", [
    (64, 32, 7, 4, 2, 1, False),    # DCGAN main.3: col2im 1.1x faster (measured)
    (32, 1, 14, 4, 2, 1, False),    # DCGAN main.6: one output channel, col2im 2.5x faster
    (64, 32, 16, 4, 2, 1, True),    # 1.0-1.5x faster by phases
    (32, 16, 16, 8, 4, 2, True),    # 1.75-3.8x
    (64, 1, 14, 2, 2, 0, True),     # kernel == stride: always
])
def test_use_phases_rule(c_in, c_out, size, kernel, stride, padding, expected):
    out = conv_transpose_output_size(size, kernel, stride, padding)
    x_shape, w_shape = (32, c_in, size, size), (c_in, c_out, kernel, kernel)
    plan = phases.phase_plan(x_shape, w_shape, (stride,) * 2, (padding,) * 2, (out, out), (1, 1))
    assert phases.use_phases(plan, x_shape, w_shape, 1) is expected


def test_plan_of_dcgan_upsampling():
    """K = 4, S = 2, P = 1, 7 rows -> 14: phase 0 gets kernel rows 3, 1 (x rows q-1, q), phase 1 rows 2, 0 (q, q+1)."""
    axis = phases.axis_phases(7, 4, 2, 1, 14)
    assert axis.taps == 2 and axis.pad_before == 1 and axis.length == 8 and axis.pad_after == 1
    assert axis.phases == ((0, 1, 0, 7), (1, 0, 1, 7))  # (r, k0_r, off_r, Q_r)
    w = np.arange(16.0).reshape(1, 1, 4, 4)
    w_sub = phases.sub_kernels(w, (axis, axis), 1).reshape(2, 2, 2, 2)  # (r, r', a, b)
    assert w_sub[0, 0].tolist() == [[15, 13], [7, 5]] and w_sub[1, 1].tolist() == [[10, 8], [2, 0]]
