"""Callbacks for ``convnp.train.fit``: hooks run at the start, after each epoch and at the end.

    fit(model, train, ..., callbacks=[EarlyStopping("val_loss", patience=3),
                                      ModelCheckpoint("best.npz", save_best_only=True),
                                      CSVLogger("history.csv")])

A callback sees the TrainState (model, optimizer, history, epoch) and may set
``state.stop_training``. In a distributed run every process calls the callbacks with the same
numbers (so they decide alike); a callback that writes files writes where ``state.rank == 0``.
"""
import math

from . import checks
from .train import History


class Callback:
    """Hooks called by ``fit``; ``state`` is the TrainState (set state.stop_training to stop)."""

    def on_train_begin(self, state):
        pass

    def on_epoch_end(self, state, row):
        pass

    def on_train_end(self, state):
        pass


class _Monitor(Callback):
    """Tracks the best value of one History column ("val_loss", "accuracy", ...).

    ``best`` is the best value so far (times -1 for a "max" column), ``wait`` the number of
    epochs since it. A resumed run starts from the epochs already in its History.
    """

    def __init__(self, monitor, mode, min_delta=0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if monitor not in History.COLUMNS:
            raise ValueError(f"{type(self).__name__}: cannot monitor {monitor!r}; choose one of {History.COLUMNS}")
        self.monitor = monitor
        self.sign = -1.0 if mode == "max" or (mode == "auto" and "acc" in monitor) else 1.0
        self.min_delta = abs(min_delta)
        self.best, self.wait = math.inf, 0

    def on_train_begin(self, state):
        self.best, self.wait = math.inf, 0
        for row in state.history.epochs:
            self.improved(row)

    def improved(self, row):
        """Record ``row``; True when its value beats the best so far by more than min_delta."""
        value = row.get(self.monitor)
        if value is None:
            raise ValueError(f"{type(self).__name__}: {self.monitor!r} is not recorded"
                             " (val_* needs fit(..., val=...))")
        if self.sign * value < self.best - self.min_delta:
            self.best, self.wait = self.sign * value, 0
            return True
        self.wait += 1
        return False


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    mode: "min", "max", or "auto" (max for accuracies, min otherwise).
    restore_best_weights: when stopping, put back the weights of the best epoch of this run.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto", restore_best_weights=False):
        super().__init__(monitor, mode, min_delta)
        self.patience = checks.positive_int(patience, "patience", "EarlyStopping")
        self.restore_best_weights = restore_best_weights
        self.best_state = None

    def on_train_begin(self, state):
        super().on_train_begin(state)
        self.best_state = None

    def on_epoch_end(self, state, row):
        if self.improved(row):
            if self.restore_best_weights:
                self.best_state = state.model.state_dict()
        elif self.wait >= self.patience:
            state.stop_training = True
            state.history.stop_reason = f"early stopping: {self.monitor} did not improve for {self.patience} epochs"
            if self.best_state is not None:
                state.model.load_state_dict(self.best_state)


class ModelCheckpoint(_Monitor):
    """Save a checkpoint after each epoch; ``path`` may hold ``{epoch}`` (e.g. "ckpt-{epoch:02d}.npz").

    save_best_only: save only when ``monitor`` improves on the best so far.
    The file resumes training: ``fit(..., resume=convnp.io.load(path, with_optimizer=True))``.
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
        if getattr(state, "rank", 0) == 0:   # a distributed run: one process writes
            state.history.to_csv(self.path)
