"""Training: ``fit`` wraps the explicit loop, ``evaluate`` and ``predict`` run a model on data.

The loop that ``fit`` runs for each batch is the one a learner writes by hand::

    optimizer.zero_grad()
    loss_value = loss(model(x), y)
    model.backward(loss.backward())
    optimizer.step()

and around it ``fit`` adds a progress bar, validation, a History, callbacks, a stop on a
NaN loss, a clean stop on Ctrl-C and exact resumption from a checkpoint.
"""
import json
import math
import time

import numpy as np

from .backend import to_numpy
from .data import DataLoader, Dataset
from .functional.activation import softmax_forward
from .io import save as save_checkpoint
from .nn.module import Layer


class TrainingError(FloatingPointError):
    """The loss became NaN or infinite; ``history`` holds the epochs that finished."""

    def __init__(self, message, history):
        super().__init__(message)
        self.history = history


class History:
    """Per-epoch records: loss, accuracy, val_loss, val_accuracy, lr, seconds.

    ``history["loss"]`` is the list of one column; ``history.epochs`` the list of rows.
    ``stop_reason`` says why training ended early ("interrupted", "early stopping"), else None.
    """

    COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")

    def __init__(self, epochs=()):
        self.epochs = [dict(e) for e in epochs]
        self.stop_reason = None

    def append(self, row):
        self.epochs.append(dict(row))

    def __getitem__(self, column):
        return [e.get(column) for e in self.epochs]

    def __len__(self):
        return len(self.epochs)

    def to_dict(self):
        return {"epochs": self.epochs, "stop_reason": self.stop_reason}

    def to_json(self, path):
        with open(path, "w") as f:
            json.dump(self.to_dict(), f, indent=1)

    def to_csv(self, path):
        with open(path, "w") as f:
            f.write(",".join(self.COLUMNS) + "\n")
            for e in self.epochs:
                f.write(",".join(_csv_cell(e.get(c)) for c in self.COLUMNS) + "\n")

    def __repr__(self):
        return f"History({len(self.epochs)} epochs, last={self.epochs[-1] if self.epochs else None})"


def _csv_cell(value):
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


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

    def rng_state(self):
        """Bit-generator states of every Generator training draws from, by name."""
        return {name: gen.bit_generator.state for name, gen in self.generators.items()}

    def save(self, path, metadata=None):
        """Write a checkpoint that ``fit(..., resume=convnp.io.load(path, with_optimizer=True))`` continues."""
        meta = {"history": self.history.to_dict(), **(metadata or {})}
        if self.scheduler is not None:
            meta["scheduler"] = self.scheduler.state_dict()
        save_checkpoint(path, self.model, self.optimizer, epoch=self.epoch,
                        rng_state=self.rng_state(), metadata=meta)


def fit(model, train, *, epochs, optimizer, loss, batch_size=64, val=None, scheduler=None,
        callbacks=(), seed=None, progress=True, transform=None, checkpoint=None, resume=None):
    """Train ``model`` for ``epochs`` epochs and return the History.

    Args:
      train: a Dataset (batched here with shuffling) or a DataLoader.
      epochs: the total number of epochs (a resumed run continues up to it).
      optimizer, loss: a convnp.optim optimizer over model.parameters(), a loss such as
        nn.CrossEntropyLoss().
      val: a Dataset or DataLoader evaluated after each epoch (val_loss, val_accuracy).
      scheduler: stepped once after each epoch.
      callbacks: Callback objects (EarlyStopping, ModelCheckpoint, CSVLogger, your own).
      seed: makes the run reproducible: shuffling and every Generator in the model (Dropout)
        are seeded from it, so the same seed and initial weights give the same weights bit
        for bit.
      transform: applied to each training batch (e.g. data.RandomCrop), when train is a Dataset.
      checkpoint: a path written (atomically) after every epoch: the last good state, which a
        NaN loss or Ctrl-C leaves in place.
      resume: a checkpoint from ``convnp.io.load(path, with_optimizer=True)``: continues from
        its epoch exactly as if the run had not stopped (optimizer state and RNG states too).
    Raises: TrainingError when the loss becomes NaN or infinite.
    """
    master = np.random.default_rng(seed)
    loader = train if isinstance(train, DataLoader) else DataLoader(
        train, batch_size=batch_size, shuffle=True, rng=master, transform=transform)
    val_loader = _as_loader(val, batch_size)
    generators = _generators(model, loader)
    if seed is not None:
        _reseed(generators, master)
    history = History()
    state = TrainState(model, optimizer, history, generators, scheduler)
    if resume is not None:
        _resume(state, resume)
    for cb in callbacks:
        cb.on_train_begin(state)
    try:
        for epoch in range(state.epoch + 1, epochs + 1):
            row = _train_epoch(model, loader, optimizer, loss, epoch, epochs, progress, history)
            if val_loader is not None:
                v = evaluate(model, val_loader, loss=loss)
                row.update(val_loss=v["loss"], val_accuracy=v["accuracy"])
            if scheduler is not None:
                scheduler.step()
            history.append(row)
            state.epoch = epoch
            if checkpoint is not None:
                state.save(checkpoint)
            for cb in callbacks:
                cb.on_epoch_end(state, row)
            if state.stop_training:
                history.stop_reason = history.stop_reason or "stopped by a callback"
                break
    except KeyboardInterrupt:
        history.stop_reason = "interrupted"
    for cb in callbacks:
        cb.on_train_end(state)
    return history


def _train_epoch(model, loader, optimizer, loss, epoch, epochs, progress, history):
    """One pass over ``loader``; returns the epoch's row (loss, accuracy, lr, seconds)."""
    model.train()
    start = time.perf_counter()
    total_loss, correct, seen = 0.0, 0, 0
    batches = _progress(loader, progress, f"epoch {epoch}/{epochs}")
    for i, (x, y) in enumerate(batches):
        optimizer.zero_grad()
        logits = model(x)
        value = loss(logits, y)
        if not math.isfinite(value):
            raise TrainingError(
                f"fit: the loss became {value} at epoch {epoch}, batch {i + 1}; training stopped"
                " (the last good checkpoint is kept). Try a lower learning rate.", history)
        model.backward(loss.backward())
        optimizer.step()
        n = len(y)
        total_loss += value * n
        correct += int((to_numpy(logits).argmax(1) == to_numpy(y)).sum())
        seen += n
        if progress and (i % 10 == 0 or i + 1 == len(loader)):
            batches.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
    if progress:
        batches.close()
    return {"epoch": epoch, "loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1),
            "val_loss": None, "val_accuracy": None, "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - start}


def evaluate(model, data, loss=None, batch_size=256):
    """Mean loss (when ``loss`` is given) and accuracy of ``model`` on a Dataset or DataLoader.

    Runs in eval mode (running BatchNorm statistics, no dropout) and restores the mode after.
    Returns: {"loss": float or None, "accuracy": float, "n": number of samples}.
    """
    loader = _as_loader(data, batch_size)
    was_training = model.training
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    try:
        for x, y in loader:
            logits = model(x)
            if loss is not None:
                total_loss += loss(logits, y) * len(y)
            correct += int((to_numpy(logits).argmax(1) == to_numpy(y)).sum())
            seen += len(y)
    finally:
        model.train(was_training)
    return {"loss": total_loss / seen if loss is not None and seen else None,
            "accuracy": correct / seen if seen else float("nan"), "n": seen}


def predict(model, x, batch_size=256):
    """Class probabilities (N, num_classes) for images ``x``.

    ``x``: float images (N, C, H, W) prepared as in training, or uint8 pixels, which are
    scaled to [0, 1] as the DataLoader does. Runs in eval mode.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"predict: expected a convnp model, got {type(model).__name__}")
    x = np.asarray(x)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / np.float32(255)
    was_training = model.training
    model.eval()
    try:
        out = [softmax_forward(model(x[i:i + batch_size]), dim=1)[0] for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0,), dtype=np.float32)


def predict_classes(model, x, batch_size=256):
    """The most probable class index for each image."""
    return predict(model, x, batch_size).argmax(1)


# -- callbacks ---------------------------------------------------------------------------
class Callback:
    """Hooks called by ``fit``; ``state`` is the TrainState (set state.stop_training to stop)."""

    def on_train_begin(self, state):
        pass

    def on_epoch_end(self, state, row):
        pass

    def on_train_end(self, state):
        pass


class _Monitor(Callback):
    """Tracks the best value of one History column ("val_loss", "accuracy", ...)."""

    def __init__(self, monitor, mode, min_delta=0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if monitor not in History.COLUMNS:
            raise ValueError(f"{type(self).__name__}: cannot monitor {monitor!r}; choose one of {History.COLUMNS}")
        self.monitor = monitor
        self.sign = -1.0 if mode == "max" or (mode == "auto" and "acc" in monitor) else 1.0
        self.min_delta = abs(min_delta)
        self.best = math.inf

    def improved(self, row):
        value = row.get(self.monitor)
        if value is None:
            raise ValueError(f"{type(self).__name__}: {self.monitor!r} is not recorded"
                             " (val_* needs fit(..., val=...))")
        if self.sign * value < self.best - self.min_delta:
            self.best = self.sign * value
            return True
        return False


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    restore_best_weights: put back the weights of the best epoch when stopping.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto", restore_best_weights=False):
        super().__init__(monitor, mode, min_delta)
        self.patience = patience
        self.restore_best_weights = restore_best_weights
        self.wait = 0
        self.best_state = None

    def on_epoch_end(self, state, row):
        if self.improved(row):
            self.wait = 0
            if self.restore_best_weights:
                self.best_state = state.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            state.stop_training = True
            state.history.stop_reason = f"early stopping: {self.monitor} did not improve for {self.patience} epochs"
            if self.best_state is not None:
                state.model.load_state_dict(self.best_state)


class ModelCheckpoint(_Monitor):
    """Save a checkpoint after each epoch; ``path`` may hold ``{epoch}``.

    save_best_only: save only when ``monitor`` improves on the best so far.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        super().__init__(monitor, mode)
        self.path = str(path)
        self.save_best_only = save_best_only

    def on_epoch_end(self, state, row):
        if self.improved(row) or not self.save_best_only:
            state.save(self.path.format(epoch=row["epoch"]))


class CSVLogger(Callback):
    """Write the History as CSV after every epoch."""

    def __init__(self, path):
        self.path = str(path)

    def on_epoch_end(self, state, row):
        state.history.to_csv(self.path)


# -- helpers -----------------------------------------------------------------------------
def _as_loader(data, batch_size):
    if data is None or isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size)
    raise TypeError(f"fit: expected a Dataset or DataLoader, got {type(data).__name__}")


def _generators(model, loader):
    """Every Generator that training draws from, by a stable name: the loader's, its
    transform's, and each layer's (Dropout), so they can be seeded, saved and restored."""
    gens = {}
    if getattr(loader, "rng", None) is not None:
        gens["loader"] = loader.rng
    for i, t in enumerate(_transforms(getattr(loader, "transform", None))):
        if isinstance(getattr(t, "rng", None), np.random.Generator):
            gens[f"transform.{i}"] = t.rng
    for name, m in model._named_modules(""):
        for attr, value in vars(m).items():
            if isinstance(value, np.random.Generator):
                gens[f"model.{name}{attr}"] = value
    return gens


def _transforms(t):
    if t is None:
        return []
    return list(getattr(t, "transforms", [t]))


def _reseed(generators, master):
    """Give each non-loader Generator a fresh state drawn from ``master`` (seeded by the user)."""
    for name, gen in generators.items():
        if gen is not master:
            gen.bit_generator.state = np.random.default_rng(master.integers(2**63)).bit_generator.state


def _resume(state, checkpoint):
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
        state.scheduler.load_state_dict(meta["scheduler"])


def _progress(loader, enabled, desc):
    if not enabled:
        return loader
    from tqdm.auto import tqdm

    return tqdm(loader, desc=desc, leave=True, unit="batch", dynamic_ncols=True)
