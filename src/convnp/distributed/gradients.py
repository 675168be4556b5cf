"""Keep the model the same on every process: broadcast the weights once, average the gradients every step.

Arrays travel in buckets: flat buffers of one dtype, each up to ``BUCKET_BYTES``, so a step makes
a few large Allreduce calls instead of one per parameter (LeNet-5's ten parameters, 61,706
float32 values, go in one call). Each call costs a latency of its own, whatever its size, and
the MPI library pipelines a large buffer better than many small ones.
"""
import weakref
import zlib

import numpy as np

from .world import init

BUCKET_BYTES = 25 * 2**20   # the size PyTorch's DistributedDataParallel uses (bucket_cap_mb=25)

_plans = weakref.WeakKeyDictionary()   # model -> _GradientPlan, reused while its parameters stay


def broadcast_parameters(model, root=0, world=None):
    """Copy rank ``root``'s parameters and buffers (running statistics) to every process, in place.

    Call it once before training, so that every process starts from the same weights.
    Raises ValueError on every process when the models differ in their parameter and buffer
    names, shapes or dtypes (nothing is copied then).
    """
    world = world or init()
    _broadcast(model, [(name, p.data) for name, p in model.named_parameters()] + _buffers(model),
               root, world, "broadcast_parameters")


def broadcast_buffers(model, root=0, world=None):
    """Copy rank ``root``'s buffers (BatchNorm running statistics) to every process, in place.

    With plain BatchNorm each process updates its running statistics from its own share of the
    batch; fit(distributed=True) then keeps rank 0's, as PyTorch's DistributedDataParallel does.
    """
    world = world or init()
    _broadcast(model, _buffers(model), root, world, "broadcast_buffers")


def allreduce_gradients(model, world=None):
    """Replace each parameter's gradient by its average over every process, in place.

    Call it between ``model.backward`` and ``optimizer.step``. When every process computed the
    mean loss over an equal share of the global batch (DistributedLoader's shares are equal),
    the average is the gradient of the mean loss over the whole global batch. Frozen
    parameters (requires_grad False) are left out. Nothing happens on a world of one process.
    """
    world = world or init()
    if world.size == 1:
        return
    plan = _plans.get(model)
    params = [p for p in model.parameters() if p.requires_grad]
    if plan is None or not plan.fits(params):
        _check_same(world, _signature([(str(i), p.grad) for i, p in enumerate(params)]), "allreduce_gradients")
        plan = _plans[model] = _GradientPlan(params)
    for bucket, members in zip(plan.buffers, plan.buckets):
        _pack(bucket, [p.grad for p in members])
        world.allreduce(bucket)
        bucket /= world.size
        _unpack(bucket, [p.grad for p in members])


class _GradientPlan:
    """The buckets of a model's gradients: which parameters share which flat buffer."""

    def __init__(self, params):
        self.key = _key(params)
        self.buckets = _buckets([p.grad for p in params], params)
        self.buffers = [np.empty(sum(p.size for p in members), dtype=members[0].dtype) for members in self.buckets]

    def fits(self, params):
        return self.key == _key(params)


def _key(params):
    return [(id(p), p.shape, p.dtype) for p in params]


def _buckets(arrays, items):
    """``items`` grouped by dtype (in first-seen order), each group cut in order into buckets of at
    most BUCKET_BYTES (an array larger than that travels alone)."""
    by_dtype = {}
    for array, item in zip(arrays, items):
        by_dtype.setdefault(array.dtype, []).append((array, item))
    buckets = []
    for group in by_dtype.values():
        size = None
        for array, item in group:
            if size is None or size + array.nbytes > BUCKET_BYTES:
                buckets.append([])
                size = 0
            buckets[-1].append(item)
            size += array.nbytes
    return buckets


def _broadcast(model, named, root, world, who):
    if world.size == 1:
        return
    if not 0 <= root < world.size:
        raise ValueError(f"{who}: root must be a rank in [0, {world.size - 1}], got {root}")
    _check_same(world, _signature(named), who)
    arrays = [a for _, a in named]
    for members in _buckets(arrays, arrays):
        flat = np.empty(sum(a.size for a in members), dtype=members[0].dtype)
        _pack(flat, members)
        world.broadcast(flat, root)
        _unpack(flat, members)


def _buffers(model):
    return [(name, b) for name, b in model.named_buffers() if b is not None]


def _pack(flat, arrays):
    start = 0
    for a in arrays:
        flat[start:start + a.size] = a.reshape(-1)
        start += a.size


def _unpack(flat, arrays):
    start = 0
    for a in arrays:
        a[...] = flat[start:start + a.size].reshape(a.shape)
        start += a.size


def _signature(named):
    """A short text naming every array with its shape and dtype: equal on every process for equal models."""
    return ";".join(f"{name}:{tuple(a.shape)}:{a.dtype}" for name, a in named)


def _check_same(world, signature, who):
    """Raise ValueError on every process unless ``signature`` is the same on all (one collective)."""
    code = zlib.crc32(signature.encode())
    high, minus_low = world.allreduce(np.array([code, -code], dtype=np.int64), op="max")
    if high != -minus_low:
        raise ValueError(f"{who}: the model is not the same on every process (rank {world.rank} has"
                         f" {signature[:200]!r}...); build the same model on each")
