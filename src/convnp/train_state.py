"""What a training run saves and restores: the TrainState that callbacks see, and the random streams.

``fit`` gathers every Generator that training draws from (the loader's shuffling, a random
transform's, each Dropout's) under a stable name, seeds them from one seed, writes their
states into each checkpoint and restores them on resume, so that 2 + 1 epochs give the
same weights bit for bit as 3.
"""
import numpy as np

from .io import save as save_checkpoint


class TrainState:
    """What callbacks see: the model, optimizer, history, current epoch, and a stop switch."""

    def __init__(self, model, optimizer, history, generators, scheduler=None):
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.history = history
        self.generators = generators
        self.epoch = 0
        self.stop_training = False
        self.rank = 0   # in a distributed run, this process's: only rank 0 writes files
        self.saved_epoch = None   # the epoch that fit's checkpoint file holds, once fit wrote it

    def rng_state(self):
        """Bit-generator states of every Generator training draws from, by name."""
        return {name: gen.bit_generator.state for name, gen in self.generators.items()}

    def save(self, path, metadata=None):
        """Write a checkpoint that ``fit(..., resume=convnp.io.load(path, with_optimizer=True))`` continues.

        Its metadata holds "history" (History.to_dict()) and, with a scheduler,
        "scheduler": {"class": "StepLR", "state": scheduler.state_dict()}.
        Writes nothing on ranks other than 0 of a distributed run.
        """
        if self.rank != 0:
            return
        meta = {"history": self.history.to_dict(), **(metadata or {})}
        if self.scheduler is not None:
            meta["scheduler"] = {"class": type(self.scheduler).__name__, "state": self.scheduler.state_dict()}
        save_checkpoint(path, self.model, self.optimizer, epoch=self.epoch,
                        rng_state=self.rng_state(), metadata=meta)


def generators_of(model, loader):
    """Every Generator that training draws from, by a stable name: the loader's, its
    transform's, and each layer's (Dropout), so they can be seeded, saved and restored."""
    gens = {}
    if getattr(loader, "rng", None) is not None:
        gens["loader"] = loader.rng
    for i, t in enumerate(transforms_of(getattr(loader, "transform", None))):
        if isinstance(getattr(t, "rng", None), np.random.Generator):
            gens[f"transform.{i}"] = t.rng
    for name, m in model.named_modules():
        for attr, value in vars(m).items():
            if isinstance(value, np.random.Generator):
                gens[f"model.{name}.{attr}" if name else f"model.{attr}"] = value
    return gens


def transforms_of(t):
    if t is None:
        return []
    return list(getattr(t, "transforms", [t]))


def reseed(generators, master):
    """Give each non-loader Generator a fresh state drawn from ``master`` (seeded by the user)."""
    for name, gen in generators.items():
        if gen is not master:
            gen.bit_generator.state = np.random.default_rng(master.integers(2**63)).bit_generator.state


def restore(state, checkpoint):
    """Continue from a checkpoint: optimizer state, epoch, history, scheduler and RNG states."""
    if checkpoint.optimizer_state is None:
        raise ValueError("fit: the checkpoint to resume from holds no optimizer state")
    state.model.load_state_dict(checkpoint.model.state_dict())
    state.optimizer.load_state_dict(checkpoint.optimizer_state)
    state.epoch = int(checkpoint.epoch or 0)
    meta = checkpoint.metadata or {}
    if meta.get("history"):
        state.history.epochs = [dict(e) for e in meta["history"]["epochs"]]
    for name, gen_state in (checkpoint.rng_state or {}).items():
        if name in state.generators:
            state.generators[name].bit_generator.state = gen_state
    if state.scheduler is not None and "scheduler" in meta:
        state.scheduler.load_state_dict(meta["scheduler"]["state"])
