"""Data-parallel training over MPI: K processes, each with a share of every batch, one result.

    mpiexec -n 2 convnp train ...                    # the command line
    fit(model, train, ..., distributed=True)         # the library, under mpiexec

or the explicit loop, run by every process::

    world = distributed.init()                       # rank, size (one process without mpiexec)
    distributed.broadcast_parameters(model)          # rank 0's weights everywhere
    loader = distributed.DistributedLoader(DataLoader(train, batch_size=64, shuffle=True, rng=0))
    for x, y in loader:                              # this process's 64 / K samples of each batch
        opt.zero_grad()
        loss(model(x), y)
        model.backward(loss.backward())
        distributed.allreduce_gradients(model)       # the average over the processes
        opt.step()

MPI comes from mpi4py (``pip install 'convnp[mpi]'``: mpi4py and the mpich wheel, which brings
``mpiexec``; on a cluster, mpi4py built against the site's MPI). Without a launcher nothing of
MPI is imported and the world has one process. Files: world.py (init, World and its
collectives), gradients.py (broadcast, gradient averaging in buckets), sampler.py (who trains
on which samples), evaluate.py, faults.py (stop every process when one fails).
SyncBatchNorm is a layer: ``convnp.nn.SyncBatchNorm``.
"""
from .world import World, init, launched
from .gradients import allreduce_gradients, broadcast_buffers, broadcast_parameters
from .sampler import DistributedLoader, DistributedSampler, shard_indices
from .evaluate import evaluate
from .faults import EXPECTED, abort_on_error, stop_every_process
