"""Checks that need several processes: run by tests/test_distributed_mpi.py as

    mpiexec -n 2 python -m pytest -q tests/mpi_checks.py

(pytest collects this file only when it is named: it is not a test_*.py file). Every rank runs
every test in the same order, so their collectives meet; each test makes its collective calls
before its asserts, so a failed assert on one rank does not leave the other waiting. The
single-process references run on every rank (they are cheap) and the ranks' own results are
also compared with each other.
"""
import os
import shutil
import tempfile

import numpy as np
import pytest

from conftest import max_rel_error
from convnp import data, distributed, io, models, nn, optim
from convnp.callbacks import CSVLogger, ModelCheckpoint
from convnp.data import DataLoader
from convnp.train import evaluate, fit

WORLD = distributed.init()
K = WORLD.size


def allgather(value):
    return WORLD.comm.allgather(value)


def test_the_world_is_two_processes():
    """The launcher and mpi4py belong together (a foreign mpiexec would start K worlds of one)."""
    assert K == 2 and sorted(allgather(WORLD.rank)) == [0, 1]


def test_the_processes_share_the_cores():
    """Without CONVNP_NUM_THREADS, K processes on one machine take 1/K of its cores each."""
    from convnp import parallel

    if parallel.ENV_VARIABLE in os.environ:
        pytest.skip("CONVNP_NUM_THREADS is set: it decides")
    local = WORLD.comm.Split_type(__import__("mpi4py").MPI.COMM_TYPE_SHARED).Get_size()
    assert parallel.get_num_threads() == max(1, parallel.usable_cores() // local)


def test_collectives():
    x = np.full(3, WORLD.rank + 1.0)
    WORLD.allreduce(x)
    y = np.full((2, 2), WORLD.rank, dtype=np.int64)
    WORLD.broadcast(y, root=1)
    s = WORLD.sum([WORLD.rank, 1])
    m = WORLD.allreduce(np.array([WORLD.rank]), op="max")
    assert x.tolist() == [3.0] * 3 and (y == 1).all() and s == [1.0, 2.0] and m.tolist() == [1]
    assert WORLD.broadcast_value({"seed": WORLD.rank}, root=1) == {"seed": 1}


def test_broadcast_parameters_and_buffers():
    model = models.vgg_small(width=4, rng=WORLD.rank)            # different weights on each rank
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean += WORLD.rank
            m.num_batches_tracked += WORLD.rank
    distributed.broadcast_parameters(model)
    states = allgather(model.state_dict())
    reference = models.vgg_small(width=4, rng=0).state_dict()
    assert all(np.array_equal(states[0][k], states[1][k]) for k in reference)
    assert all(np.array_equal(states[0][k], reference[k]) for k in reference if "running" not in k and "num" not in k)
    assert int(states[1]["1.num_batches_tracked"]) == 0


def test_different_models_are_refused_on_every_rank():
    model = models.lenet5(rng=0) if WORLD.rank == 0 else models.simple_cnn(rng=0)
    with pytest.raises(ValueError, match=r"broadcast_parameters: the model is not the same on every process"):
        distributed.broadcast_parameters(model)


def test_allreduce_gradients_averages_in_one_call():
    model = models.lenet5(rng=0)
    for i, p in enumerate(model.parameters()):
        p.grad[...] = (WORLD.rank + 1) * (i + 1)
    calls = []
    allreduce = WORLD.allreduce
    WORLD.allreduce = lambda a, op="sum": calls.append(a.size) or allreduce(a, op)
    try:
        distributed.allreduce_gradients(model)
    finally:
        del WORLD.allreduce
    assert calls[1:] == [model.num_parameters()]             # a model check, then one call for every gradient
    assert all((p.grad == 1.5 * (i + 1)).all() for i, p in enumerate(model.parameters()))


def test_sampler_shards_are_disjoint_cover_the_data_and_agree():
    sampler = distributed.DistributedSampler(11, seed=3)
    sampler.set_epoch(2)
    shards = allgather(list(sampler))
    order = np.random.default_rng([3, 2]).permutation(11)
    assert shards == [distributed.shard_indices(order, r, K).tolist() for r in range(K)]
    both = sum(shards, [])
    assert len(shards[0]) == len(shards[1]) == 6 and sorted(set(both)) == list(range(11)) and len(both) == 12


def test_loader_shares_are_the_batches_of_one_process():
    dataset = data.Dataset(np.arange(20.0).reshape(20, 1, 1, 1), np.zeros(20, dtype=np.int64))
    mine = [x.ravel().tolist() for x, _ in distributed.DistributedLoader(
        DataLoader(dataset, batch_size=8, shuffle=True, rng=4))]
    everyone = allgather(mine)
    plain = [sorted(x.ravel().tolist()) for x, _ in DataLoader(dataset, batch_size=8, shuffle=True, rng=4)]
    assert [sorted(a + b) for a, b in zip(*everyone)] == plain


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(8, 3, 4, 5), (6, 2)])
def test_sync_batch_norm_is_batch_norm_over_the_whole_batch(dtype, shape):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    n = shape[0] // K
    part = slice(WORLD.rank * n, (WORLD.rank + 1) * n)
    sync = nn.SyncBatchNorm(shape[1], momentum=0.3).to(dtype)
    y = sync(x[part])
    dx = sync.backward(dy[part] * K)       # this rank's mean loss over n = N / K samples: K times the upstream
    distributed.allreduce_gradients(sync)
    plain = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(shape[1], momentum=0.3).to(dtype)
    y_all = plain(x)
    dx_all = plain.backward(dy)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert max_rel_error(y, y_all[part]) < tol and max_rel_error(dx, K * dx_all[part]) < tol
    for a, b in ((sync.weight.grad, plain.weight.grad), (sync.bias.grad, plain.bias.grad),
                 (sync.running_mean, plain.running_mean), (sync.running_var, plain.running_var)):
        assert max_rel_error(a, b) < tol


def test_evaluate_spreads_the_work_and_gives_evaluates_result():
    test = data.mnist_sample(train=False).subset(np.arange(301))   # 150 + 151 samples
    model = models.lenet5(rng=0)
    loss = nn.CrossEntropyLoss()
    spread = distributed.evaluate(model, test, loss=loss, batch_size=64)
    whole = evaluate(model, DataLoader(test, batch_size=64), loss=loss)
    assert spread["n"] == 301 and spread["accuracy"] == whole["accuracy"]
    assert abs(spread["loss"] - whole["loss"]) < 1e-6 * abs(whole["loss"])


# -- training: K processes against one ----------------------------------------------------------
TRAIN = data.mnist_sample(train=True).subset(np.arange(1280))   # 20 steps of 64


def train_by_hand(model, dtype, world, optimizer="sgd", steps=20):
    """The explicit loop of convnp.distributed's docstring (world None: one process, the whole batch)."""
    model.to(dtype)
    opt = (optim.SGD(model.parameters(), lr=0.05, momentum=0.9) if optimizer == "sgd"
           else optim.Adam(model.parameters(), lr=2e-3))
    loss = nn.CrossEntropyLoss()
    loader = DataLoader(TRAIN, batch_size=64, shuffle=True, rng=0)
    if world is not None:
        distributed.broadcast_parameters(model, world=world)
        loader = distributed.DistributedLoader(loader, world)
    for step, (x, y) in enumerate(loader):
        if step == steps:
            break
        opt.zero_grad()
        loss(model(x.astype(dtype)), y)
        model.backward(loss.backward(), input_grad=False)
        if world is not None:
            distributed.allreduce_gradients(model, world)
        opt.step()
    return model.state_dict()


def state_error(ours, reference):
    """The largest relative error over the float arrays of two state_dicts."""
    return max(max_rel_error(ours[k], reference[k]) for k in reference if reference[k].dtype.kind == "f")


def same_on_every_rank(state):
    """Every rank ends with the same weights, bit for bit (the same averaged gradient, the same step)."""
    states = allgather(state)
    return all(np.array_equal(states[0][k], s[k]) for s in states for k in state)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-4)])
def test_lenet5_on_two_processes_trains_as_one(dtype, tol, optimizer):
    ours = train_by_hand(models.lenet5(rng=WORLD.rank), dtype, WORLD, optimizer)
    equal = same_on_every_rank(ours)
    one = train_by_hand(models.lenet5(rng=0), dtype, None, optimizer)
    assert equal and state_error(ours, one) < tol


def vgg(sync):
    """vgg_small, narrow, on 1x28x28 digits; with SyncBatchNorm in place of BatchNorm2d when ``sync``."""
    model = models.vgg_small(in_channels=1, width=4, rng=0)
    return nn.SyncBatchNorm.convert_sync_batchnorm(model) if sync else model


def test_vgg_small_with_sync_batch_norm_trains_as_one_process():
    ours = train_by_hand(vgg(sync=True), np.float64, WORLD, "adam")
    equal = same_on_every_rank(ours)
    one = train_by_hand(vgg(sync=False), np.float64, None, "adam")
    assert equal and state_error(ours, one) < 1e-12


def test_vgg_small_with_sync_batch_norm_in_float32_is_as_close_as_one_process():
    """In float32 twenty steps of this BatchNorm network amplify rounding (a max-pool picks another
    of two near-equal values, ...): one process in float32 ends about 10% away from the float64
    weights. The check: two processes in float32 end no further from them than that, where plain
    BatchNorm (each process normalising its own half) ends 50% away."""
    ours = train_by_hand(vgg(sync=True), np.float32, WORLD)
    one32 = train_by_hand(vgg(sync=False), np.float32, None)
    one64 = train_by_hand(vgg(sync=False), np.float64, None)
    assert state_error(ours, one64) < 1.5 * state_error(one32, one64) + 1e-4


# -- fit(distributed=True) ---------------------------------------------------------------------
def fit_run(model, dtype, distributed, epochs=1, **options):
    """fit over TRAIN (20 steps of 64 an epoch) with SGD; returns (state_dict, history)."""
    model.to(dtype)
    train = data.Dataset(TRAIN.images.astype(dtype) / dtype(255), TRAIN.labels)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = fit(model, train, epochs=epochs, optimizer=opt, loss=nn.CrossEntropyLoss(), batch_size=64, seed=0,
                  progress=False, distributed=distributed, **options)
    return model.state_dict(), history


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-4)])
def test_fit_on_two_processes_is_fit_on_one(dtype, tol):
    ours, history = fit_run(models.lenet5(rng=WORLD.rank), dtype, True)   # rank 0's weights are broadcast
    equal = same_on_every_rank(ours)
    one, one_history = fit_run(models.lenet5(rng=0), dtype, False)
    assert equal and state_error(ours, one) < tol
    for key in ("loss", "accuracy"):   # the whole batch's metrics, on every rank
        assert abs(history[key][0] - one_history[key][0]) < tol * 10 * abs(one_history[key][0])


def test_fit_with_sync_batch_norm_is_fit_on_one_process():
    val = data.mnist_sample(train=False).subset(np.arange(101))
    val = data.Dataset(val.images.astype(np.float64) / 255, val.labels)
    ours, history = fit_run(vgg(sync=True), np.float64, True, val=val)
    equal = same_on_every_rank(ours)
    one, one_history = fit_run(vgg(sync=False), np.float64, False, val=val)
    assert equal and state_error(ours, one) < 1e-12
    assert history["val_accuracy"] == one_history["val_accuracy"]
    assert abs(history["val_loss"][0] - one_history["val_loss"][0]) < 1e-12 * one_history["val_loss"][0]


@pytest.fixture
def shared_folder():
    """A folder rank 0 creates and every rank is told of (one machine: one file system); removed after."""
    folder = WORLD.broadcast_value(tempfile.mkdtemp(prefix="convnp-mpi-") if WORLD.rank == 0 else None)
    yield folder
    WORLD.comm.Barrier()
    if WORLD.rank == 0:
        shutil.rmtree(folder)


def test_only_rank_0_writes_files(shared_folder):
    folder = shared_folder
    mine = f"{folder}/rank{WORLD.rank}"
    fit_run(models.lenet5(rng=0), np.float32, True, checkpoint=f"{mine}-last.npz",
            callbacks=[CSVLogger(f"{mine}-history.csv"), ModelCheckpoint(mine + "-{epoch}.npz", monitor="loss")])
    WORLD.comm.Barrier()
    files = sorted(os.listdir(folder))
    assert files == ["rank0-1.npz", "rank0-history.csv", "rank0-last.npz"]


@pytest.mark.parametrize("first, then", [(True, False), (False, True)])
def test_resume_with_another_number_of_processes(first, then, shared_folder):
    """Two epochs on two processes, a third on one (and the other way round): as three on one."""
    folder = shared_folder
    ckpt = f"{folder}/last.npz" if first else f"{folder}/last-{WORLD.rank}.npz"   # one process per rank writes its own
    fit_run(models.lenet5(rng=0), np.float64, first, epochs=2, checkpoint=ckpt)
    WORLD.comm.Barrier()
    resume = io.load(ckpt, with_optimizer=True)
    model = resume.model
    opt = io.build_optimizer(resume)
    train = data.Dataset(TRAIN.images.astype(np.float64) / 255, TRAIN.labels)
    history = fit(model, train, epochs=3, optimizer=opt, loss=nn.CrossEntropyLoss(), batch_size=64, seed=0,
                  progress=False, resume=resume, distributed=then)
    resumed = model.state_dict()
    straight, straight_history = fit_run(models.lenet5(rng=0), np.float64, False, epochs=3)
    assert len(history) == 3 and state_error(resumed, straight) < 1e-12
    assert max(abs(a - b) for a, b in zip(history["loss"], straight_history["loss"])) < 1e-12
