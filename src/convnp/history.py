"""History: what ``fit`` records per epoch, and its CSV and JSON files."""
import json

from .atomic import atomic_write


class History:
    """Per-epoch records: loss, accuracy, val_loss, val_accuracy, lr, seconds.

    loss and accuracy are the means over the epoch's training batches (as the weights moved),
    val_* are measured after the epoch (None without validation data), lr is the learning
    rate the epoch used (of the first parameter group), seconds the epoch's wall time,
    validation included. ``history["loss"]`` is the list of one column; ``history.epochs``
    the list of rows. ``stop_reason`` says why training ended early ("interrupted",
    "early stopping: ...", "stopped by a callback"), else None.
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
        """Write ``to_dict()`` as JSON to ``path`` (atomically: a failed write leaves the old file)."""
        with atomic_write(path, "w") as f:
            json.dump(self.to_dict(), f, indent=1)

    def to_csv(self, path):
        """Write one row per epoch, the COLUMNS as header, to ``path`` (atomically)."""
        with atomic_write(path, "w") as f:
            f.write(",".join(self.COLUMNS) + "\n")
            for e in self.epochs:
                f.write(",".join(_csv_cell(e.get(c)) for c in self.COLUMNS) + "\n")

    def __repr__(self):
        return f"History({len(self.epochs)} epochs, last={self.epochs[-1] if self.epochs else None})"


def _csv_cell(value):
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)
