"""A tiny task and helpers shared by test_train.py and test_train_stops.py."""
import numpy as np

from convnp import data, nn, optim, train
from convnp.callbacks import Callback


# -- a tiny task: 4 classes, each a bright quadrant on a noisy 8x8 image ------------------
def quadrants(n=200, seed=0):
    """n uint8 images (n, 1, 8, 8): class k lights up quadrant k; balanced, shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 4)
    images = rng.integers(0, 80, size=(n, 1, 8, 8))
    for k in range(4):
        r, c = divmod(k, 2)
        images[labels == k, 0, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 150
    return data.Dataset(images.astype(np.uint8), labels, name="quadrants")


TRAIN = quadrants(200, seed=0)
VAL = quadrants(100, seed=1)


def small_net(rng=0, dropout=False):
    """Conv -> ReLU -> pool -> (Dropout) -> Linear; the Dropout draws from fresh entropy."""
    layers = [nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]
    if dropout:
        layers.append(nn.Dropout(0.3))
    layers.append(nn.Linear(4 * 4 * 4, 4, rng=rng))
    return nn.Sequential(*layers)


def run(model=None, epochs=3, lr=0.01, **kwargs):
    """fit with Adam on TRAIN, quietly unless asked; returns (model, history)."""
    model = small_net() if model is None else model
    kwargs.setdefault("progress", False)
    kwargs.setdefault("batch_size", 32)
    data_ = kwargs.pop("train_data", TRAIN)
    history = train.fit(model, data_, epochs=epochs, optimizer=kwargs.pop("optimizer", None)
                        or optim.Adam(model.parameters(), lr=lr), loss=nn.CrossEntropyLoss(), **kwargs)
    return model, history


def same_bits(a, b):
    """Two state_dicts hold the same keys and bit-identical arrays."""
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes() for k in a)


class Recorder(Callback):
    """Keeps a copy of the weights after every epoch, and counts the hooks."""

    def __init__(self):
        self.weights, self.begun, self.ended = [], 0, 0

    def on_train_begin(self, state):
        self.begun += 1

    def on_epoch_end(self, state, row):
        self.weights.append(state.model.state_dict())

    def on_train_end(self, state):
        self.ended += 1
