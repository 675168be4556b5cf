"""conv2d's tuned paths (conv_tuning.py) against the plain reference (conv_reference.py) and PyTorch.

The backward runs one of three ways (full convolution; col2im with the samples last; col2im
chunk by chunk), in chunks or not, with a workspace or not; every way must give the numbers of
the reference, which is the math of docs/conv_backward.md written out. Different algorithms sum
in a different order, so they are compared within a tolerance derived from the dtype.
"""
import numpy as np
import pytest
from conftest import max_rel_error
from test_conv import GRADCHECK_CASES, assert_torch_parity, random_config, torch_conv

from convnp import functional as F
from convnp import nn
from convnp.functional import conv_reference as reference
from convnp.functional import conv_tuning
from convnp.gradcheck import check_layer

pytestmark = pytest.mark.usefixtures("threads")  # every test on 1, 2 and 3 threads (conftest.py)


def assert_close(ours, ref, dtype, what=""):
    """The same sums in another order: max |ours - ref| / max |ref| within 256 units of the dtype's epsilon."""
    err = max_rel_error(ours, ref)
    tol = 256 * np.finfo(dtype).eps
    assert err <= tol, f"{what}: max relative error {err:.3g} > {tol:.3g}"


def _args(kwargs):
    """conv2d_forward's geometry arguments from a Conv2d configuration."""
    return {name: kwargs[name] for name in ("stride", "padding", "dilation", "groups")}


def _random_case(seed, dtype):
    """x, weight, bias (or None), dy and the geometry arguments of random_config(seed)."""
    kwargs, shape = random_config(seed)
    rng = np.random.default_rng(seed)
    k, c_g = kwargs["kernel_size"], kwargs["in_channels"] // kwargs["groups"]
    x = rng.standard_normal(shape).astype(dtype)
    weight = rng.standard_normal((kwargs["out_channels"], c_g, *k)).astype(dtype)
    bias = rng.standard_normal(kwargs["out_channels"]).astype(dtype) if kwargs["bias"] else None
    y = reference.conv2d(x, weight, bias, **_args(kwargs))
    return x, weight, bias, rng.standard_normal(y.shape).astype(dtype), _args(kwargs)


# -- the reference is right -------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("seed", range(12))
def test_reference_matches_torch(torch, seed):
    x, weight, bias, dy, args = _random_case(seed, np.float64)
    layer = nn.Conv2d(x.shape[1], weight.shape[0], weight.shape[2:], bias=bias is not None, **args).to(np.float64)
    layer.weight.data[...] = weight
    if bias is not None:
        layer.bias.data[...] = bias
    ty, tdx, tdw, tdb = torch_conv(torch, layer, x, dy)
    assert_close(reference.conv2d(x, weight, bias, **args), ty, np.float64, "forward")
    for way in (reference.conv2d_backward_col2im, reference.conv2d_backward_full):
        dx, dw, db = way(dy, x, weight, **args)
        assert_close(dx, tdx, np.float64, f"{way.__name__} dx")
        assert_close(dw, tdw, np.float64, f"{way.__name__} dW")
        if bias is not None:
            assert_close(db, tdb, np.float64, f"{way.__name__} db")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(24))
def test_reference_two_ways_agree(seed, dtype):
    x, weight, _, dy, args = _random_case(seed, dtype)
    one = reference.conv2d_backward_col2im(dy, x, weight, **args)
    two = reference.conv2d_backward_full(dy, x, weight, **args)
    for name, a, b in zip(("dx", "dW", "db"), one, two):
        assert a.dtype == b.dtype == dtype, name
        assert_close(a, b, dtype, name)


# -- the input-gradient paths, chunks and the workspace -----------------------------------------


@pytest.fixture(params=["as chosen", "col2im", "col2im, samples last", "full convolution"])
def dx_path(request, monkeypatch):
    """Run a test with conv2d_backward's dx path as chosen, or forced to one of the three.

    "full convolution" is forced only where it applies (stride 1, padding <= D*(K - 1)).
    """
    chosen = conv_tuning.full_padding

    def full_where_possible(f, x_shape, geometry):
        (kh, kw), (dh, dw) = geometry.kernel, geometry.dilation
        reach = (dh * (kh - 1),) * 2 + (dw * (kw - 1),) * 2
        full = tuple(r - p for r, p in zip(reach, geometry.padding))
        return full if geometry.stride == (1, 1) and min(full) >= 0 else None

    if request.param.startswith("col2im"):
        monkeypatch.setattr(conv_tuning, "full_padding", lambda *args: None)
        monkeypatch.setattr(conv_tuning, "samples_last", lambda *args: request.param.endswith("last"))
    elif request.param == "full convolution":
        monkeypatch.setattr(conv_tuning, "full_padding", full_where_possible)
    return request.param, chosen


@pytest.fixture(params=["whole", "tiny chunks"])
def chunks(request, monkeypatch):
    """Columns built as the constants say, or one sample per chunk and the forward's X never kept."""
    if request.param == "tiny chunks":
        monkeypatch.setattr(conv_tuning, "CHUNK_BYTES", 1)
        monkeypatch.setattr(conv_tuning, "KEEP_CHUNKS", 0)
    return request.param


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Chunks of one sample each wherever conv2d chunks its columns, and the forward's X never kept."""
    monkeypatch.setattr(conv_tuning, "CHUNK_BYTES", 1)
    monkeypatch.setattr(conv_tuning, "KEEP_CHUNKS", 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(16))
def test_every_path_matches_the_reference(dx_path, chunks, seed, dtype):
    x, weight, bias, dy, args = _random_case(seed, dtype)
    workspace = {}
    y, cache = F.conv2d_forward(x, weight, bias, workspace=workspace if seed % 2 else None, **args)
    dx, dw, db = F.conv2d_backward(dy, cache)
    assert y.dtype == dx.dtype == dw.dtype == dtype
    assert_close(y, reference.conv2d(x, weight, bias, **args), dtype, "forward")
    ref_dx, ref_dw, ref_db = reference.conv2d_backward_col2im(dy, x, weight, **args)
    assert_close(dx, ref_dx, dtype, "dx")
    assert_close(dw, ref_dw, dtype, "dW")
    if bias is not None:
        assert_close(db, ref_db, dtype, "db")


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(12))
def test_both_input_gradient_paths_match_torch(torch, dx_path, tiny_chunks, seed, dtype):
    kwargs, shape = random_config(seed)
    layer = nn.Conv2d(**kwargs, rng=seed).to(dtype)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    assert_torch_parity(torch, layer, x, seed, dtype)


@pytest.mark.parametrize("kwargs, shape", GRADCHECK_CASES)
def test_gradcheck_both_input_gradient_paths_in_chunks(dx_path, tiny_chunks, kwargs, shape):
    layer = nn.Conv2d(**kwargs, rng=0).to(np.float64)
    x = np.random.default_rng(1).standard_normal(shape)
    check_layer(layer, x, rng=2)


def _choice(rule, n, c, f, size, k, padding, stride=1):
    """What ``rule`` (full_padding or samples_last) says for an (n, c, size, size) input and f filters k x k."""
    x_shape = (n, c, size, size)
    return rule(f, x_shape, F.columns.window_geometry(x_shape, k, stride, padding, 1, "test"))


def test_full_convolution_path_is_chosen_for_same_padding_and_col2im_otherwise(dx_path):
    _, chosen = dx_path
    assert _choice(chosen, 2, 32, 32, 16, 3, 1) == (1, 1, 1, 1)     # 3x3 'same', C == F
    assert _choice(chosen, 2, 6, 16, 14, 5, 0) is None              # F*H*W > 2*C*OH*OW
    assert _choice(chosen, 2, 8, 8, 9, 3, 1, stride=2) is None      # stride 2
    assert _choice(chosen, 2, 8, 8, 9, 3, 3) is None                # P > K - 1


def test_samples_last_col2im_is_chosen_for_small_images_and_many_offsets():
    rule = conv_tuning.samples_last
    assert _choice(rule, 64, 6, 16, 14, 5, 0)                       # LeNet-5's second convolution
    assert not _choice(rule, 1, 6, 16, 14, 5, 0)                    # one sample: nothing to gain
    assert not _choice(rule, 64, 16, 64, 32, 3, 1)                  # larger image, 9 offsets
    assert not _choice(rule, 64, 16, 32, 32, 1, 0, stride=2)        # a 1x1 shortcut
def test_layer_reuses_its_workspace_without_corrupting_outputs():
    # Outputs and input gradients are new arrays; only internal buffers are reused between calls.
    layer = nn.Conv2d(3, 4, 3, padding=1, rng=0)
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((1, 3, 6, 6), np.float32), rng.standard_normal((1, 3, 6, 6), np.float32)
    y1 = layer(x1)
    dx1 = layer.backward(np.ones_like(y1))
    kept_y1, kept_dx1 = y1.copy(), dx1.copy()
    (workspace,) = layer._workspaces  # given back by backward
    buffers = dict(workspace)
    y2 = layer(x2)
    assert not layer._workspaces  # taken by the call until its backward
    layer.backward(np.ones_like(y2))
    np.testing.assert_array_equal(y1, kept_y1)
    np.testing.assert_array_equal(dx1, kept_dx1)
    assert layer._workspaces == [workspace]
    assert all(workspace[name] is buf for name, buf in buffers.items())  # reused, not reallocated


def test_two_calls_before_backward_keep_two_workspaces():
    # One conv called twice in one model forward: each call's columns stay valid until its backward.
    layer = nn.Conv2d(3, 3, 3, padding=1, rng=0)
    twice = nn.Sequential(layer, layer)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    dy = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    twice(x)
    dx = twice.backward(dy)
    assert len(layer._workspaces) == 2
    grads = layer.weight.grad.copy()
    layer.zero_grad()
    with nn.no_grad():
        h = layer(x)
    layer(h)                                    # the second call by hand: dy -> dh, dW part 2
    dh = layer.backward(dy)
    layer(x)
    want_dx = layer.backward(dh)
    np.testing.assert_allclose(layer.weight.grad, grads, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-5)


def test_eval_mode_uses_no_workspace_and_releases_it():
    layer = nn.Conv2d(3, 4, 3, padding=1, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    y_train = layer(x)
    layer.backward(np.ones_like(y_train))
    assert layer._workspaces
    layer.eval()
    y_eval = layer(x)
    assert not layer._workspaces
    np.testing.assert_array_equal(y_eval, y_train)
    dx = layer.backward(np.ones_like(y_eval))  # backward in eval mode still works (saliency maps)
    assert dx.shape == x.shape and not layer._workspaces


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_workspace_follows_batch_size_and_dtype_changes(torch, dtype):
    layer = nn.Conv2d(3, 5, 3, padding=1, rng=0)
    for seed, n, dt in [(0, 4, np.float32), (1, 2, np.float32), (2, 6, np.float32), (3, 3, dtype)]:
        layer.to(dt)
        x = np.random.default_rng(seed).standard_normal((n, 3, 7, 5)).astype(dt)
        layer.zero_grad()
        assert_torch_parity(torch, layer, x, seed, dt)


def test_functional_without_workspace_keeps_each_cache():
    # Without a workspace every call has its own buffers: an older cache stays valid.
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3))
    x1, x2 = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((2, 3, 5, 5))
    y1, cache1 = F.conv2d_forward(x1, w, padding=1)
    F.conv2d_forward(x2, w, padding=1)
    dy = rng.standard_normal(y1.shape)
    _, dw_after, _ = F.conv2d_backward(dy, cache1)
    _, dw_fresh, _ = F.conv2d_backward(dy, F.conv2d_forward(x1, w, padding=1)[1])
    np.testing.assert_array_equal(dw_after, dw_fresh)


def test_layer_backward_without_input_gradient():
    layer = nn.Conv2d(2, 3, 3, padding=1, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5)).astype(np.float32)
    dy = np.random.default_rng(1).standard_normal((2, 3, 5, 5)).astype(np.float32)
    layer(x)
    assert layer.backward(dy) is not None
    grads = [p.grad.copy() for p in layer.parameters()]
    layer.zero_grad()
    layer(x)
    assert layer.backward(dy, input_grad=False) is None
    for p, g in zip(layer.parameters(), grads):
        # a different algorithm for dW (dY @ X.T instead of the full convolution): same sums, other order
        assert_close(p.grad, g, np.float32, "weight gradient without dx")


def test_backward_without_input_gradient():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    y, cache = F.conv2d_forward(x, w, b, padding=1)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = F.conv2d_backward(dy, cache)
    no_dx, dw2, db2 = F.conv2d_backward(dy, cache, input_grad=False)
    assert dx is not None and no_dx is None
    assert_close(dw2, dw, np.float64, "dW from dY @ X.T vs the full convolution")  # different algorithms
    np.testing.assert_array_equal(db, db2)  # the same sum both times


# -- weight_grad=False: frozen parameters get no gradient computed ----------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_functional_without_weight_gradient(dx_path, seed):
    x, weight, bias, dy, args = _random_case(seed, np.float64)
    y, cache = F.conv2d_forward(x, weight, bias, **args)
    dx, _, _ = F.conv2d_backward(dy, cache)
    only_dx, no_dw, no_db = F.conv2d_backward(dy, F.conv2d_forward(x, weight, bias, **args)[1], weight_grad=False)
    assert no_dw is None and no_db is None
    np.testing.assert_array_equal(only_dx, dx)  # the same computation, less the dW products
    assert F.conv2d_backward(dy, cache, input_grad=False, weight_grad=False) == (None, None, None)


def _spy_on_backward(monkeypatch, name):
    """Record the weight_grad flag each call of F.<name> gets (the layer calls it through F)."""
    flags, real = [], getattr(F, name)

    def spy(*args, weight_grad=True, **kwargs):
        flags.append(weight_grad)
        return real(*args, weight_grad=weight_grad, **kwargs)

    monkeypatch.setattr(F, name, spy)
    return flags


@pytest.mark.parametrize("make, shape, backward", [
    (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1, rng=0), (2, 2, 5, 5), "conv2d_backward"),
    (lambda: nn.Conv2d(2, 3, 3, padding=1, rng=0), (2, 2, 5, 5), "conv2d_backward"),
    (lambda: nn.Linear(4, 3, rng=0), (5, 4), "linear_backward"),
])
def test_frozen_parameters_get_no_gradient_computed(monkeypatch, make, shape, backward):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    flags = _spy_on_backward(monkeypatch, backward)
    trained = make()
    y = trained(x)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    dx = trained.backward(dy)
    frozen = make().requires_grad_(False)
    frozen(x)
    np.testing.assert_array_equal(frozen.backward(dy), dx)  # dx as before: the same computation
    assert not frozen.weight.grad.any() and not frozen.bias.grad.any()
    only_bias = make()
    only_bias.weight.requires_grad = False
    only_bias(x)
    only_bias.backward(dy)
    np.testing.assert_array_equal(only_bias.bias.grad, trained.bias.grad)  # the bias alone still learns
    assert not only_bias.weight.grad.any()
    assert flags == [True, False, True]




def test_cache_names_its_fields():
    x, weight = np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3))
    workspace = {}
    _, cache = F.conv2d_forward(x, weight, np.zeros(4), stride=2, padding=1, workspace=workspace)
    assert cache.workspace is workspace and cache.weight is weight and cache.has_bias and cache.groups == 1
    assert cache.x_shape == (2, 3, 5, 5) and cache.x_t.shape == (3, 2, 7, 7)
    geometry = cache.geometry
    assert (geometry.kernel, geometry.stride, geometry.dilation, geometry.out_size) == ((3, 3), (2, 2), (1, 1), (3, 3))
    assert geometry.padding == (1, 1, 1, 1)  # (top, bottom, left, right)
    assert F.conv2d_forward(x, weight)[1].workspace is None
