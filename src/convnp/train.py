"""Training: ``fit`` wraps the explicit loop, ``evaluate`` and ``predict`` run a model on data.

The loop that ``fit`` runs for each batch is the one a learner writes by hand::

    optimizer.zero_grad()
    loss_value = loss(model(x), y)
    model.backward(loss.backward(), input_grad=False)  # no use for d loss / d x here
    optimizer.step()

``input_grad=False`` lets the first layer skip its input gradient, as PyTorch does for
inputs that need no grad. Around the loop ``fit`` adds a progress bar, validation, a History,
callbacks, a stop on a NaN loss, a clean stop on Ctrl-C and exact resumption from a checkpoint.
"""
import math
import time

import numpy as np

from .backend import to_numpy
from .data import DataLoader, Dataset
from . import checks
from .history import History
from .distributed import (DistributedLoader, allreduce_gradients, broadcast_buffers, broadcast_parameters,
                          evaluate as evaluate_spread, stop_every_process)
from .distributed.training import batch_totals, own_streams, shared_seed, world_for
from .functional.activation import softmax_forward
from .nn.module import Layer, evaluating
from .nn.recording import no_grad
from .train_state import TrainState, generators_of, reseed, restore


class TrainingError(FloatingPointError):
    """The loss or the weights became NaN or infinite; ``history`` holds the epochs that finished."""

    def __init__(self, message, history):
        super().__init__(message)
        self.history = history


def fit(model, train, *, epochs, optimizer, loss, batch_size=64, val=None, scheduler=None,
        callbacks=(), seed=None, progress=True, transform=None, checkpoint=None, resume=None,
        checkpoint_metadata=None, distributed=False):
    """Train ``model`` for ``epochs`` epochs and return the History.

    Args:
      train: a Dataset or (images, labels) (batched here, shuffled every epoch), or a
        DataLoader (used as is: its batch_size, shuffle and transform apply).
      epochs: the total number of epochs (a resumed run continues up to it).
      optimizer, loss: a convnp.optim optimizer over model.parameters(), a loss such as
        nn.CrossEntropyLoss().
      val: a Dataset, (images, labels) or DataLoader evaluated after each epoch.
      scheduler: stepped once after each epoch; the History's lr is the one the epoch used.
      callbacks: convnp.callbacks objects (EarlyStopping, ModelCheckpoint, CSVLogger, your own).
      seed: makes the run reproducible: shuffling and every Generator in the model (Dropout)
        are seeded from it, so the same seed and initial weights give the same weights bit
        for bit.
      progress: a tqdm bar per epoch with the running loss and accuracy, then one summary
        line per epoch on stdout. False prints nothing.
      transform: applied to each training batch (e.g. data.RandomCrop), when train is a Dataset.
      checkpoint: a path written (atomically) after every epoch: the last good state, which a
        NaN loss or Ctrl-C leaves in place.
      checkpoint_metadata: a dict added to each checkpoint's metadata (``convnp train`` puts
        the same there as in its final model: dataset, classes, input_shape, plan).
      resume: a checkpoint from ``convnp.io.load(path, with_optimizer=True)``: continues from
        its epoch exactly as if the run had not stopped (optimizer, scheduler and RNG states).
      distributed: True (or a World) under ``mpiexec -n K``: each process trains on its share of
        every batch (batch_size, the whole batch, a multiple of K), gradients and metrics are
        averaged over the processes, only rank 0 prints and writes files (``state.rank``), and
        an error on one process stops all (MPI_Abort). See convnp.distributed.
    Returns: the History; ``history.stop_reason`` says why it ended early (Ctrl-C gives
      "interrupted": the epoch under way is dropped, the checkpoint holds the last finished one).
    Raises: ValueError when the images of ``train`` or ``val`` hold NaN or infinite values
      (checked before training); TrainingError when the loss or the weights become NaN or
      infinite (its message says whether the batch's inputs were at fault).
    """
    if not isinstance(model, Layer):
        raise TypeError(f"fit: expected a convnp model, got {type(model).__name__}")
    epochs = checks.positive_int(epochs, "epochs", "fit")
    _check_mean_loss(loss, "fit")
    world = world_for(distributed)
    seed = seed if world is None else shared_seed(world, seed)
    master = np.random.default_rng(seed)
    loader, val_loader = _loaders(train, val, batch_size, transform, master, world)
    progress = progress and (world is None or world.rank == 0)
    generators = generators_of(model, loader)
    if seed is not None:
        reseed(generators, master)
    history = History()
    state = TrainState(model, optimizer, history, generators, scheduler)
    if resume is not None:
        restore(state, resume)
    if world is not None:
        broadcast_parameters(model, world=world)
        own_streams(generators, world.rank)   # Dropout: masks of their own on each process
        state.rank = world.rank
    for cb in callbacks:
        cb.on_train_begin(state)
    try:
        for epoch in range(state.epoch + 1, epochs + 1):
            start = time.perf_counter()
            kept = _kept(checkpoint, state.saved_epoch)
            row = _train_epoch(model, loader, optimizer, loss, epoch, epochs, progress, history, kept, world)
            if val_loader is not None:
                row.update(_validation(model, val_loader, loss, world))
            _check_weights(model, epoch, history, kept)
            if scheduler is not None:
                scheduler.step()
            row["seconds"] = time.perf_counter() - start
            if _end_of_epoch(state, row, epochs, progress, checkpoint, checkpoint_metadata, callbacks):
                break
    except BaseException as error:
        if world is not None:   # report it and abort: the other processes would wait for ever
            stop_every_process(world, error, "fit")
        if not isinstance(error, KeyboardInterrupt):
            raise
        history.stop_reason = "interrupted"
    for cb in callbacks:
        cb.on_train_end(state)
    return history


def _validation(model, val_loader, loss, world):
    """{"val_loss", "val_accuracy"} after an epoch (spread over the processes of a distributed run)."""
    v = (evaluate(model, val_loader, loss=loss) if world is None
         else evaluate_spread(model, val_loader, loss=loss, world=world))
    return {"val_loss": v["loss"], "val_accuracy": v["accuracy"]}


def _end_of_epoch(state, row, epochs, progress, checkpoint, checkpoint_metadata, callbacks):
    """Record the finished epoch: history, summary line, checkpoint, callbacks; True to stop training."""
    state.history.append(row)
    state.epoch = row["epoch"]
    if progress:
        _tqdm().write(_summary_line(row, epochs))
    if checkpoint is not None:
        state.save(checkpoint, checkpoint_metadata)
        state.saved_epoch = row["epoch"]
    for cb in callbacks:
        cb.on_epoch_end(state, row)
    if state.stop_training:
        state.history.stop_reason = state.history.stop_reason or "stopped by a callback"
    return state.stop_training


def _train_epoch(model, loader, optimizer, loss, epoch, epochs, progress, history, kept, world=None):
    """One pass over ``loader``: the explicit loop; returns the epoch's row (loss, accuracy, lr).

    ``kept`` ends the message of a TrainingError: what the checkpoint holds.
    """
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    batches = _progress(loader, progress, f"epoch {epoch}/{epochs}")
    try:
        for i, (x, y) in enumerate(batches):
            optimizer.zero_grad()
            logits = model(x)
            value = loss(logits, y)
            n, hits = len(y), int((to_numpy(logits).argmax(1) == to_numpy(y)).sum())
            if world is not None:
                value, hits, n = batch_totals(world, value, hits, n)
            if not math.isfinite(value):
                raise TrainingError(_not_finite(value, x, epoch, i + 1, kept), history)
            model.backward(loss.backward(), input_grad=False)
            if world is not None:
                allreduce_gradients(model, world)
            optimizer.step()
            total_loss += value * n
            correct += hits
            seen += n
            if progress and (i % 10 == 0 or i + 1 == len(loader)):
                batches.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
    finally:
        if progress:
            batches.close()
    if world is not None:   # plain BatchNorm's running statistics: rank 0's everywhere, as PyTorch's DDP
        broadcast_buffers(model, world=world)
    return {"epoch": epoch, "loss": total_loss / seen, "accuracy": correct / seen,
            "val_loss": None, "val_accuracy": None, "lr": float(optimizer.param_groups[0]["lr"]),
            "seconds": None}


def _not_finite(value, x, epoch, batch, kept):
    """The message for a NaN or infinite loss: the batch's inputs if they hold such values, else the lr."""
    x = to_numpy(x)
    bad = int((~np.isfinite(x)).reshape(len(x), -1).any(axis=1).sum()) if x.dtype.kind == "f" else 0
    if bad:
        return (f"fit: the inputs of batch {batch} of epoch {epoch} hold NaN or infinite values ({bad} of its"
                f" {len(x)} images); check the data and the transform; training stopped{kept}")
    return (f"fit: the loss became {value} at epoch {epoch}, batch {batch}; training stopped{kept}."
            " Try a lower learning rate.")


def _check_weights(model, epoch, history, kept):
    """Refuse to go on (and to overwrite the checkpoint) with weights the last step made NaN or infinite."""
    bad = [name for name, p in model.named_parameters() if not np.isfinite(to_numpy(p.data)).all()]
    if bad:
        raise TrainingError(f"fit: the weights {', '.join(bad)} became NaN or infinite at the end of epoch {epoch};"
                            f" training stopped{kept}. Try a lower learning rate.", history)


def _kept(checkpoint, saved_epoch):
    """What a TrainingError says of the checkpoint: only what this fit really wrote."""
    if checkpoint is None or saved_epoch is None:
        return ""
    return f" ({checkpoint} keeps epoch {saved_epoch}, the last good one)"


def _loaders(train, val, batch_size, transform, master, world=None):
    """fit's (training loader, validation loader or None), checked: at least a batch, finite images.

    In a distributed run (``world``) the training loader gives this process's share of every batch.
    """
    if transform is not None and isinstance(train, DataLoader):
        raise ValueError("fit: transform applies to a Dataset; give it to the DataLoader instead")
    loader = _as_loader(train, batch_size, "fit", shuffle=True, rng=master, transform=transform)
    if len(loader) == 0:
        raise ValueError(f"fit: the training data gives no batch ({loader!r})")
    val_loader = None if val is None else _as_loader(val, batch_size, "fit")
    _check_finite(loader, "training")
    _check_finite(val_loader, "validation")
    if world is not None:
        loader = DistributedLoader(loader, world)
    return loader, val_loader


def _check_finite(loader, what):
    """ValueError if the float images behind ``loader`` (None: nothing to check) hold NaN or infinity."""
    images = None if loader is None else getattr(loader.dataset, "images", None)
    if images is None or np.asarray(images).dtype.kind != "f":
        return
    bad = np.flatnonzero(~np.isfinite(np.asarray(images)).reshape(len(images), -1).all(axis=1))
    if bad.size:
        first = ", ".join(str(i) for i in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise ValueError(f"fit: the {what} images hold NaN or infinite values: {bad.size} of {len(images)}"
                         f" images, at indices {first}; fix or drop them before training")


def _summary_line(row, epochs):
    """The line printed after each epoch: epoch 3/8: loss 0.1234, accuracy 0.9612, ..., 4.2 s"""
    cells = [f"{key} {row[key]:.4f}" for key in ("loss", "accuracy", "val_loss", "val_accuracy")
             if row[key] is not None]
    return f"epoch {row['epoch']}/{epochs}: {', '.join(cells)}, {row['seconds']:.1f} s"


def evaluate(model, data, loss=None, batch_size=256):
    """Mean loss (when ``loss`` is given) and accuracy of ``model`` on a Dataset or DataLoader.

    Runs in eval mode (running BatchNorm statistics, no dropout) under ``no_grad`` (no caches
    kept) and restores each layer's mode after. Returns: {"loss": float or None, "accuracy": float, "n": number of samples}.
    """
    loader = _as_loader(data, batch_size, "evaluate")
    if loss is not None:
        _check_mean_loss(loss, "evaluate")
    total_loss, correct, seen = 0.0, 0, 0
    with evaluating(model), no_grad():
        for x, y in loader:
            logits = model(x)
            if loss is not None:
                total_loss += loss(logits, y) * len(y)
            correct += int((to_numpy(logits).argmax(1) == to_numpy(y)).sum())
            seen += len(y)
    return {"loss": total_loss / seen if loss is not None else None, "accuracy": correct / seen, "n": seen}


def predict(model, x, batch_size=256):
    """Class probabilities (N, num_classes) for images ``x`` (N, C, H, W); each row sums to 1.

    ``x``: uint8 pixels, scaled to [0, 1] as the DataLoader does, or float images prepared
    as in training; either is cast to the model's dtype. Runs in eval mode and restores
    each layer's mode after.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"predict: expected a convnp model, got {type(model).__name__}")
    x = np.asarray(x)
    dtype = next((p.dtype for p in model.parameters()), np.dtype(np.float32))
    if x.dtype == np.uint8:
        x = x.astype(dtype) / dtype.type(255)
    elif x.dtype.kind == "f":
        x = x.astype(dtype, copy=False)
    else:
        raise TypeError(f"predict: expected uint8 pixels or float images, got dtype {x.dtype}")
    with evaluating(model), no_grad():
        out = [to_numpy(softmax_forward(model(x[i:i + batch_size]), dim=1)[0])
               for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros((0,), dtype=dtype)


def predict_classes(model, x, batch_size=256):
    """The most probable class index for each image."""
    return predict(model, x, batch_size).argmax(1)


# -- helpers -----------------------------------------------------------------------------
def _check_mean_loss(loss, who):
    """fit and evaluate average a batch's mean loss over batches: reduction must be 'mean'."""
    reduction = getattr(loss, "reduction", "mean")
    if reduction not in ("mean", "batchmean"):
        raise ValueError(f"{who}: expected a loss that averages over the batch (reduction='mean'),"
                         f" got {type(loss).__name__}(reduction={reduction!r})")


def _as_loader(data, batch_size, who, **options):
    """``data`` itself if a DataLoader, else a DataLoader over it (a Dataset or (images, labels))."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset) or (isinstance(data, tuple) and len(data) == 2):
        return DataLoader(data, batch_size=batch_size, **options)
    raise TypeError(f"{who}: expected a Dataset, an (images, labels) tuple or a DataLoader,"
                    f" got {type(data).__name__}")


def _tqdm():
    from tqdm.auto import tqdm

    return tqdm


def _progress(loader, enabled, desc):
    """A bar over the batches that disappears at the end of the epoch (a summary line replaces it)."""
    if not enabled:
        return loader
    return _tqdm()(loader, desc=desc, leave=False, unit="batch", dynamic_ncols=True)
