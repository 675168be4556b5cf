"""Synchronised batch normalisation: the statistics of the whole batch, spread over several processes.

Each process holds a share of the batch. The math is batch normalisation's
(``functional/norm.py``); what changes is that four per-channel sums are added up over the
processes before they are used, so every process normalises with the mean and variance of the
whole batch, and its input gradient is the one a single process holding the whole batch would
compute for its samples:

  forward:  sum(x) and the count M, then sum((x - mean)^2)      (two allreduces, C + 1 and C values)
  backward: sum(dy) and sum(dy * x_hat)                          (one allreduce, 2C values)

The parameter gradients dweight = sum(dy * x_hat) and dbias = sum(dy) stay each process's own:
averaging gradients over the processes (``distributed.allreduce_gradients``) combines them as
for every other parameter. With one process (``world.size == 1``) or outside training nothing
is exchanged and the op is ``batch_norm_forward`` itself.
"""
from .norm import batch_norm_backward, batch_norm_forward


def sync_batch_norm_forward(x, running_mean, running_var, weight=None, bias=None, training=False,
                            momentum=0.1, eps=1e-5, world=None, who="sync_batch_norm"):
    """batch_norm_forward with the batch statistics of every process of ``world`` together.

    Args: as batch_norm_forward; world: a ``convnp.distributed`` World (anything with ``size``
    and ``allreduce(array) -> sum over the processes``), None for this process alone.
    Shape: x (N_r, C, *) on process r; the statistics are over all N = sum(N_r) samples.
    Returns: (y, cache); sync_batch_norm_backward(dy, cache) -> (dx, dweight, dbias).
    """
    allreduce = world.allreduce if training and world is not None and world.size > 1 else None
    return batch_norm_forward(x, running_mean, running_var, weight, bias, training=training,
                              momentum=momentum, eps=eps, who=who, allreduce=allreduce)


def sync_batch_norm_backward(dy, cache):
    """(dx, dweight, dbias): dx from the sums over every process, dweight and dbias this process's own."""
    return batch_norm_backward(dy, cache)
