"""Layers, models and model-file helpers shared by test_io.py and test_io_bad_files.py."""
import json

import numpy as np
import pytest

from convnp import io, nn
from convnp.nn.module import Layer, Parameter


class Scale(Layer):
    """y = x * weight + offset: a layer of the test's own, with a parameter and a buffer."""

    _buffers = ("offset",)

    def __init__(self, features, init=1.0):
        super().__init__()
        self.features, self.init = features, init
        self.weight = Parameter(np.full(features, init, dtype=np.float32))
        self.offset = np.zeros(features, dtype=np.float32)

    def forward(self, x):
        return x * self.weight.data + self.offset

    def config(self):
        return {"features": self.features, "init": self.init}


class Wrap(Layer):
    """A layer that takes another layer as a constructor argument (model files refuse it)."""

    def __init__(self, inner, factor=(1, 2)):
        super().__init__()
        self.inner, self.factor = inner, factor

    def forward(self, x):
        return self.inner(x) * self.factor[1]

    def config(self):
        return {"inner": self.inner, "factor": self.factor}


class Pad(Layer):
    """A parameterless layer whose config holds a pair (a tuple) and a dict."""

    def __init__(self, sides=(1, 2), fill=None):
        super().__init__()
        self.sides, self.fill = sides, fill or {"value": 0.0}

    def forward(self, x):
        return np.pad(x, [(0, 0)] * (x.ndim - 1) + [tuple(self.sides)], constant_values=self.fill["value"])

    def config(self):
        return {"sides": self.sides, "fill": self.fill}


io.register_layer(Scale)
io.register_layer(Wrap)
io.register_layer(Pad)


def small_cnn(rng=0):
    """Conv, BatchNorm, ReLU, MaxPool, a Residual block with a shortcut, Flatten, Linear, Dropout."""
    rng = np.random.default_rng(rng)
    block = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(6), nn.ReLU())
    shortcut = nn.Sequential(nn.Conv2d(4, 6, 1, bias=False, rng=rng), nn.BatchNorm2d(6))
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, rng=rng), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Residual(block, shortcut), nn.Residual(nn.Sequential(nn.Conv2d(6, 6, (1, 3), padding="same", rng=rng))),
        nn.Flatten(), nn.Dropout(0.25, rng=rng), nn.Linear(6 * 4 * 4, 5, rng=rng),
    )


def trained_cnn(dtype=np.float32):
    """small_cnn with non-trivial running statistics, put in eval mode."""
    model = small_cnn().to(dtype)
    rng = np.random.default_rng(1)
    for _ in range(3):
        model(rng.normal(2.0, 3.0, size=(4, 2, 8, 8)).astype(dtype))
    return model.eval()


def batch(dtype=np.float32, seed=2):
    return np.random.default_rng(seed).normal(size=(3, 2, 8, 8)).astype(dtype)


def entries(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def write_entries(path, arrays):
    with open(path, "wb") as f:   # a file object: np.savez would append ".npz" to a name
        np.savez(f, **arrays)


def header(path):
    return json.loads(entries(path)["__convnp__"].tobytes().decode())


def rewrite_header(path, change):
    arrays = entries(path)
    h = json.loads(arrays["__convnp__"].tobytes().decode())
    change(h)
    arrays["__convnp__"] = np.frombuffer(json.dumps(h).encode(), dtype=np.uint8)
    write_entries(path, arrays)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    io.save(path, trained_cnn())
    return path
