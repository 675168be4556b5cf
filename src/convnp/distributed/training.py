"""The pieces ``fit(..., distributed=True)`` adds to its loop (train.py calls them where they act)."""
import numpy as np

from .world import World, init


def world_for(distributed):
    """The World that fit's ``distributed`` argument names: None (one process), init()'s, or the one given."""
    if distributed is False or distributed is None:
        return None
    if distributed is True:
        return init()
    if isinstance(distributed, World):
        return distributed
    raise TypeError(f"fit: distributed must be True, False or a convnp.distributed World, got {distributed!r}")


def shared_seed(world, seed):
    """``seed``, or when it is None one drawn by rank 0 for all: every process must shuffle alike."""
    return seed if seed is not None else world.broadcast_value(int(np.random.SeedSequence().entropy))


def batch_totals(world, value, hits, n):
    """(mean loss, hits, samples) of the whole batch from this process's share: one small allreduce.

    Every process then sees the same loss, so a NaN stops all of them at the same batch.
    """
    loss_sum, hits, n = world.sum([value * n, hits, n])
    return loss_sum / n, int(hits), int(n)
