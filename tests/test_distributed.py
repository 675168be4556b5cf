"""convnp.distributed in one process: the world of one, sharding, the loader's shares, bucketing,
fault reports, and SyncBatchNorm as BatchNorm. The multi-process checks run under mpiexec:
tests/test_distributed_mpi.py."""
import sys

import numpy as np
import pytest

from conftest import torch_parity
from convnp import distributed, gradcheck, io, models, nn
from convnp import functional as F
from convnp.data import DataLoader, Dataset
from convnp.distributed import gradients, world as world_module


class MirrorWorld:
    """A stand-in for K processes that all hold this process's data: every sum is K times ours."""

    def __init__(self, size=2, rank=0):
        self.size, self.rank, self.calls, self.aborted = size, rank, [], None

    def allreduce(self, array, op="sum"):
        self.calls.append((op, array.size))
        if op == "sum":
            array *= self.size
        return array

    def broadcast(self, array, root=0):
        self.calls.append(("broadcast", array.size))
        return array

    def sum(self, values):
        return [v * self.size for v in values]

    def abort(self, code=1):
        self.aborted = code


@pytest.fixture
def fresh_world(monkeypatch):
    """distributed.init() starts over (and is put back after the test)."""
    monkeypatch.setattr(world_module, "_world", None)
    for name in world_module._LAUNCHER_RANK + world_module._LAUNCHER_SIZE:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# -- init ------------------------------------------------------------------------------------
def test_init_without_a_launcher_is_one_process_and_imports_no_mpi(fresh_world):
    fresh_world.setitem(sys.modules, "mpi4py", None)   # as if mpi4py were not installed
    world = distributed.init()
    assert (world.rank, world.size, world.comm) == (0, 1, None)
    assert distributed.init() is world
    x = np.arange(3.0)
    assert world.allreduce(x) is x and world.broadcast(x) is x and list(x) == [0, 1, 2]
    assert world.sum([1.5, 2]) == [1.5, 2.0]


def test_init_under_a_launcher_without_mpi4py_refuses(fresh_world):
    fresh_world.setitem(sys.modules, "mpi4py", None)
    fresh_world.setenv("PMI_RANK", "1")
    fresh_world.setenv("PMI_SIZE", "4")
    with pytest.raises(RuntimeError, match=r"one of 4 started by an MPI launcher, but mpi4py is not installed.*"
                                           r"pip install 'convnp\[mpi\]'"):
        distributed.init()


def test_init_in_an_srun_step_of_several_tasks_needs_mpi4py(fresh_world):
    """srun starts the tasks without PMI variables when Slurm has no MPI plugin: still not a world of one."""
    fresh_world.setitem(sys.modules, "mpi4py", None)
    fresh_world.setenv("SLURM_STEP_NUM_TASKS", "8")
    assert distributed.launched()
    with pytest.raises(RuntimeError, match=r"one of 8 started by an MPI launcher"):
        distributed.init()


def test_init_under_a_launcher_of_one_process_needs_no_mpi4py(fresh_world):
    fresh_world.setitem(sys.modules, "mpi4py", None)
    fresh_world.setenv("PMI_RANK", "0")
    fresh_world.setenv("PMI_SIZE", "1")
    assert distributed.init().size == 1


def test_init_checks_the_timeout(fresh_world):
    with pytest.raises(ValueError, match=r"distributed.init: timeout must be > 0, got -1"):
        distributed.init(timeout=-1)


# -- sharding --------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 7, 10, 12])
@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("drop_last", [False, True])
def test_shards_cover_the_order_once_apart_from_padding(n, size, drop_last):
    order = np.random.default_rng(n).permutation(n)
    shards = [distributed.shard_indices(order, r, size, drop_last) for r in range(size)]
    assert len({len(s) for s in shards}) == 1                     # equal: the same number of steps
    both = np.concatenate(shards)
    if drop_last:
        assert len(both) == n - n % size and len(set(both.tolist())) == len(both)
        assert set(both.tolist()) == set(order[:len(both)].tolist())
    else:
        assert len(both) == -(-n // size) * size and set(both.tolist()) == set(range(n))
        assert len(both) - len(set(both.tolist())) == (-n) % size   # the only repeats: the padding


@pytest.mark.parametrize("n, size", [(10, 3), (2, 5), (9, 3)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_gives_pytorchs_indices(n, size, drop_last):
    pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler

    for rank in range(size):
        ours = distributed.DistributedSampler(n, num_replicas=size, rank=rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(range(n), num_replicas=size, rank=rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_sampler_shuffles_alike_on_every_rank_and_anew_each_epoch():
    samplers = [distributed.DistributedSampler(11, num_replicas=3, rank=r, seed=5) for r in range(3)]
    first = [list(s) for s in samplers]
    order = np.random.default_rng([5, 0]).permutation(11)
    assert first == [distributed.shard_indices(order, r, 3).tolist() for r in range(3)]
    for s in samplers:
        s.set_epoch(1)
    assert [list(s) for s in samplers] != first
    assert sorted(set(sum((list(s) for s in samplers), []))) == list(range(11))


def test_sampler_errors():
    with pytest.raises(ValueError, match=r"DistributedSampler: rank must be in \[0, 1\], got 2"):
        distributed.DistributedSampler(5, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match=r"num_replicas must be > 0, got 0"):
        distributed.DistributedSampler(5, num_replicas=0, rank=0)
    with pytest.raises(ValueError, match=r"shard_indices: rank must be in \[0, 2\], got -1"):
        distributed.shard_indices(np.arange(4), -1, 3)


# -- the loader's shares -----------------------------------------------------------------------
def index_dataset(n):
    """Images whose single pixel is their own index, so a batch shows which samples it holds."""
    return Dataset(np.arange(n, dtype=np.float64).reshape(n, 1, 1, 1), np.zeros(n, dtype=np.int64))


def shares(n, batch, size, seed, **options):
    """Per rank, the index batches DistributedLoader yields over one epoch (every rank seeded alike)."""
    out = []
    for rank in range(size):
        loader = DataLoader(index_dataset(n), batch_size=batch, shuffle=True, rng=seed, **options)
        out.append([x.ravel().astype(int) for x, _ in distributed.DistributedLoader(loader, MirrorWorld(size, rank))])
    return out


@pytest.mark.parametrize("n, batch, size", [(12, 4, 2), (13, 6, 3), (10, 4, 2), (5, 8, 4)])
def test_loader_shares_make_up_the_dataloaders_batches(n, batch, size):
    plain = [x.ravel().astype(int) for x, _ in DataLoader(index_dataset(n), batch_size=batch, shuffle=True, rng=3)]
    per_rank = shares(n, batch, size, seed=3)
    assert all(len(p) == len(plain) for p in per_rank)              # the same steps on every rank
    order = np.concatenate(plain)
    for rank in range(size):
        mine = np.concatenate(per_rank[rank])
        assert mine.tolist() == distributed.shard_indices(order, rank, size).tolist()
    for step, batch_indices in enumerate(plain):
        parts = [per_rank[rank][step] for rank in range(size)]
        assert len({len(p) for p in parts}) == 1                   # equal shares
        together = set(np.concatenate(parts).tolist())
        padding = set(order[:(-n) % size].tolist()) if step == len(plain) - 1 else set()
        assert together - padding == set(batch_indices.tolist()) - padding <= together


def test_loader_drop_last_drops_instead_of_padding():
    per_rank = shares(10, 4, 2, seed=0, drop_last=True)
    assert [len(p) for p in per_rank] == [2, 2]
    both = np.concatenate([np.concatenate(p) for p in per_rank])
    assert len(both) == 8 and len(set(both.tolist())) == 8


def test_loader_applies_a_transform_to_the_whole_batch():
    """A random transform draws for the whole batch, as one process would; each rank keeps its share."""
    def jitter(x):
        return x + rng_t.standard_normal(x.shape)

    rng_t = np.random.default_rng(0)
    plain = [x.ravel() for x, _ in DataLoader(index_dataset(8), batch_size=4, shuffle=True, rng=1, transform=jitter)]
    for rank in range(2):
        rng_t = np.random.default_rng(0)
        loader = DataLoader(index_dataset(8), batch_size=4, shuffle=True, rng=1, transform=jitter)
        mine = [x.ravel() for x, _ in distributed.DistributedLoader(loader, MirrorWorld(2, rank))]
        assert all(np.array_equal(m, p[rank::2]) for m, p in zip(mine, plain))


def test_loader_one_process_is_the_dataloader():
    a = list(DataLoader(index_dataset(10), batch_size=4, shuffle=True, rng=2))
    b = list(distributed.DistributedLoader(DataLoader(index_dataset(10), batch_size=4, shuffle=True, rng=2),
                                           distributed.World()))
    assert len(a) == len(b)
    assert all(np.array_equal(x1, x2) and np.array_equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))


def test_loader_errors():
    loader = DataLoader(index_dataset(10), batch_size=5)
    with pytest.raises(ValueError, match=r"DistributedLoader: the batch size 5 is not a multiple of the 2 processes"):
        distributed.DistributedLoader(loader, MirrorWorld(2))
    with pytest.raises(TypeError, match=r"DistributedLoader: expected a DataLoader, got tuple"):
        distributed.DistributedLoader((np.zeros((2, 1, 1, 1)), np.zeros(2, int)), MirrorWorld(2))


# -- gradients in buckets ----------------------------------------------------------------------
def test_gradients_travel_in_one_bucket_and_come_back_averaged():
    model = models.lenet5(rng=0)
    rng = np.random.default_rng(0)
    for p in model.parameters():
        p.grad[...] = rng.standard_normal(p.shape)
    before = [p.grad.copy() for p in model.parameters()]
    world = MirrorWorld(3)
    distributed.allreduce_gradients(model, world)
    sums = [c for c in world.calls if c[0] == "sum"]
    assert sums == [("sum", model.num_parameters())]               # one Allreduce for all ten parameters
    assert all(np.allclose(p.grad, b, rtol=1e-6) for p, b in zip(model.parameters(), before))
    world.calls.clear()
    distributed.allreduce_gradients(model, world)                   # the plan is reused: no new check
    assert world.calls == [("sum", model.num_parameters())]


def test_buckets_split_by_size_and_dtype(monkeypatch):
    monkeypatch.setattr(gradients, "BUCKET_BYTES", 4 * 2500)        # 2,500 float32 values
    model = models.lenet5(rng=0)
    model.layers[-1].to(np.float64)
    model.layers[-3].requires_grad_(False)                           # frozen: left out
    world = MirrorWorld(2)
    distributed.allreduce_gradients(model, world)
    sizes = [size for op, size in world.calls if op == "sum"]
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sum(sizes) == sum(p.size for p in trainable)
    # conv1 | conv2 | fc1's weight alone (larger than a bucket) | fc1's bias | fc3 (float64)
    assert sizes == [156, 2416, 48000, 120, 850]


def test_broadcast_covers_parameters_and_buffers():
    model = models.vgg_small(width=4, rng=0)
    world = MirrorWorld(2)
    distributed.broadcast_parameters(model, world=world)
    sizes = [size for op, size in world.calls if op == "broadcast"]
    buffers = sum(np.asarray(b).size for _, b in model.named_buffers())
    assert sum(sizes) == model.num_parameters() + buffers and len(sizes) == 2   # float32 and int64 buckets
    world.calls.clear()
    distributed.broadcast_buffers(model, world=world)
    assert sum(size for op, size in world.calls if op == "broadcast") == buffers


def test_one_process_changes_nothing():
    model = models.lenet5(rng=0)
    for p in model.parameters():
        p.grad[...] = 1.5
    distributed.allreduce_gradients(model, distributed.World())
    distributed.broadcast_parameters(model, world=distributed.World())
    assert all((p.grad == 1.5).all() for p in model.parameters())


def test_each_rank_draws_its_own_dropout_masks_and_the_same_order():
    from convnp.distributed.training import own_streams

    def streams(rank):
        gens = {"loader": np.random.default_rng(1), "transform.0": np.random.default_rng(2),
                "model.3.rng": np.random.default_rng(3)}
        own_streams(gens, rank)
        return {name: g.random() for name, g in gens.items()}

    ranks = [streams(r) for r in range(3)]
    assert ranks[0] == {"loader": np.random.default_rng(1).random(), "transform.0": np.random.default_rng(2).random(),
                        "model.3.rng": np.random.default_rng(3).random()}           # rank 0: as without MPI
    assert all(r["loader"] == ranks[0]["loader"] and r["transform.0"] == ranks[0]["transform.0"] for r in ranks)
    assert len({r["model.3.rng"] for r in ranks}) == 3 and streams(2) == ranks[2]   # distinct, reproducible


def test_fit_distributed_on_one_process_is_fit():
    """The distributed path in a world of one: the same batches and steps, so the same weights bit for bit."""
    from convnp import optim
    from convnp.train import fit

    train = data_sample(100)
    runs = []
    for distributed_ in (False, True):
        model = models.lenet5(rng=0)
        history = fit(model, train, epochs=2, optimizer=optim.Adam(model.parameters()), loss=nn.CrossEntropyLoss(),
                      batch_size=20, seed=3, progress=False, val=data_sample(30), distributed=distributed_)
        runs.append((model.state_dict(), history))
    (a, ha), (b, hb) = runs
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert ha["accuracy"] == hb["accuracy"] and ha["val_loss"] == hb["val_loss"]
    assert np.allclose(ha["loss"], hb["loss"], rtol=1e-15)


def data_sample(n):
    from convnp import data

    return data.mnist_sample(train=True).subset(np.arange(n))


# -- faults ------------------------------------------------------------------------------------
@pytest.mark.parametrize("error, code", [(ValueError("bad value"), 1), (KeyboardInterrupt(), 130)])
def test_abort_on_error_reports_and_aborts(capsys, error, code):
    world = MirrorWorld(2, rank=1)
    with pytest.raises(type(error)):
        with distributed.abort_on_error(world, who="fit"):
            raise error
    assert world.aborted == code
    text = "ValueError: bad value" if code == 1 else "interrupted"
    assert capsys.readouterr().err == f"fit: rank 1 of 2 failed: {text}; stopping all 2 processes\n"


def test_abort_on_error_shows_the_traceback_of_a_bug(capsys):
    world = MirrorWorld(2)
    with pytest.raises(KeyError):
        with distributed.abort_on_error(world):
            {}["missing"]
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.endswith("convnp: rank 0 of 2 failed: KeyError: 'missing'; stopping all 2 processes\n")


def test_abort_on_error_on_one_process_lets_the_error_through():
    world = distributed.World()
    with pytest.raises(ValueError, match="as is"):
        with distributed.abort_on_error(world):
            raise ValueError("as is")


# -- evaluation ------------------------------------------------------------------------------
def test_evaluate_on_one_process_is_evaluate():
    from convnp.train import evaluate

    rng = np.random.default_rng(0)
    data = (rng.integers(0, 256, (50, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, 50))
    model = models.lenet5(rng=0)
    loss = nn.CrossEntropyLoss()
    assert distributed.evaluate(model, data, loss=loss, batch_size=16, world=distributed.World()) == \
        evaluate(model, DataLoader(data, batch_size=16), loss=loss)


# -- SyncBatchNorm -----------------------------------------------------------------------------
def channel_data(rng, shape):
    c = shape[1]
    b = (1, c) + (1,) * (len(shape) - 2)
    return rng.standard_normal(shape) * rng.uniform(0.5, 3.0, b) + rng.uniform(-2, 2, b)


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4), (2, 3, 4, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sync_batch_norm_on_one_process_is_batch_norm(shape, dtype):
    """The same computation as BatchNorm: equal bit for bit, outputs, gradients and statistics."""
    rng = np.random.default_rng(1)
    x, dy = channel_data(rng, shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    plain = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(shape[1], momentum=0.3).to(dtype)
    sync = nn.SyncBatchNorm(shape[1], momentum=0.3, world=distributed.World()).to(dtype)
    for mode in (True, False):
        plain.train(mode), sync.train(mode)
        assert np.array_equal(sync(x), plain(x))
        assert np.array_equal(sync.backward(dy), plain.backward(dy))
        assert np.array_equal(sync.weight.grad, plain.weight.grad) and np.array_equal(sync.bias.grad, plain.bias.grad)
        assert np.array_equal(sync.running_mean, plain.running_mean)
        assert np.array_equal(sync.running_var, plain.running_var)


def test_sync_batch_norm_sums_the_count_too():
    """Two processes holding the same x: the statistics are those of [x, x], whose unbiased variance
    (for the running statistics) divides by 2M - 1, not M - 1."""
    rng = np.random.default_rng(2)
    x = channel_data(rng, (3, 2, 4, 4))
    sync = nn.SyncBatchNorm(2, world=MirrorWorld(2)).to(np.float64)
    plain = nn.BatchNorm2d(2).to(np.float64)
    y = sync(x)
    np.testing.assert_allclose(y, plain(np.concatenate([x, x]))[:3], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sync.running_var, plain.running_var, rtol=1e-12)
    sync.eval()
    n_calls = len(sync.world.calls)
    sync(x)
    assert len(sync.world.calls) == n_calls                        # eval: running statistics, nothing exchanged


def test_sync_batch_norm_functional_gradcheck():
    rng = np.random.default_rng(3)

    def forward(x, w, b):
        return F.sync_batch_norm_forward(x, None, None, w, b, training=True, eps=1e-3, world=distributed.World())

    gradcheck.check_function(forward, F.sync_batch_norm_backward,
                             [channel_data(rng, (4, 3, 2, 2)), rng.uniform(0.5, 2, 3), rng.standard_normal(3)], rng=rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sync_batch_norm_matches_pytorch(torch, dtype):
    rng = np.random.default_rng(4)
    layer = nn.SyncBatchNorm(3, momentum=0.2, world=distributed.World()).to(dtype)
    layer.weight.data = rng.uniform(0.5, 2, 3).astype(dtype)
    torch_parity(layer, torch.nn.SyncBatchNorm(3, momentum=0.2), channel_data(rng, (4, 3, 5, 5)).astype(dtype),
                 dtype=dtype)


def test_convert_sync_batchnorm_keeps_weights_statistics_and_dtype():
    model = models.resnet_small(width=4, rng=0).to(np.float64)
    rng = np.random.default_rng(5)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.running_mean = rng.standard_normal(bn.num_features)
    bns[0].requires_grad_(False)
    state = model.state_dict()
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model, world=distributed.World())
    assert converted is model
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    syncs = [m for m in model.modules() if isinstance(m, nn.SyncBatchNorm)]
    assert len(syncs) == len(bns) and not syncs[0].weight.requires_grad and syncs[1].weight.requires_grad
    after = model.state_dict()
    assert list(after) == list(state) and all(np.array_equal(after[k], state[k]) and after[k].dtype == state[k].dtype
                                              for k in state)
    x = rng.standard_normal((2, 3, 32, 32))
    assert model(x).shape == (2, 10)


class TwoBranches(nn.Model):
    """A model with its own forward: one BatchNorm shared by two calls, another in a ModuleDict."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1, rng=0)
        self.shared = nn.BatchNorm2d(2)
        self.heads = nn.ModuleDict({"a": nn.BatchNorm2d(2)})

    def forward(self, x):
        return nn.add(self.shared(self.conv(x)), self.heads["a"](self.shared(x)))


def test_convert_sync_batchnorm_in_a_model_keeps_shared_layers_shared():
    rng = np.random.default_rng(6)
    x, dy = rng.standard_normal((3, 2, 4, 4)), rng.standard_normal((3, 2, 4, 4))
    plain, sync = TwoBranches().to(np.float64), TwoBranches().to(np.float64)
    nn.SyncBatchNorm.convert_sync_batchnorm(sync, world=distributed.World())
    assert isinstance(sync.shared, nn.SyncBatchNorm) and isinstance(sync.heads["a"], nn.SyncBatchNorm)
    assert [name for name, _ in sync.named_parameters()] == [name for name, _ in plain.named_parameters()]
    assert np.array_equal(sync(x), plain(x))
    assert np.array_equal(sync.backward(dy), plain.backward(dy))
    assert all(np.array_equal(a.grad, b.grad) for a, b in zip(sync.parameters(), plain.parameters()))
    assert int(sync.shared.num_batches_tracked) == 2                    # one layer, called twice


def test_sync_batch_norm_in_a_model_file(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.SyncBatchNorm(2, eps=1e-3, momentum=None), nn.Flatten())
    io.save(tmp_path / "m.npz", model)
    loaded = io.load(tmp_path / "m.npz")
    layer = loaded.layers[1]
    assert isinstance(layer, nn.SyncBatchNorm) and (layer.eps, layer.momentum) == (1e-3, None)
    assert repr(layer) == "SyncBatchNorm(2, eps=0.001, momentum=None, affine=True, track_running_stats=True)"


def test_sync_batch_norm_input_errors():
    layer = nn.SyncBatchNorm(3)
    with pytest.raises(ValueError, match=r"SyncBatchNorm\(3.*\): expected input \(N, 3\), \(N, 3, L\) or"
                                         r" \(N, 3, H, W\), got \(2, 4, 5, 5\)"):
        layer(np.zeros((2, 4, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected more than 1 value per channel when training"):
        layer(np.zeros((1, 3), dtype=np.float32))
