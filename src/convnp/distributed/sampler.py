"""Which samples each process trains on: one shuffled order shared by all, cut into equal shares.

Every process draws the same order (from the same seed), pads it by repeating its start until
its length is a multiple of the number of processes K, and takes every K-th index from its
rank on: the shares are disjoint apart from the padding, of equal length, and together they are
the dataset. This is torch.utils.data.DistributedSampler's rule, so a share is the same list
of indices PyTorch would give for the same order.
"""
import math

import numpy as np

from .. import checks
from ..data import DataLoader
from .world import init


def shard_indices(order, rank, size, drop_last=False):
    """Rank ``rank``'s share of ``order`` among ``size`` processes: ``padded[rank::size]``.

    ``padded`` is ``order`` followed by its first indices again (cyclically, as often as
    needed) up to a multiple of ``size``; with ``drop_last`` it is instead cut down to one.
    Shape: order (N,) -> (ceil(N / size),), or (N // size,) with drop_last.
    """
    size = checks.positive_int(size, "size", "shard_indices")
    if not 0 <= rank < size:
        raise ValueError(f"shard_indices: rank must be in [0, {size - 1}], got {rank}")
    order = np.asarray(order)
    if drop_last:
        order = order[:len(order) - len(order) % size]
    else:
        order = np.concatenate([order, np.resize(order, (-len(order)) % size)])
    return order[rank::size]


class DistributedSampler:
    """The indices one process visits in an epoch, as torch.utils.data.DistributedSampler gives them.

    Args: dataset (a Dataset, or its length), num_replicas and rank (default: from
    ``distributed.init()``), shuffle=True, seed=0, drop_last=False.
    Each epoch's order is ``np.random.default_rng([seed, epoch]).permutation(N)`` (``arange(N)``
    without shuffle): the same on every process, a new one after ``set_epoch(epoch)``.
    ``len(sampler)`` is the share's length, ``ceil(N / num_replicas)`` (``N // num_replicas``
    with drop_last); iterating gives the indices as ints.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        n = dataset if isinstance(dataset, int) else len(dataset)
        if num_replicas is None or rank is None:
            world = init()
            num_replicas = world.size if num_replicas is None else num_replicas
            rank = world.rank if rank is None else rank
        self.num_replicas = checks.positive_int(num_replicas, "num_replicas", "DistributedSampler")
        if not isinstance(rank, int) or not 0 <= rank < self.num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {self.num_replicas - 1}], got {rank!r}")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"DistributedSampler: seed must be an int >= 0, got {seed!r}")
        self.n, self.rank, self.shuffle, self.seed, self.drop_last = n, rank, bool(shuffle), seed, bool(drop_last)
        self.epoch = 0
        self.num_samples = n // self.num_replicas if self.drop_last else math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch):
        """Use epoch ``epoch``'s order from now on (call it at the start of every epoch)."""
        self.epoch = int(epoch)

    def __iter__(self):
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.n) if self.shuffle
                 else np.arange(self.n))
        return iter(shard_indices(order, self.rank, self.num_replicas, self.drop_last).tolist())

    def __len__(self):
        return self.num_samples


class DistributedLoader:
    """This process's share of every batch a DataLoader gives: how fit(distributed=True) reads data.

    Every process holds the same ``loader`` (dataset, global batch size B, and a shuffle
    Generator seeded alike), so all draw the same order each epoch. The order is padded as in
    ``shard_indices`` and cut into the loader's batches; of each batch this process takes every
    K-th sample from its rank on, B / K samples. Batch j on rank r is therefore the j-th batch
    of ``shard_indices(order, r, K)`` in batches of B / K (what PyTorch's DistributedSampler with a
    DataLoader of batch size B / K gives), and the K shares of a step together are the batch one
    process would train on: the same steps, the same order, for any K. The loader's
    ``drop_last`` drops an incomplete last batch instead of padding. A ``transform`` runs on the
    whole batch, then the share is taken, so random transforms draw what one process would draw.

    Raises ValueError when B is not a multiple of K (the shares must be equal: the average of
    the processes' mean losses is the mean loss of the batch only then).
    """

    def __init__(self, loader, world=None):
        if not isinstance(loader, DataLoader):
            raise TypeError(f"DistributedLoader: expected a DataLoader, got {type(loader).__name__}")
        world = world or init()
        if loader.batch_size % world.size:
            raise ValueError(f"DistributedLoader: the batch size {loader.batch_size} is not a multiple of the"
                             f" {world.size} processes; each computes an equal share of every batch")
        self.loader, self.world = loader, world
        self.batch_size = loader.batch_size // world.size   # this process's share of a batch

    # The loader's Generators, so that fit seeds, saves and restores them as for a DataLoader.
    @property
    def rng(self):
        return self.loader.rng

    @property
    def transform(self):
        return self.loader.transform

    @property
    def dataset(self):
        return self.loader.dataset

    def __len__(self):
        return len(self.loader)  # padding to a multiple of K never adds a batch: B is one too

    def __iter__(self):
        loader, k, r = self.loader, self.world.size, self.world.rank
        images, labels = loader.dataset.images, loader.dataset.labels
        n = len(images)
        order = loader.rng.permutation(n) if loader.shuffle else np.arange(n)
        if not loader.drop_last:
            order = np.concatenate([order, np.resize(order, (-n) % k)])
        size = loader.batch_size
        for b in range(len(self)):
            idx = order[b * size:(b + 1) * size]
            # loader._batch: the DataLoader's own conversion (uint8 -> float, transform), for equal batches
            if loader.transform is None:
                yield loader._batch(images[idx[r::k]], labels[idx[r::k]])
            else:
                x, y = loader._batch(images[idx], labels[idx])
                yield np.ascontiguousarray(x[r::k]), y[r::k]

    def __repr__(self):
        return f"DistributedLoader({self.loader!r}, rank={self.world.rank}, size={self.world.size})"
