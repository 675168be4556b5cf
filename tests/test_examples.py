"""Every script in examples/ runs (in its quick --smoke mode) and prints the tutorial's numbers.

Each example has ``main(argv)``; it is loaded from its file and called in-process, its
standard output captured and the numbers in it checked, and its figures (written to a
temporary folder) checked to exist and to show something.
"""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ALL = ["cross_correlation", "edge_filters", "mnist_from_scratch", "cifar10", "custom_layer", "autoencoder",
       "unet_shapes", "dcgan", "siamese"]


def load(name):
    spec = importlib.util.spec_from_file_location(f"convnp_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name, capsys, *argv):
    """Run examples/<name>.py's main(argv); return what it printed."""
    assert load(name).main(list(argv)) == 0
    return capsys.readouterr().out


def assert_figure(path, min_size=(200, 150)):
    """The PNG exists, has a plausible size and is not blank (many pixels differ from the background)."""
    from PIL import Image

    assert path.is_file(), f"{path.name} was not written"
    with Image.open(path) as im:
        assert im.width >= min_size[0] and im.height >= min_size[1], f"{path.name} is only {im.size}"
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    background = counts.max() / len(pixels)
    assert len(colours) > 5 and background < 0.97, f"{path.name} looks blank ({background:.1%} one colour)"


def block(out, title):
    """The lines printed after the line starting with ``title``, up to the next blank line or title."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title)) + 1
    body = []
    for line in lines[start:]:
        if not line.strip() or not line.lstrip().startswith("["):
            break
        body.append(line)
    return "\n".join(body)


def matrix(text):
    """A printed integer NumPy array back as an array."""
    return np.array([[int(v) for v in re.findall(r"-?\d+", row)] for row in text.splitlines()])


# -- cross_correlation.py ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def cross_correlation_output(tmp_path_factory):
    import contextlib
    import io

    out = tmp_path_factory.mktemp("cc")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert load("cross_correlation").main(["--smoke", "--out", str(out)]) == 0
    return buf.getvalue(), out


def test_cross_correlation_basic(cross_correlation_output):
    out, _ = cross_correlation_output
    np.testing.assert_array_equal(matrix(block(out, "X (3x3) cross-correlated")), [[19, 25], [37, 43]])


def test_cross_correlation_edges(cross_correlation_output):
    out, _ = cross_correlation_output
    image = matrix(block(out, "6x8 image"))
    assert image.shape == (6, 8) and np.all(image[:, 2:6] == 0) and np.all(image[:, [0, 1, 6, 7]] == 1)
    expected = np.zeros((6, 7), dtype=int)
    expected[:, 1], expected[:, 5] = 2, -2           # the 1 -> 0 and the 0 -> 1 edges
    np.testing.assert_array_equal(matrix(block(out, "vertical edges")), expected)
    np.testing.assert_array_equal(matrix(block(out, "horizontal edges")), expected.T)
    blind = matrix(block(out, "the vertical kernel on the transposed image"))
    assert blind.shape == (8, 5) and np.all(blind == 0)
    diagonal = matrix(block(out, "diagonal edges"))
    np.testing.assert_array_equal(diagonal, 2 * (np.eye(5, dtype=int) + np.eye(5, k=1, dtype=int)))


def test_cross_correlation_learning_in_ten_steps(cross_correlation_output):
    out, _ = cross_correlation_output
    losses = {int(s): float(v) for s, v in re.findall(r"step\s+(\d+), loss\s+([\d.]+)", out)}
    assert set(losses) >= {0, 10}
    assert losses[0] > 20                # a random kernel: far from [2, -2]
    assert losses[10] < 0.05             # "near 0 within 10 steps"
    assert all(losses[a] > losses[b] for a, b in zip(sorted(losses), sorted(losses)[1:]))


def test_cross_correlation_learned_kernel_after_enough_steps(capsys, tmp_path):
    out = run("cross_correlation", capsys, "--steps", "30", "--no-figures", "--out", str(tmp_path))
    k = [float(v) for v in re.search(r"learned kernel: \[\s*([-\d.]+)\s+([-\d.]+)\s*\]", out).groups()]
    np.testing.assert_allclose(k, [2, -2], atol=0.05)
    assert not any(tmp_path.iterdir())   # --no-figures


def test_cross_correlation_stacked(cross_correlation_output):
    out, _ = cross_correlation_output
    np.testing.assert_array_equal(matrix(block(out, "two stacked")), [[19, 25], [37, 43]])
    np.testing.assert_array_equal(matrix(block(out, "second layer")), [[228]])   # 0*19 + 1*25 + 2*37 + 3*43
    np.testing.assert_array_equal(matrix(block(out, "receptive field")), [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    # convnp.receptive_field's table: the second conv's output (None, 1, 1, 1) sees 3 pixels per axis
    assert re.search(r"^1\s+Conv2d\s+\(None, 1, 1, 1\)\s+3\s", out, flags=re.M)


def test_cross_correlation_figures(cross_correlation_output):
    _, folder = cross_correlation_output
    assert_figure(folder / "cross_correlation_edges.png")
    assert_figure(folder / "cross_correlation_learning.png")


# -- edge_filters.py -------------------------------------------------------------------------------
def test_edge_filters(capsys, tmp_path):
    out = run("edge_filters", capsys, "--smoke", "--out", str(tmp_path))
    assert "generated test image, 48x48" in out
    m = re.search(r"left ([-+][\d.]+), right ([-+][\d.]+), top ([-+][\d.]+), bottom ([-+][\d.]+)", out)
    np.testing.assert_allclose([float(v) for v in m.groups()], [2.1, -2.1, -2.1, 2.1], atol=1e-3)
    shapes = re.findall(r"^(.+?)\s+(\(\d+, \d+, \d+\))", out, flags=re.M)
    assert [s for _, s in shapes] == [
        "(1, 48, 48)", "(2, 46, 46)", "(2, 46, 46)", "(2, 23, 23)", "(3, 19, 19)", "(3, 19, 19)",
        "(3, 9, 9)", "(1, 3, 3)", "(1, 3, 3)", "(1, 1, 1)",
    ]
    assert_figure(tmp_path / "edge_filters.png")


def test_edge_filters_reads_an_image_file(capsys, tmp_path):
    from PIL import Image

    pixels = np.zeros((50, 60, 3), dtype=np.uint8)
    pixels[:, 30:] = 255                                  # dark left half, white right half
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    out = run("edge_filters", capsys, "--image", str(tmp_path / "photo.png"), "--out", str(tmp_path))
    assert "50x60 grayscale" in out
    # one dark -> white step: the vertical filter gives 3 * 1.0 there, the horizontal one nothing
    assert re.search(r"vertical-edge map: max 3\.000", out)
    assert re.search(r"horizontal-edge map: max 0\.000", out)
    assert_figure(tmp_path / "edge_filters.png")


def test_edge_filters_refuses_a_too_small_image(capsys, tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((30, 60), dtype=np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(SystemExit) as e:
        load("edge_filters").main(["--image", str(tmp_path / "small.png"), "--out", str(tmp_path)])
    assert e.value.code == 2
    assert "the image is 30x60: the three blocks need at least 42x42 pixels" in capsys.readouterr().err


# -- mnist_from_scratch.py ----------------------------------------------------------------------
def test_mnist_from_scratch(capsys, tmp_path):
    out = run("mnist_from_scratch", capsys, "--smoke", "--out", str(tmp_path))
    assert "1000 training and 400 test images" in out
    epochs = re.findall(r"epoch (\d)/2: train loss ([\d.]+), .* test accuracy ([\d.]+)", out)
    assert [e[0] for e in epochs] == ["1", "2"]
    acc = float(re.search(r"test accuracy: ([\d.]+)", out).group(1))
    assert acc > 0.5                      # two short epochs already beat chance (0.1) by far
    assert "precision" in out and "macro avg" in out
    cm = matrix(block(out, "confusion matrix"))
    assert cm.shape == (10, 10) and cm.sum() == 400
    assert np.trace(cm) / 400 == pytest.approx(acc, abs=1e-4)
    for name in ("loss", "curves", "confusion", "misclassified", "feature_maps"):
        assert_figure(tmp_path / f"mnist_{name}.png")


# -- cifar10.py ------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["vgg_small", "resnet_small"])
def test_cifar10_smoke(capsys, tmp_path, model):
    out = run("cifar10", capsys, "--smoke", "--model", model, "--out", str(tmp_path))
    assert "32 training and 16 test images of shape (3, 32, 32)" in out
    assert re.search(r"epoch 1: train loss [\d.]+, train accuracy [\d.]+, test loss [\d.]+", out)
    acc = float(re.search(r"test accuracy: ([\d.]+)", out).group(1))
    assert 0 <= acc <= 1
    for name in ("curves", "confusion", "misclassified"):
        assert_figure(tmp_path / f"cifar10_{name}.png")


# -- custom_layer.py -------------------------------------------------------------------------------
def test_custom_layer(capsys):
    out = run("custom_layer", capsys, "--smoke")
    assert "SiLU: gradient check passed" in out
    assert "ChannelScale: gradient check passed" in out
    assert "BuggySiLU: gradient check FAILED" in out
    assert "the wrong backward pass was caught: True" in out
    assert "model: gradient check passed" in out
    assert re.search(r"10 steps: mean loss of the first 5 [\d.]+, of the last 5 [\d.]+", out)


def test_custom_layer_classes_match_the_math():
    ex = load("custom_layer")
    x = np.linspace(-30, 30, 13)[None, None, None]         # extreme values: no overflow warnings
    with np.errstate(all="raise"):
        y = ex.SiLU().forward(x)
    np.testing.assert_allclose(y, x / (1 + np.exp(-x)), rtol=1e-12)
    layer = ex.ChannelScale(2)
    assert repr(layer) == "ChannelScale(2)"
    with pytest.raises(ValueError, match=r"ChannelScale\(2\): expected input \(N, 2, H, W\), got \(1, 3, 4, 4\)"):
        layer.forward(np.zeros((1, 3, 4, 4), dtype=np.float32))
    with pytest.raises(RuntimeError, match="backward\\(\\) called before forward\\(\\)"):
        ex.SiLU().backward(np.ones(3))


# -- the nn.Model examples: autoencoder.py, unet_shapes.py, dcgan.py, siamese.py ----------------------
def number(out, pattern):
    return float(re.search(pattern, out).group(1))


def test_autoencoder(capsys, tmp_path):
    out = run("autoencoder", capsys, "--smoke", "--out", str(tmp_path))
    assert "500 training and 200 test digits, noise std 0.4" in out
    assert re.search(r"epoch 1/1: train MSE [\d.]+", out)
    noisy = number(out, r"test MSE of the noisy input:\s+([\d.]+)")
    recon = number(out, r"test MSE of the reconstruction:\s+([\d.]+)")
    assert 0.05 < noisy < 0.12 and 0 < recon < 0.3      # std 0.4 noise, clipped to [0, 1]: about 0.08
    assert_figure(tmp_path / "autoencoder.png")


def test_autoencoder_noise_stays_in_the_pixel_range():
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    noisy = load("autoencoder").add_noise(x, 0.5, np.random.default_rng(1))
    assert noisy.dtype == np.float32 and noisy.min() == 0 and noisy.max() == 1 and not np.array_equal(noisy, x)


def test_unet_shapes(capsys, tmp_path):
    out = run("unet_shapes", capsys, "--smoke", "--out", str(tmp_path))
    assert "64 new generated 16x16 training images per epoch, 32 held out" in out
    ious = [float(v) for v in re.findall(r"(?:background|circle|square|triangle) ([\d.]+)", out)]
    assert len(ious) == 4 and all(0 <= v <= 1 for v in ious)
    assert number(out, r"mean IoU: ([\d.]+)") == pytest.approx(np.mean(ious), abs=1e-4)
    assert number(out, r"mean IoU of the three shapes: ([\d.]+)") == pytest.approx(np.mean(ious[1:]), abs=1e-4)
    assert_figure(tmp_path / "unet_shapes.png")


def test_unet_shapes_geometry_and_iou():
    ex = load("unet_shapes")
    yy, xx = np.mgrid[0:200, 0:200].astype(np.float64)
    r = 60
    areas = [ex.shape_mask(k, yy, xx, 100, 100, r, 0.7).sum() for k in (1, 2, 3)]
    # circle pi r^2, the square inscribed in the circle 2 r^2, the equilateral triangle 3 sqrt(3) / 4 r^2
    np.testing.assert_allclose(areas, [np.pi * r ** 2, 2 * r ** 2, 3 * np.sqrt(3) / 4 * r ** 2], rtol=0.02)
    x, y = ex.make_shapes(20, 32, np.random.default_rng(0))
    assert x.shape == (20, 1, 32, 32) and y.shape == (20, 32, 32) and set(np.unique(y)) <= {0, 1, 2, 3}
    assert all(np.any(y[i] > 0) for i in range(20))                        # every image shows a shape
    assert x[:, 0][y > 0].mean() > x[:, 0][y == 0].mean() + 0.5            # shapes are brighter than the noise
    truth = np.array([[0, 0, 1, 1], [2, 2, 3, 3]])
    pred = np.array([[0, 1, 1, 1], [2, 2, 3, 0]])
    np.testing.assert_allclose(ex.iou_per_class(pred, truth, 4), [1 / 3, 2 / 3, 1, 1 / 2])


def test_dcgan(capsys, tmp_path):
    out = run("dcgan", capsys, "--smoke", "--out", str(tmp_path))
    m = re.search(r"epoch 1/1: loss D ([\d.]+), loss G ([\d.]+), D\(x\) ([\d.]+), D\(G\(z\)\) ([\d.]+)", out)
    assert m and all(float(v) > 0 for v in m.groups()) and float(m.group(3)) < 1
    share = number(out, r"classified with probability >= 0\.9: ([\d.]+)% of 64") / 100
    per_class = [int(v) for v in re.findall(r"\d+", re.search(r"by class 0-9: \[(.*)\]", out).group(1))]
    assert len(per_class) == 10 and sum(per_class) == round(share * 64)
    assert_figure(tmp_path / "dcgan_epoch_1.png")


def test_dcgan_judge_without_mnist_fails_before_training(capsys, tmp_path):
    """The full-MNIST judge's files missing: a clear message and exit status 2, no GAN trained, no figure."""
    (tmp_path / "empty").mkdir()
    status = load("dcgan").main(["--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "figs")])
    out = capsys.readouterr().out
    assert status == 2
    assert "the judge needs the MNIST digits" in out and "--judge-data sample" in out and "train-images" in out
    assert "epoch" not in out and not (tmp_path / "figs").exists()


def test_dcgan_judge_reads_mnist_files_from_data_dir(capsys, tmp_path):
    """--data-dir: the judge trains on the IDX files found there (written here: 40 train, 20 test digits)."""
    from test_data_download import idx_gz

    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        (tmp_path / f"{prefix}-images-idx3-ubyte.gz").write_bytes(idx_gz(rng.integers(0, 256, (n, 28, 28))))
        (tmp_path / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(idx_gz(rng.integers(0, 10, n)))
    ex = load("dcgan")
    args = ex.parse(["--data-dir", str(tmp_path)])
    train_set, test_set = ex.judge_data(args)
    assert (len(train_set), len(test_set), train_set.name) == (40, 20, "mnist")


def test_dcgan_step_matches_the_pytorch_tutorial(torch):
    """The example's gan_step against the tutorial's loop: two steps, every weight and running statistic."""
    from conftest import assert_matches, to_numpy
    from test_architectures import torch_dcgan

    from convnp import models, nn, optim

    ex = load("dcgan")
    g, d = models.dcgan_generator(nz=5, ngf=2, rng=0).to(np.float64), models.dcgan_discriminator(ndf=2, rng=1).to(np.float64)
    tg, td = torch_dcgan(torch, 5, 2, 2)
    for ours, theirs in ((g, tg), (d, td)):
        theirs.double().load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    opt_g, opt_d = (optim.Adam(m.parameters(), lr=0.01, betas=(0.5, 0.999)) for m in (g, d))
    topt_g, topt_d = (torch.optim.Adam(m.parameters(), lr=0.01, betas=(0.5, 0.999)) for m in (tg, td))
    criterion, rng = torch.nn.BCEWithLogitsLoss(), np.random.default_rng(0)
    for _ in range(2):
        real, z = rng.uniform(-1, 1, (4, 1, 28, 28)), rng.standard_normal((4, 5, 1, 1))
        ex.gan_step(g, d, ex.RealAndFake(d), real, z, opt_g, opt_d, nn.BCEWithLogitsLoss())
        td.zero_grad()                                              # the tutorial's training loop
        err_real = criterion(td(torch.tensor(real)), torch.ones(4, 1, dtype=torch.float64))
        err_real.backward()
        fake = tg(torch.tensor(z))
        criterion(td(fake.detach()), torch.zeros(4, 1, dtype=torch.float64)).backward()
        topt_d.step()
        tg.zero_grad()
        criterion(td(fake), torch.ones(4, 1, dtype=torch.float64)).backward()
        topt_g.step()
    for ours, theirs in ((g, tg), (d, td)):
        for name, value in ours.state_dict().items():
            assert_matches(value, to_numpy(theirs.state_dict()[name]), np.float64, name)


def test_siamese(capsys, tmp_path):
    out = run("siamese", capsys, "--smoke", "--out", str(tmp_path))
    assert re.search(r"512 new pairs of the 10000 training digits per epoch; 200 pairs of the 2000 test digits"
                     r" \((\d+) the same digit\)", out)
    assert re.search(r"epoch 1/1: train loss [\d.]+, train accuracy [\d.]+", out)
    assert 0 <= number(out, r"held-out pair accuracy: ([\d.]+)") <= 1
    assert_figure(tmp_path / "siamese_pairs.png")


def test_siamese_pairs_and_shared_encoder_gradients():
    from convnp import nn
    from convnp.gradcheck import check_layer

    ex = load("siamese")
    labels = np.repeat(np.arange(10), 30)
    first, second, same = ex.make_pairs(labels, 400, np.random.default_rng(0))
    assert np.all(first != second) and 0.4 < same.mean() < 0.6
    np.testing.assert_array_equal(labels[first] == labels[second], same == 1)
    model = ex.SiameseNet(embedding=3, rng=0).to(np.float64)
    a, b = np.random.default_rng(1).random((2, 2, 1, 28, 28))
    np.testing.assert_allclose(model(a, b), model(b, a), rtol=1e-12)   # symmetric in its two inputs
    # the encoder's two calls and (fa - fb)^2 by central differences, with a tiny encoder to stay fast
    model.encoder = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.Tanh(), nn.Flatten(), nn.Linear(18, 3, rng=1))
    a, b = np.random.default_rng(3).random((2, 2, 1, 5, 5))
    check_layer(model.to(np.float64), (a, b), rng=2)


# -- all of them -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        load(name).main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--smoke" in out and "usage:" in out


def test_runs_as_a_script(tmp_path):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "cross_correlation.py"), "--no-figures", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "[[19 25]\n [37 43]]" in result.stdout
