"""SyncBatchNorm: batch normalisation over the whole batch of a data-parallel run (torch.nn.SyncBatchNorm)."""
from .module import Layer
from .norm import _BatchNorm


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation whose training statistics cover every process's share of the batch.

    Args: num_features (C), eps=1e-5, momentum=0.1, affine=True, track_running_stats=True
    (BatchNorm2d's), world=None (a ``convnp.distributed`` World; None: ``distributed.init()``'s,
    found at the first training forward).
    Shape: input (N, C), (N, C, L) or (N, C, H, W) -> output same.
    Parameters and buffers: BatchNorm2d's, under the same names.
    In training the mean and variance are those of the whole global batch (see
    ``convnp.functional.sync_batch_norm_forward``: per-channel sums are added over the
    processes in forward and in backward), so a model trained on K processes with it computes
    what the same model with BatchNorm computes on one process holding the whole batch. On one
    process, and in eval mode, it is BatchNorm. Every process must run the same layers in the
    same order (the sums are collectives). ``config()`` leaves ``world`` out: it says where a
    model runs, not what it is, so a saved model loads as SyncBatchNorm on any world.
    """

    _ndims = (2, 3, 4)
    _pattern = "(N, {C}), (N, {C}, L) or (N, {C}, H, W)"

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, world=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.world = world

    def _allreduce(self):
        if not self.training:
            return None
        if self.world is None:
            from ..distributed import init

            self.world = init()
        return self.world.allreduce if self.world.size > 1 else None

    @classmethod
    def convert_sync_batchnorm(cls, module, world=None):
        """``module`` with every BatchNorm1d/2d replaced by a SyncBatchNorm holding its weights and statistics.

        As torch.nn.SyncBatchNorm.convert_sync_batchnorm: layers inside a model (attributes,
        ModuleList, ModuleDict, Sequential) are replaced in place, a layer used in several places
        by one SyncBatchNorm; a BatchNorm given directly comes back converted.
        """
        converted = {}   # id(BatchNorm) -> its SyncBatchNorm: a shared layer stays shared

        def convert(value):
            if not isinstance(value, _BatchNorm) or isinstance(value, cls):
                return value
            if id(value) not in converted:
                converted[id(value)] = cls._from(value, world)
            return converted[id(value)]

        seen = set()

        def walk(layer):   # every attribute, list (ModuleList) and dict (ModuleDict) of every layer
            if id(layer) in seen:
                return
            seen.add(id(layer))
            for name, value in list(vars(layer).items()):
                if isinstance(value, list):
                    value[:] = [convert(v) for v in value]
                elif isinstance(value, dict):
                    value.update({k: convert(v) for k, v in value.items()})
                elif convert(value) is not value:
                    setattr(layer, name, convert(value))
                for v in (value if isinstance(value, list) else value.values() if isinstance(value, dict) else [value]):
                    if isinstance(v, Layer):
                        walk(v)

        walk(module)
        return convert(module)

    @classmethod
    def _from(cls, bn, world):
        sync = cls(world=world, **bn.config())
        state = bn.state_dict()
        dtype = next((v.dtype for v in state.values() if v.dtype.kind == "f"), None)
        if dtype is not None:
            sync.to(dtype)
        sync.load_state_dict(state)
        for name, p in bn.named_parameters():
            getattr(sync, name).requires_grad = p.requires_grad
        sync.training = bn.training
        return sync
