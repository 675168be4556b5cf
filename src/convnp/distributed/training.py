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


def own_streams(generators, rank):
    """On ranks > 0, give each of the model's Generators (Dropout's) a stream of its own, in place.

    ``generators`` is fit's {name: Generator} ("loader", "transform.i", "model.<layer>.rng"); every
    process starts with the same states. The loader's and the transforms' must stay alike (every
    process draws the same order and transforms the whole batch), but a model's would give the
    samples at the same place in each process's share the same Dropout masks. Rank r's stream
    is seeded from the shared state and r; rank 0 keeps the shared one, so one process runs as
    without MPI and a checkpoint (rank 0's states) resumes alike with any number of processes.
    """
    if rank == 0:
        return
    for name, gen in generators.items():
        if name.startswith("model."):
            shared = np.random.Generator(type(gen.bit_generator)())
            shared.bit_generator.state = gen.bit_generator.state
            seed = np.random.SeedSequence([int(shared.integers(2**63)), rank])
            gen.bit_generator.state = type(gen.bit_generator)(seed).state


def batch_totals(world, value, hits, n):
    """(mean loss, hits, samples) of the whole batch from this process's share: one small allreduce.

    Every process then sees the same loss, so a NaN stops all of them at the same batch.
    """
    loss_sum, hits, n = world.sum([value * n, hits, n])
    return loss_sum / n, int(hits), int(n)
