"""convnp.viz: every function draws a non-blank PNG of the size asked for, from the right numbers."""
import os
import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402

from convnp import nn, viz  # noqa: E402
from convnp.data import Dataset  # noqa: E402
from convnp.gradcheck import numerical_gradient  # noqa: E402
from convnp.train import History  # noqa: E402

FIGSIZE = (3.0, 2.0)     # small figures keep the tests fast


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def tiny_model(in_channels=1, classes=3):
    """(N, in_channels, 8, 8) -> (N, classes); Dropout and BatchNorm make train and eval differ."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 3, 3, padding=1, rng=0), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, rng=1), nn.Dropout(0.5, rng=2), nn.Flatten(), nn.Linear(16, classes, rng=3),
    )


def tiny_dataset(n=12, channels=1, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, channels, 8, 8), dtype=np.uint8)
    return Dataset(images, rng.integers(0, classes, size=n), classes=[f"c{k}" for k in range(classes)])


def image(seed=0, channels=1):
    return np.random.default_rng(seed).random((channels, 8, 8)).astype(np.float32)


def read_png(path):
    """The saved PNG as an (H, W, channels) float array."""
    import matplotlib.image

    return matplotlib.image.imread(str(path))


def assert_png(fig, path, size_inches=FIGSIZE):
    """``fig`` is a Figure saved at ``path``: the expected pixel size, and more than one colour."""
    assert isinstance(fig, Figure)
    pixels = read_png(path)
    expected = tuple(round(v * fig.dpi) for v in reversed(size_inches))
    assert pixels.shape[:2] == expected
    rgb = pixels[..., :3]
    assert rgb.std() > 0.01
    not_white = np.any(rgb < 0.95, axis=-1).mean()
    assert not_white > 0.02, f"only {not_white:.1%} of the image is drawn on"


def history():
    h = History()
    for epoch, (loss, acc, val_loss) in enumerate([(1.2, 0.5, 1.3), (0.8, 0.7, 0.9), (0.5, 0.8, 0.7)], 1):
        h.append({"epoch": epoch, "loss": loss, "accuracy": acc, "val_loss": val_loss, "val_accuracy": acc - 0.1})
    return h


DRAWINGS = {
    "feature_maps": lambda p: viz.feature_maps(tiny_model(), image(), layer=0, path=p, figsize=FIGSIZE),
    "feature_maps_all": lambda p: viz.feature_maps(tiny_model(), image(), layer="all", path=p, figsize=FIGSIZE),
    "filters": lambda p: viz.filters(nn.Conv2d(2, 3, 3, rng=0), path=p, figsize=FIGSIZE),
    "filters_rgb": lambda p: viz.filters(nn.Conv2d(3, 4, 3, rng=0), path=p, figsize=FIGSIZE),
    "training_curves": lambda p: viz.training_curves(history(), path=p, figsize=FIGSIZE),
    "confusion_matrix": lambda p: viz.confusion_matrix(np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]]),
                                                       ["a", "b", "c"], path=p, figsize=FIGSIZE),
    "misclassified": lambda p: viz.misclassified(tiny_model(), tiny_dataset(), n=4, path=p, figsize=FIGSIZE),
    "saliency": lambda p: viz.saliency(tiny_model(), image(), 1, path=p, figsize=FIGSIZE),
    "activation_histograms": lambda p: viz.activation_histograms(
        tiny_model(), np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32), path=p, figsize=FIGSIZE),
}


@pytest.mark.parametrize("name", DRAWINGS)
def test_png_has_the_size_asked_for_and_is_not_blank(name, tmp_path):
    path = tmp_path / f"{name}.png"
    fig = DRAWINGS[name](path)
    assert_png(fig, path)


def test_default_sizes_follow_the_content(tmp_path):
    fig = viz.filters(nn.Conv2d(3, 4, 3, rng=0), path=tmp_path / "f.png")
    assert_png(fig, tmp_path / "f.png", size_inches=tuple(fig.get_size_inches()))
    one = viz.feature_maps(tiny_model(), image(), layer=0)
    every = viz.feature_maps(tiny_model(), image(), layer="all")
    assert every.get_size_inches()[1] > 3 * one.get_size_inches()[1]


def test_no_path_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    viz.confusion_matrix(np.eye(2, dtype=int))
    assert os.listdir(tmp_path) == []


# -- the pictures show the right numbers ----------------------------------------------------------
def _images(fig):
    """The arrays drawn by imshow in ``fig``, in the order the axes were added."""
    return [np.asarray(im.get_array()) for ax in fig.axes for im in ax.get_images()]


def test_feature_maps_show_the_eval_mode_outputs():
    model = tiny_model().train()
    x = image()
    fig = viz.feature_maps(model, x, layer=4)
    model.eval()
    expected = model[:5](x[None])[0]                    # eval: BatchNorm running stats
    drawn = _images(fig)
    assert len(drawn) == 4
    for c in range(4):
        np.testing.assert_array_equal(drawn[c], expected[c])
    assert all(m.training is False for m in model.modules())


def test_feature_maps_restore_each_layers_mode():
    model = tiny_model().train()
    model[1].training = False                           # a mixed state must come back as it was
    viz.feature_maps(model, image(), layer="all")
    assert [m.training for m in model.layers] == [True, False, True, True, True, True, True, True]


def test_feature_maps_all_draws_every_layer():
    model = tiny_model()
    fig = viz.feature_maps(model, image(), layer="all")
    # channels per layer: conv 3, bn 3, relu 3, pool 3, conv 4, dropout 4; then two vectors
    assert len(_images(fig)) == 3 + 3 + 3 + 3 + 4 + 4 + 1 + 1
    model.eval()
    logits = model(image()[None])
    np.testing.assert_array_equal(_images(fig)[-1], logits.reshape(1, -1))
    titles = [t.get_text() for t in fig.texts]
    assert titles[0].startswith("0: Conv2d(1, 3, kernel_size=3, padding=1)")
    assert titles[-1] == "7: Linear(16, 3)  (3 values)"


def test_feature_maps_index_from_the_end_and_channel_limit():
    fig = viz.feature_maps(tiny_model(), image(), layer=-4, max_channels=2)
    assert len(_images(fig)) == 2
    assert fig.texts[0].get_text() == "4: Conv2d(3, 4, kernel_size=3)  4 x 2 x 2  (first 2 channels)"


def test_feature_maps_accept_uint8_and_a_batch_of_one():
    model = tiny_model()
    pixels = tiny_dataset().images[0]
    a = _images(viz.feature_maps(model, pixels, layer=0))
    b = _images(viz.feature_maps(model, pixels[None].astype(np.float32) / 255, layer=0))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_filters_draw_every_weight():
    conv = nn.Conv2d(2, 3, (3, 2), rng=0)
    fig = viz.filters(conv)
    (mosaic,) = _images(fig)
    w = conv.weight.data
    for f, c in np.ndindex(3, 2):
        np.testing.assert_array_equal(mosaic[f * 4:f * 4 + 3, c * 3:c * 3 + 2], w[f, c])
    assert np.isnan(mosaic[3, 0]) and np.isnan(mosaic[0, 2])        # the gaps between kernels
    assert fig.axes[0].get_title() == repr(conv)


def test_filters_rgb_and_first_conv_of_a_model():
    model = nn.Sequential(nn.ReLU(), nn.Conv2d(3, 5, 3, rng=0), nn.Conv2d(5, 2, 3, rng=1))
    fig = viz.filters(model)
    drawn = _images(fig)
    assert len(drawn) == 5 and drawn[0].shape == (3, 3, 3)
    w0 = model[1].weight.data[0].transpose(1, 2, 0)
    np.testing.assert_allclose(drawn[0], (w0 - w0.min()) / (w0.max() - w0.min()), rtol=1e-6)


def test_filters_limits_are_announced():
    fig = viz.filters(nn.Conv2d(4, 6, 3, rng=0), max_filters=2, max_channels=3)
    assert _images(fig)[0].shape == (2 * 4 - 1, 3 * 4 - 1)
    assert "(showing 2 of 6 filters, 3 of 4 inputs)" in fig.axes[0].get_title()


def test_confusion_matrix_annotations():
    cm = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    fig = viz.confusion_matrix(cm, ["a", "b", "c"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == [str(v) for v in cm.ravel()]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    np.testing.assert_array_equal(_images(fig)[0], cm)
    fig = viz.confusion_matrix(cm, normalize=True)
    assert fig.axes[0].texts[0].get_text() == f"{5 / 6:.2f}"


def test_misclassified_titles_name_true_and_predicted_classes():
    model, ds = tiny_model(), tiny_dataset(n=30)
    model.eval()
    pred = model(ds.images.astype(np.float32) / 255).argmax(1)
    wrong = np.flatnonzero(pred != ds.labels)
    assert len(wrong) > 3
    model.train()
    fig = viz.misclassified(model, ds, n=3, batch_size=7)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [f"true c{ds.labels[i]}\npred c{pred[i]}" for i in wrong[:3]]
    np.testing.assert_array_equal(_images(fig)[0], ds.images[wrong[0], 0])
    assert fig.texts[0].get_text() == f"{len(wrong)} of 30 misclassified (first 3 shown)"
    assert model.training


def test_misclassified_when_all_are_right(tmp_path):
    model, ds = tiny_model(), tiny_dataset(n=10)
    model.eval()
    ds.labels[:] = model(ds.images.astype(np.float32) / 255).argmax(1)
    fig = viz.misclassified(model, ds, path=tmp_path / "m.png")
    assert "no misclassified images" in [t.get_text() for t in fig.texts]
    assert (tmp_path / "m.png").exists()


# -- saliency --------------------------------------------------------------------------------------
def smooth_model():
    """A float64 model without kinks (Tanh, average pooling) so finite differences are exact to O(eps^2)."""
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, rng=0), nn.BatchNorm2d(3), nn.Tanh(), nn.AvgPool2d(2),
        nn.Dropout(0.5, rng=1), nn.Flatten(), nn.Linear(3 * 2 * 3, 4, rng=2),
    ).to(np.float64)
    rng = np.random.default_rng(5)
    model[1].running_mean[...] = rng.standard_normal(3)
    model[1].running_var[...] = rng.random(3) + 0.5
    return model


@pytest.mark.parametrize("target", [0, 3])
def test_saliency_map_is_the_input_gradient(target):
    model = smooth_model().train()
    x = np.random.default_rng(1).standard_normal((2, 4, 6))
    sal = viz.saliency_map(model, x, target)
    assert sal.shape == (4, 6) and sal.dtype == np.float64
    model.eval()
    grad = numerical_gradient(lambda: model(x[None])[0, target], x)
    np.testing.assert_allclose(sal, np.abs(grad).max(axis=0), rtol=1e-6, atol=1e-10)
    assert np.ptp(sal) > 0


def test_saliency_map_leaves_mode_and_gradients_alone():
    model = smooth_model().train()
    rng = np.random.default_rng(2)
    for p in model.parameters():
        p.grad[...] = rng.standard_normal(p.grad.shape)
    before = [p.grad.copy() for p in model.parameters()]
    viz.saliency_map(model, rng.standard_normal((1, 2, 4, 6)), 1)
    for p, g in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.grad, g)
    assert all(m.training for m in model.modules())


def test_saliency_default_target_is_the_predicted_class():
    model = smooth_model()
    x = np.random.default_rng(3).standard_normal((2, 4, 6))
    model.eval()
    predicted = int(model(x[None]).argmax())
    np.testing.assert_array_equal(viz.saliency_map(model, x), viz.saliency_map(model, x, predicted))
    fig = viz.saliency(model, x)
    assert fig.texts[0].get_text().startswith(f"class {predicted} (score ")
    np.testing.assert_array_equal(_images(fig)[1], viz.saliency_map(model, x, predicted))


def test_activation_histograms_one_panel_per_layer():
    model = tiny_model()
    fig = viz.activation_histograms(model, np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == [f"{i}: {type(m).__name__}" for i, m in enumerate(model)]
    model.eval()
    first = model[0](np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32))
    counts = [p.get_height() for p in visible[0].patches]
    assert sum(counts) == first.size


# -- errors ------------------------------------------------------------------------------------------
def test_errors_name_the_function_and_the_problem():
    model = tiny_model()
    with pytest.raises(ValueError, match="feature_maps: layer index 8 is out of range for a model of 8 layers"):
        viz.feature_maps(model, image(), layer=8)
    with pytest.raises(ValueError, match="feature_maps: layer must be an index or 'all', got 'every'"):
        viz.feature_maps(model, image(), layer="every")
    with pytest.raises(TypeError, match="feature_maps: layer must be an int or 'all', got 1.5"):
        viz.feature_maps(model, image(), layer=1.5)
    with pytest.raises(ValueError, match=r"feature_maps: expected one image \(C, H, W\) or \(1, C, H, W\), got a batch of 2"):
        viz.feature_maps(model, np.zeros((2, 1, 8, 8), np.float32))
    with pytest.raises(TypeError, match="feature_maps: expected a convnp model"):
        viz.feature_maps(lambda x: x, image())
    with pytest.raises(ValueError, match="filters: Sequential contains no Conv2d layer"):
        viz.filters(nn.Sequential(nn.ReLU()))
    with pytest.raises(TypeError, match="filters: expected a Conv2d layer or a model, got ndarray"):
        viz.filters(np.zeros((3, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"confusion_matrix: expected a square \(K, K\) matrix, got shape \(2, 3\)"):
        viz.confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="confusion_matrix: expected 2 class names for a 2 x 2 matrix, got 3"):
        viz.confusion_matrix(np.eye(2), ["a", "b", "c"])
    with pytest.raises(ValueError, match="misclassified: n must be a positive int, got 0"):
        viz.misclassified(model, tiny_dataset(), n=0)
    with pytest.raises(TypeError, match="misclassified: expected a Dataset"):
        viz.misclassified(model, np.zeros((3, 1, 8, 8)))
    with pytest.raises(ValueError, match=r"saliency: target must be in \[0, 2\] for 3 classes, got 3"):
        viz.saliency_map(model, image(), 3)
    with pytest.raises(ValueError, match=r"saliency: expected the model to output scores \(1, K\), got shape \(1, 3, 8, 8\)"):
        viz.saliency_map(nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, rng=0)), image(), 0)


def test_missing_matplotlib_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)        # makes "import matplotlib" fail
    with pytest.raises(ImportError, match=r"pip install 'convnp\[plot\]'"):
        viz.training_curves(history())


def _python(code, **env):
    base = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_does_not_load_matplotlib_and_a_chosen_backend_is_kept():
    code = ("import sys, convnp, convnp.viz, convnp.receptive\n"
            "print('matplotlib' in sys.modules)\n"
            "convnp.viz.confusion_matrix([[1, 0], [0, 1]])\n"
            "import matplotlib; print(matplotlib.get_backend().lower())")
    assert _python(code).split() == ["False", "agg"]
    assert _python(code, MPLBACKEND="svg").split() == ["False", "svg"]
