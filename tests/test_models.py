"""Ready architectures: shapes, reproducible weights, and LeNet-5 number for number against PyTorch."""
import numpy as np
import pytest

from conftest import assert_matches, to_numpy
from convnp import models, nn


@pytest.mark.parametrize("name,shape,classes", [
    ("lenet5", (1, 28, 28), 10), ("simple_cnn", (1, 28, 28), 10), ("mnist_cnn", (1, 28, 28), 10),
    ("vgg_small", (3, 32, 32), 7), ("resnet_small", (3, 32, 32), 5),
])
def test_output_shape_and_forward_backward(name, shape, classes):
    model = models.get(name, num_classes=classes, in_channels=shape[0], rng=0)
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    y = model(x)
    assert y.shape == (2, classes) == model.output_shape((2, *shape))
    assert y.dtype == np.float32
    dx = model.backward(np.ones_like(y))
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert all(np.any(p.grad) for p in model.parameters())


def test_same_rng_same_weights():
    a, b, c = models.lenet5(rng=3), models.lenet5(rng=3), models.lenet5(rng=4)
    for (ka, va), (kb, vb), (_, vc) in zip(a.state_dict().items(), b.state_dict().items(), c.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
        assert not np.array_equal(va, vc)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'lenet6'; choose one of lenet5"):
        models.get("lenet6")


def _torch_lenet5(torch):
    tnn = torch.nn
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
        tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lenet5_matches_pytorch(dtype):
    """The same weights (moved with load_state_dict) give the same logits, loss and gradients."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    ref = _torch_lenet5(torch).to(tdtype)
    ours = models.lenet5(rng=0).to(dtype)
    ours.load_state_dict({k: to_numpy(v) for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.random((8, 1, 28, 28)).astype(dtype)
    y = rng.integers(0, 10, 8)

    logits = ours(x)
    loss_fn = nn.CrossEntropyLoss()
    loss = loss_fn(logits, y)
    ours.backward(loss_fn.backward())

    tx = torch.tensor(x, requires_grad=True)
    tlogits = ref(tx)
    tloss = torch.nn.functional.cross_entropy(tlogits, torch.tensor(y))
    tloss.backward()

    assert_matches(logits, to_numpy(tlogits), dtype, "logits")
    assert_matches(loss, tloss.item(), dtype, "loss")
    grads = dict(ours.named_parameters())
    for name, p in ref.named_parameters():
        assert_matches(grads[name].grad, to_numpy(p.grad), dtype, name)
