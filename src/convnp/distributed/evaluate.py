"""Evaluation spread over the processes: each measures a slice of the data, the sums are combined."""
from ..data import DataLoader, Dataset
from .world import init


def evaluate(model, data, loss=None, batch_size=256, world=None):
    """``convnp.train.evaluate`` over every process: the same result, each process doing 1/K of it.

    Rank r evaluates the contiguous slice ``[r*N//K, (r+1)*N//K)`` of the samples (no padding:
    every sample counts once) and the loss sums, correct counts and sample counts are added
    over the processes. The model must be the same on every process (weights and running
    statistics: fit broadcasts rank 0's buffers before it evaluates).
    Returns: {"loss": float or None, "accuracy": float, "n": number of samples}.
    """
    from ..train import evaluate as evaluate_here

    world = world or init()
    loader = data if isinstance(data, DataLoader) else None
    if loader is not None:
        dataset, batch_size, transform = loader.dataset, loader.batch_size, loader.transform
    elif isinstance(data, tuple) and len(data) == 2:
        dataset, transform = Dataset(*data, name="arrays"), None
    else:
        dataset, transform = data, None
    if not (hasattr(dataset, "images") and hasattr(dataset, "labels")):
        raise TypeError(f"evaluate: expected a Dataset, an (images, labels) tuple or a DataLoader,"
                        f" got {type(data).__name__}")
    n = len(dataset.images)
    if n == 0:
        raise ValueError("evaluate: the dataset is empty")
    lo, hi = world.rank * n // world.size, (world.rank + 1) * n // world.size
    loss_sum = correct = 0.0
    if hi > lo:
        part = Dataset(dataset.images[lo:hi], dataset.labels[lo:hi], getattr(dataset, "classes", None),
                       getattr(dataset, "name", "dataset"))
        mine = evaluate_here(model, DataLoader(part, batch_size=batch_size, transform=transform), loss=loss)
        loss_sum = mine["loss"] * mine["n"] if loss is not None else 0.0
        correct = mine["accuracy"] * mine["n"]
    loss_sum, correct, seen = world.sum([loss_sum, correct, hi - lo])
    return {"loss": loss_sum / seen if loss is not None else None, "accuracy": round(correct) / seen,
            "n": int(seen)}
