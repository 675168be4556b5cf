"""convnp.parallel: the thread settings, the pool, and results that do not depend on the thread count.

Every sharded op runs on 1, 2 and 3 threads with its work split however small (the ``threads``
fixture of conftest.py sets parallel.MIN_SHARD_ELEMENTS = 1) and must agree with the plain
version within the dtype's rounding: only the order of the sums over the batch may change.
A fixed thread count gives the same bits every run. No timings here (benchmarks/ has them).
"""
import threading

import numpy as np
import pytest

from conftest import max_rel_error
from convnp import functional as F
from convnp import models, nn, optim, parallel
from convnp.functional import conv_reference, norm_reference

DTYPES = [np.float64, np.float32]


def assert_close(ours, ref, dtype, what=""):
    """The same sums in another order: within 256 units of the dtype's epsilon, relative to max |ref|."""
    err = max_rel_error(ours, ref)
    tol = 256 * np.finfo(dtype).eps
    assert err <= tol, f"{what}: max relative error {err:.3g} > {tol:.3g}"


@pytest.fixture
def env_threads(monkeypatch):
    """parallel as if freshly imported (thread count unresolved), restored afterwards."""
    old = parallel.get_num_threads()
    monkeypatch.setattr(parallel, "_num_threads", None)
    yield monkeypatch
    parallel.set_num_threads(old)


# -- settings ------------------------------------------------------------------------------------


def test_set_and_get_num_threads(threads):
    assert parallel.get_num_threads() == threads
    import convnp

    assert convnp.get_num_threads() == threads and convnp.set_num_threads is parallel.set_num_threads


@pytest.mark.parametrize("n, error, message", [
    (0, ValueError, "set_num_threads: n must be >= 1, got 0"),
    (-2, ValueError, "set_num_threads: n must be >= 1, got -2"),
    ("2", TypeError, "set_num_threads: n must be an int, got str '2'"),
    (2.0, TypeError, "set_num_threads: n must be an int, got float 2.0"),
    (True, TypeError, "set_num_threads: n must be an int, got bool True"),
])
def test_set_num_threads_refuses_bad_values(n, error, message):
    before = parallel.get_num_threads()
    with pytest.raises(error) as e:
        parallel.set_num_threads(n)
    assert str(e.value) == message
    assert parallel.get_num_threads() == before


def test_default_is_the_usable_cores(env_threads):
    env_threads.delenv(parallel.ENV_VARIABLE, raising=False)
    assert parallel.get_num_threads() == parallel.usable_cores() >= 1


@pytest.mark.parametrize("value, want", [("3", 3), (" 1 ", 1)])
def test_environment_variable(env_threads, value, want):
    env_threads.setenv(parallel.ENV_VARIABLE, value)
    assert parallel.get_num_threads() == want


@pytest.mark.parametrize("value", ["0", "-1", "two", "2.5"])
def test_environment_variable_is_checked(env_threads, value):
    env_threads.setenv(parallel.ENV_VARIABLE, value)
    with pytest.raises(ValueError) as e:
        parallel.get_num_threads()
    assert str(e.value) == f"CONVNP_NUM_THREADS must be a positive integer (a thread count), got {value!r}"


# -- split and run ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 7, 64])
def test_split_covers_the_batch_in_order(threads, n):
    shards = parallel.split(n, 10)
    assert shards[0][0] == 0 and shards[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(shards, shards[1:]))
    sizes = [hi - lo for lo, hi in shards]
    assert len(shards) == min(threads, n) and max(sizes) - min(sizes) <= 1


def test_small_work_runs_in_one_piece():
    parallel.set_num_threads(2)
    assert parallel.split(64, parallel.MIN_SHARD_ELEMENTS // 64) == [(0, 64)]
    assert parallel.split(64, parallel.MIN_SHARD_ELEMENTS) == [(0, 32), (32, 64)]


def test_without_threadpoolctl_blas_work_is_not_split(threads, monkeypatch):
    monkeypatch.setattr(parallel, "_blas", [])  # what _blas_controllers finds without threadpoolctl
    assert parallel.split(6, 100, blas=True) == [(0, 6)]
    assert len(parallel.split(6, 100)) == threads


def test_run_takes_the_first_shard_on_the_calling_thread(threads):
    where = parallel.run(lambda i, lo, hi: (i, lo, hi, threading.get_ident()), [(0, 1), (1, 3), (3, 4)])
    assert [w[:3] for w in where] == [(0, 0, 1), (1, 1, 3), (2, 3, 4)]
    assert where[0][3] == threading.get_ident()
    assert len({w[3] for w in where}) <= threads  # one thread: all three shards here, one after another


def test_run_raises_the_first_error_after_every_shard_ended(threads):
    done = []

    def shard(i, lo, hi):
        if i in (1, 2):
            raise ValueError(f"shard {i} failed")
        done.append(i)

    with pytest.raises(ValueError, match="shard 1 failed"):
        parallel.run(shard, [(0, 1), (1, 2), (2, 3), (3, 4)])
    # on threads every shard ends before the error is raised; on one thread the error stops the loop
    assert sorted(done) == ([0, 3] if threads > 1 else [0])
    assert parallel.run(lambda i, lo, hi: i, [(0, 1), (1, 2)]) == [0, 1]  # the pool still works


def test_nested_runs_and_a_busy_pool_run_inline(threads):
    inner = parallel.run(lambda i, lo, hi: parallel.run(lambda j, a, b: (threading.get_ident(), j), [(0, 1), (1, 2)]),
                         [(0, 1), (1, 2)])
    for shard in inner:
        assert shard[0][0] == shard[1][0]  # both inner shards on the thread of their outer shard


def test_blas_runs_on_one_thread_inside_shards_only(threads):
    libs = parallel._blas_controllers()
    if not libs:
        pytest.skip("threadpoolctl is not installed")

    def counts(i, lo, hi):
        return [lib.get_num_threads() for lib in libs]

    assert parallel.run(counts, [(0, 1), (1, 2)])[0] == [1] * len(libs)
    assert parallel.run(counts, [(0, 5)], blas=True) == [[1] * len(libs)]  # too small to split: one thread
    assert parallel.run(counts, [(0, 1)], blas=True) == [[threads] * len(libs)]  # one sample: BLAS's threads
    assert counts(0, 0, 0) == [threads] * len(libs)  # set_num_threads set BLAS's count too, restored after


# -- every sharded op: 1, 2 or 3 threads, the same numbers ------------------------------------------


def _data(seed, shape, dtype):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


CONV_CASES = [  # (x shape, weight shape, arguments): each backward path, chunks, groups, strides
    ((5, 3, 7, 6), (4, 3, 3, 3), dict(padding=1)),                          # full convolution
    ((5, 6, 9, 9), (16, 6, 5, 5), dict()),                                  # col2im, samples last
    ((4, 4, 9, 8), (6, 2, 3, 3), dict(stride=2, padding=1, groups=2)),      # col2im in chunks
    ((3, 2, 6, 7), (3, 2, 2, 3), dict(dilation=(2, 1), padding="same")),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv2d(threads, monkeypatch, case, dtype):
    x_shape, w_shape, args = CONV_CASES[case]
    x, w, b = _data(0, x_shape, dtype), _data(1, w_shape, dtype), _data(2, w_shape[:1], dtype)
    monkeypatch.setattr(F.conv_tuning, "CHUNK_BYTES", 1)  # several chunks in each shard
    y, cache = F.conv2d_forward(x, w, b, workspace={}, **args)
    # without threadpoolctl the products run unsplit, on BLAS's own threads
    assert len(cache.shards) == (min(threads, len(x)) if parallel._blas_controllers() else 1)
    dy = _data(3, y.shape, dtype)
    dx, dw, db = F.conv2d_backward(dy, cache)
    assert_close(y, conv_reference.conv2d(x, w, b, **args), dtype, "y")
    refs = conv_reference.conv2d_backward_col2im(dy, x, w, **args)
    for ours, ref, what in zip((dx, dw, db), refs, "dx dW db".split()):
        assert ours.dtype == dtype
        assert_close(ours, ref, dtype, what)
    _, dw_only, _ = F.conv2d_backward(dy, F.conv2d_forward(x, w, b, **args)[1], input_grad=False)
    assert_close(dw_only, dw, dtype, "dW without dx")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(threads, bias, dtype):
    x, w, b = _data(0, (7, 5), dtype), _data(1, (3, 5), dtype), (_data(2, (3,), dtype) if bias else None)
    y, cache = F.linear_forward(x, w, b)
    dy = _data(3, y.shape, dtype)
    dx, dw, db = F.linear_backward(dy, cache)
    assert_close(y, x @ w.T + (0 if b is None else b), dtype, "y")
    assert_close(dx, dy @ w, dtype, "dx")
    assert_close(dw, dy.T @ x, dtype, "dW")
    assert db is None if b is None else max_rel_error(db, dy.sum(axis=0)) <= 256 * np.finfo(dtype).eps


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose2d(threads, dtype):
    x, w = _data(0, (4, 3, 5, 5), dtype), _data(1, (3, 2, 3, 3), dtype)
    y, cache = F.conv_transpose2d_forward(x, w, None, stride=2, padding=1)
    dy = _data(2, y.shape, dtype)
    dx, dw, _ = F.conv_transpose2d_backward(dy, cache)
    parallel.set_num_threads(1)
    y1, cache1 = F.conv_transpose2d_forward(x, w, None, stride=2, padding=1)
    dx1, dw1, _ = F.conv_transpose2d_backward(dy, cache1)
    for ours, ref, what in ((y, y1, "y"), (dx, dx1, "dx"), (dw, dw1, "dW")):
        assert_close(ours, ref, dtype, what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3, 5, 4), (7, 4), (5, 2, 9)])
def test_batch_norm(threads, monkeypatch, shape, training, dtype):
    monkeypatch.setattr(F.norm_passes, "BLOCK_ELEMENTS", 7)  # several blocks in each shard
    c = shape[1]
    x = _data(0, shape, dtype) * 3 + 2
    w, b = _data(1, (c,), dtype), _data(2, (c,), dtype)
    mean, var = _data(3, (c,), dtype), np.abs(_data(4, (c,), dtype)) + 0.5
    run_mean, run_var = mean.copy(), var.copy()
    y, cache = F.batch_norm_forward(x, run_mean, run_var, w, b, training=training)
    dy = _data(5, shape, dtype)
    dx, dw, db = F.batch_norm_backward(dy, cache)
    given = {} if training else {"mean": mean, "var": var}
    ref_y, batch_mean, batch_var = norm_reference.batch_norm(x, w, b, **given)
    assert_close(y, ref_y, dtype, "y")
    for ours, ref, what in zip((dx, dw, db), norm_reference.batch_norm_backward(dy, x, w, training=training, **given),
                               "dx dweight dbias".split()):
        assert_close(ours, ref, dtype, what)
    if training:
        m = x.size // c
        assert_close(run_mean, 0.9 * mean + 0.1 * batch_mean, dtype, "running_mean")
        assert_close(run_var, 0.9 * var + 0.1 * batch_var * m / (m - 1), dtype, "running_var")


POOLS = [("max", dict(kernel_size=2)), ("max", dict(kernel_size=3, stride=2, padding=1)),
         ("avg", dict(kernel_size=2)), ("avg", dict(kernel_size=3, stride=1, padding=1))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind, args", POOLS)
def test_pooling(threads, kind, args, dtype):
    x = np.maximum(_data(0, (5, 3, 8, 7), dtype), 0)  # zeros: ties inside windows
    forward, backward = {"max": (F.max_pool2d_forward, F.max_pool2d_backward),
                         "avg": (F.avg_pool2d_forward, F.avg_pool2d_backward)}[kind]
    y, cache = forward(x, **args)
    dy = _data(1, y.shape, dtype)
    dx = backward(dy, cache)
    parallel.set_num_threads(1)
    y1, cache1 = forward(x, **args)
    # one window's maximum or sum: each output element is computed by the same operations
    np.testing.assert_array_equal(y, y1)
    np.testing.assert_array_equal(dx, backward(dy, cache1))


ACTIVATIONS = {
    "relu": (F.relu_forward, F.relu_backward, {}),
    "leaky_relu": (F.leaky_relu_forward, F.leaky_relu_backward, {"negative_slope": 0.2}),
    "elu": (F.elu_forward, F.elu_backward, {}),
    "gelu": (F.gelu_forward, F.gelu_backward, {}),
    "gelu tanh": (F.gelu_forward, F.gelu_backward, {"approximate": "tanh"}),
    "sigmoid": (F.sigmoid_forward, F.sigmoid_backward, {}),
    "tanh": (F.tanh_forward, F.tanh_backward, {}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activations_give_the_same_bits(threads, monkeypatch, name, dtype):
    monkeypatch.setattr(F.elementwise, "BLOCK_ELEMENTS", 5)
    forward, backward, kwargs = ACTIVATIONS[name]
    x, dy = _data(0, (3, 4, 5), dtype), _data(1, (3, 4, 5), dtype)
    y, cache = forward(x, **kwargs)
    dx = backward(dy, cache)
    parallel.set_num_threads(1)
    monkeypatch.setattr(F.elementwise, "BLOCK_ELEMENTS", 1 << 20)
    y1, cache1 = forward(x, **kwargs)
    assert y.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(y, y1)
    np.testing.assert_array_equal(dx, backward(dy, cache1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_mask_does_not_depend_on_the_thread_count(threads, dtype):
    x, dy = _data(0, (4, 3, 5, 5), dtype), _data(1, (4, 3, 5, 5), dtype)
    y, mask = F.dropout_forward(x, 0.3, rng=7)
    dx = F.dropout_backward(dy, mask)
    keep = np.random.default_rng(7).random(x.shape, dtype=dtype) >= 0.3  # the draw on one thread
    np.testing.assert_array_equal(mask, keep.astype(dtype) * dtype(1 / 0.7))
    np.testing.assert_array_equal(y, x * mask)
    np.testing.assert_array_equal(dx, dy * mask)


# -- whole models: reproducible at a fixed thread count ------------------------------------------------


def _train(model, steps=3, seed=0):
    """A few SGD steps on random data; returns the parameters and the last loss."""
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = rng.standard_normal((6, 3, 16, 16)).astype(np.float32)
        y = rng.integers(0, 10, 6)
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        opt.step()
    return [p.data.copy() for p in model.parameters()], float(loss)


def test_training_is_bit_for_bit_reproducible_at_a_fixed_thread_count(threads):
    one = _train(models.vgg_small(width=4, rng=0))
    two = _train(models.vgg_small(width=4, rng=0))
    assert one[1] == two[1]
    for a, b in zip(one[0], two[0]):
        np.testing.assert_array_equal(a, b)
    parallel.set_num_threads(1)
    single = _train(models.vgg_small(width=4, rng=0))
    assert abs(single[1] - one[1]) <= 1e-4 * abs(single[1])  # float32 sums over the batch, other order
