"""Shared test helpers: the PyTorch comparison tolerance and random data; a visible PyTorch skip."""
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


@pytest.fixture
def torch():
    """PyTorch (skipped without it), on one thread for the test: on tiny tensors a pool only adds hand-off cost."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def torch_parity(layer, torch_module, *inputs, dtype, seed=0, what=None):
    """Run a convnp layer and a torch.nn module with the same weights; compare everything.

    The torch module gets the layer's state_dict (so the keys must agree, as they do by
    design), both run forward on ``inputs`` (float arrays get gradients) and backward from
    the same random upstream gradient; compared: the output(s), the gradient of each float
    input, every parameter gradient (by name) and every buffer (running statistics) after
    the forward. Returns the layer's output.
    """
    import torch

    what = what or type(layer).__name__
    torch_module = torch_module.to(torch.float64 if np.dtype(dtype) == np.float64 else torch.float32)
    torch_module.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in layer.state_dict().items()})
    torch_module.train(layer.training)
    t_in = [torch.tensor(x, requires_grad=x.dtype.kind == "f") if isinstance(x, np.ndarray) else x for x in inputs]
    y = layer(*inputs)
    t_y = torch_module(*t_in)
    ys, t_ys = (y, t_y) if isinstance(y, tuple) else ((y,), (t_y,))
    rng = np.random.default_rng(seed + 1000)
    dys = [rng.standard_normal(o.shape).astype(dtype) if o.dtype.kind == "f" else None for o in ys]
    for i, (o, t_o) in enumerate(zip(ys, t_ys)):
        assert_matches(o, to_numpy(t_o), dtype, f"{what} output {i}")
    grads = layer.backward(*dys)
    torch.autograd.backward([t for t, d in zip(t_ys, dys) if d is not None],
                            [torch.tensor(d) for d in dys if d is not None])
    grads = grads if isinstance(grads, tuple) else (grads,)
    for i, (g, t) in enumerate(zip(grads, t_in)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            assert_matches(g, to_numpy(t.grad), dtype, f"{what} input {i} gradient")
    t_params = dict(torch_module.named_parameters())
    _compare_group({n: p.grad for n, p in layer.named_parameters()},
                   {n: to_numpy(t_params[n].grad) for n, _ in layer.named_parameters()}, dtype, f"{what} gradient")
    t_buffers = dict(torch_module.named_buffers())
    floats = {n: b for n, b in layer.named_buffers() if b is not None and np.asarray(b).dtype.kind == "f"}
    _compare_group(floats, {n: to_numpy(t_buffers[n]) for n in floats}, dtype, f"{what} buffer")
    return y


def _compare_group(ours, theirs, dtype, what):
    """assert_matches for each entry; one that is zero by construction is compared against the group's scale.

    A gradient or running mean that is zero by construction (a bias before a training-mode
    BatchNorm, the mean of a BatchNorm's output) is rounding noise in both frameworks: relative
    to its own size the error means nothing, so it is measured against the largest entry of
    the whole group instead.
    """
    scale = max((float(np.max(np.abs(t))) for t in theirs.values() if t.size), default=0.0)
    tol = TOLERANCE[np.dtype(dtype).type]
    for name, mine in ours.items():
        ref = theirs[name]
        if ref.size and scale and float(np.max(np.abs(ref))) <= tol * scale:
            err = float(np.max(np.abs(np.asarray(mine, dtype=np.float64) - ref))) / scale
            assert err <= tol, f"{what} {name} (zero by construction): max error / group scale {err:.3g} > {tol:g}"
            continue
        assert_matches(mine, ref, dtype, f"{what} {name}")


@pytest.fixture(params=[1, 2, 3])
def threads(request, monkeypatch):
    """Run a test with convnp on 1, 2 and 3 threads, every op split however small its work.

    parallel.MIN_SHARD_ELEMENTS = 1: tests use tiny arrays, which would otherwise run in one
    piece. The thread count (and BLAS's) is restored afterwards.
    """
    from convnp import parallel

    monkeypatch.setattr(parallel, "MIN_SHARD_ELEMENTS", 1)
    old = parallel.get_num_threads()
    parallel.set_num_threads(request.param)
    yield request.param
    parallel.set_num_threads(old)


# -- a skip that is seen: the summary says how many tests PyTorch's absence skipped ---------------
TORCH_HINT = ("pip install torch (the CPU build is enough: pip install torch --index-url"
              " https://download.pytorch.org/whl/cpu), then run pytest again")


def pytest_terminal_summary(terminalreporter):
    """After the summary: "N tests skipped because PyTorch is not installed; to run them: ..."."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if _skipped_for_torch(r)]
    if skipped:
        tests = "1 test" if len(skipped) == 1 else f"{len(skipped)} tests"
        terminalreporter.write_line(f"{tests} skipped because PyTorch is not installed (the reference"
                                    f" they compare against); to run them: {TORCH_HINT}", yellow=True, bold=True)


def _skipped_for_torch(report):
    """True for a skip by pytest.importorskip("torch") (in a test, a fixture or at module level)."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return "could not import 'torch'" in reason
