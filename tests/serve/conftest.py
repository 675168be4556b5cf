"""Fixtures of the convnp serve tests: a small trained model, test digits as PNG, a live server.

The model is LeNet-5 trained for one epoch on 2,000 images of the bundled MNIST sample (about a
second on an idle core; 81% test accuracy with seed 0), saved as `convnp train` saves it.
"""
import numpy as np
import pytest

pytest.importorskip("starlette", reason="convnp serve needs starlette: pip install 'convnp[serve]'")
pytest.importorskip("uvicorn", reason="convnp serve needs uvicorn: pip install 'convnp[serve]'")
pytest.importorskip("PIL", reason="convnp serve needs Pillow: pip install 'convnp[serve]'")

import convnp  # noqa: E402
from convnp import data, models, nn, optim, train  # noqa: E402
from .serve_helpers import LiveServer, png  # noqa: E402


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    """A model file as `convnp train` writes it (metadata: dataset, classes, input shape)."""
    train_set = data.mnist_sample(train=True)
    small = train_set.subset(np.arange(0, len(train_set), 5))
    model = models.lenet5(rng=0)
    opt = optim.Adam(model.parameters(), lr=2e-3)
    train.fit(model, small, epochs=1, optimizer=opt, loss=nn.CrossEntropyLoss(), batch_size=32, seed=0,
              progress=False)
    path = tmp_path_factory.mktemp("serve_model") / "model.npz"
    convnp.save(path, model, metadata={"dataset": "mnist-sample", "classes": list(train_set.classes),
                                       "input_shape": list(train_set.images.shape[1:])})
    return path


@pytest.fixture(scope="session")
def digits(model_file):
    """(images (N, 1, 28, 28) uint8, labels, indices of images the model gets right with p > 0.9)."""
    test = data.mnist_sample(train=False)
    images, labels = test.images[:200], test.labels[:200]
    probs = train.predict(convnp.load(model_file), images)
    sure = np.flatnonzero((probs.argmax(1) == labels) & (probs.max(1) > 0.9))
    assert len(sure) >= 10, "the fixture model should get some test digits right"
    return images, labels, sure


@pytest.fixture
def folder_dataset(tmp_path):
    """A tiny folder:PATH dataset (3 digits per class) so that the train button's run is short."""
    sample = data.mnist_sample(train=False)
    root = tmp_path / "digits"
    for k in range(10):
        (root / str(k)).mkdir(parents=True)
        for j, i in enumerate(np.flatnonzero(sample.labels == k)[:3]):
            (root / str(k) / f"{j}.png").write_bytes(png(sample.images[i]))
    return root


@pytest.fixture
def live_server():
    """A function app -> LiveServer; every server it started is stopped after the test."""
    servers = []

    def start(app):
        servers.append(LiveServer(app))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
