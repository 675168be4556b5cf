"""The ``convnp`` command: in-process through main([...]), and once as a real subprocess."""
import contextlib
import importlib.util
import io as _io
import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convnp
from convnp import data, io, nn, train
from convnp.cli import main
from convnp.data import mnist_data

PIL = pytest.importorskip("PIL.Image")


def run_main(argv):
    """(exit code, stdout, stderr) of main(argv), for fixtures that cannot use capsys."""
    out, err = _io.StringIO(), _io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One short training run on the bundled sample (simple_cnn, 1 epoch: about a second)."""
    out = tmp_path_factory.mktemp("run")
    code, stdout, stderr = run_main(["train", "--model", "simple_cnn", "--epochs", 1, "--out", out])
    return out, code, stdout, stderr


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """--dataset folder:PATH with 30 small PNGs in two classes ("dark", "light"): 24 train / 6 test."""
    root = tmp_path_factory.mktemp("folder") / "imgs"
    rng = np.random.default_rng(0)
    for label, name in enumerate(["dark", "light"]):
        (root / name).mkdir(parents=True)
        for i in range(15):
            pixels = rng.integers(0, 60, (28, 28)) + 150 * label
            PIL.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return f"folder:{root}"


def test_train_writes_the_run_and_reports(run_dir):
    out, code, stdout, stderr = run_dir
    assert code == 0, stderr
    expected = {"model.npz", "last.npz", "history.csv", "history.json"}
    if importlib.util.find_spec("matplotlib"):
        expected.add("curves.png")
    assert expected <= {p.name for p in out.iterdir()}
    assert stdout.startswith(f"training simple_cnn on mnist-sample: 10000 train / 2000 test images, 1 epochs,"
                             f" Adam lr=0.002, CosineAnnealingLR, output in {out}\n")
    assert re.search(r"^epoch 1/1: loss \d\.\d{4}, accuracy \d\.\d{4}, val_loss \d\.\d{4},"
                     r" val_accuracy \d\.\d{4}, \d+\.\d s$", stdout, re.M)
    accuracy = float(re.search(r"^test accuracy: (\d\.\d{4})$", stdout, re.M).group(1))
    assert accuracy >= 0.85                      # measured 0.89 after one epoch
    for k in range(10):                          # the per-class report
        assert re.search(rf"^ +{k} +\d\.\d{{4}} +\d\.\d{{4}} +\d\.\d{{4}} +200$", stdout, re.M)
    assert "precision" in stdout and "recall" in stdout and "f1-score" in stdout
    assert stdout.rstrip().endswith(f"saved {out / 'model.npz'}")
    assert "epoch 1/1" in stderr                 # the progress bar


def test_train_outputs_agree(run_dir):
    out = run_dir[0]
    history = json.loads((out / "history.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == [1] and history["stop_reason"] is None
    assert (out / "history.csv").read_text().splitlines()[0] == "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds"
    model = io.load(out / "model.npz", with_optimizer=True)
    assert model.metadata == {"dataset": "mnist-sample", "classes": [str(d) for d in range(10)],
                              "input_shape": [1, 28, 28], "model_name": "simple_cnn"}
    last = io.load(out / "last.npz", with_optimizer=True)
    assert last.epoch == 1 and last.optimizer_class == "Adam"
    test = data.mnist_sample(train=False)
    assert train.evaluate(model.model, test)["accuracy"] == history["epochs"][0]["val_accuracy"]


def test_resume_refuses_a_new_model_or_optimizer(run_dir, capsys):
    last = str(run_dir[0] / "last.npz")
    assert main(["train", "--resume", last, "--model", "lenet5", "--lr", "0.1"]) == 2
    assert capsys.readouterr().err == ("convnp: error: --resume continues the checkpoint's own model, optimizer"
                                       " and schedule; leave out --model, --lr\n")


def test_evaluate(run_dir, capsys):
    out, _, train_stdout, _ = run_dir
    assert main(["evaluate", str(out / "model.npz")]) == 0
    stdout = capsys.readouterr().out
    assert stdout.startswith(f"{out / 'model.npz'} on mnist-sample (2000 images)\n")
    accuracy = re.search(r"^test accuracy: \d\.\d{4}$", stdout, re.M).group(0)
    assert accuracy in train_stdout              # the same model, the same test split
    assert "macro avg" in stdout


def test_predict_prints_label_and_probability(run_dir, tmp_path, capsys):
    model_path = run_dir[0] / "model.npz"
    test = data.mnist_sample(train=False)
    paths = []
    for i in (0, 1, 450):
        path = tmp_path / f"digit{i}.png"
        PIL.fromarray(test.images[i, 0]).save(path)
        paths.append(str(path))
    big = tmp_path / "big-rgb.png"               # RGB and 56x56: converted to grey and resized
    PIL.fromarray(np.repeat(np.kron(test.images[2, 0], np.ones((2, 2), np.uint8))[..., None], 3, axis=2)).save(big)
    assert main(["predict", str(model_path), *paths, str(big)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    probs = train.predict(io.load(model_path), test.images[[0, 1, 450]])
    for line, path, p in zip(lines, paths, probs):
        k = int(p.argmax())
        assert line == f"{path}: {k} ({p[k]:.3f})"   # PNG keeps the uint8 pixels exactly
    assert re.fullmatch(rf"{re.escape(str(big))}: \d \((0\.\d{{3}}|1\.000)\)", lines[3])


def test_summary_of_a_named_architecture(capsys):
    assert main(["summary", "--model", "lenet5"]) == 0
    stdout = capsys.readouterr().out
    assert "0 (Conv2d)" in stdout and "(None, 6, 28, 28)" in stdout
    assert "Total params: 61,706" in stdout


def test_summary_of_a_model_file(run_dir, capsys):
    assert main(["summary", str(run_dir[0] / "model.npz")]) == 0
    stdout = capsys.readouterr().out
    assert "(None, 8, 26, 26)" in stdout and "Total params: 13,610" in stdout   # 8*9+8 + 8*13*13*10+10
    assert main(["summary", "--model", "vgg_small", "--input-shape", "3,64,64"]) == 0
    assert "(None, 128, 8, 8)" in capsys.readouterr().out


def test_interrupted_train_keeps_the_last_epoch_and_resumes_exactly(folder, monkeypatch, tmp_path, capsys):
    class Interrupting(nn.CrossEntropyLoss):
        """Ctrl-C in the 2nd batch of epoch 2 (3 training batches and 1 validation batch an epoch)."""
        calls = 0

        def forward(self, pred, target):
            Interrupting.calls += 1
            if Interrupting.calls == 6:
                raise KeyboardInterrupt
            return super().forward(pred, target)

    args = ["--dataset", folder, "--model", "simple_cnn", "--epochs", "3", "--batch-size", "8", "--quiet"]
    with monkeypatch.context() as patch:
        patch.setattr(convnp.nn, "CrossEntropyLoss", Interrupting)
        assert main(["train", *args, "--out", str(tmp_path / "cut")]) == 130
    last = tmp_path / "cut" / "last.npz"
    assert capsys.readouterr().out.splitlines()[-1] == f"interrupted; epoch 1 is saved: continue with --resume {last}"
    assert io.load(last, with_optimizer=True).epoch == 1
    assert not (tmp_path / "cut" / "model.npz").exists()

    resume = ["--dataset", folder, *args[4:]]     # the same data and epochs; model and optimizer come from the file
    assert main(["train", "--resume", str(last), *resume, "--out", str(tmp_path / "resumed")]) == 0
    stdout = capsys.readouterr().out
    assert stdout.startswith(f"resuming {last} (epoch 1) on imgs: 24 train / 6 test images, 3 epochs,"
                             f" Adam lr=0.0015, CosineAnnealingLR, output in {tmp_path / 'resumed'}")
    assert main(["train", *args, "--out", str(tmp_path / "straight")]) == 0
    capsys.readouterr()
    resumed, straight = (io.load(tmp_path / run / "model.npz") for run in ("resumed", "straight"))
    for (key, a), b in zip(resumed.state_dict().items(), straight.state_dict().values()):
        assert a.tobytes() == b.tobytes(), key               # 1 epoch + resume 2 epochs == 3 epochs, bit for bit
    history = [json.loads((tmp_path / run / "history.json").read_text())["epochs"] for run in ("resumed", "straight")]
    assert [e["lr"] for e in history[0]] == [e["lr"] for e in history[1]]
    assert np.allclose([e["lr"] for e in history[0]], [0.002, 0.0015, 0.0005], rtol=1e-12)   # the cosine schedule
    assert [e["loss"] for e in history[0]] == [e["loss"] for e in history[1]]


def test_folder_dataset_is_remembered_for_evaluate(folder, tmp_path, capsys):
    assert main(["train", "--dataset", folder, "--model", "simple_cnn", "--epochs", "3", "--lr", "0.01",
                 "--out", str(tmp_path), "--quiet"]) == 0
    stdout = capsys.readouterr().out
    assert stdout.startswith("training simple_cnn on imgs: 24 train / 6 test images")   # a fixed 20% held out
    assert "test accuracy: 1.0000" in stdout
    model = io.load(tmp_path / "model.npz", with_optimizer=True)
    assert model.metadata["classes"] == ["dark", "light"] and model.metadata["dataset"] == folder
    assert main(["evaluate", str(tmp_path / "model.npz")]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'model.npz'} on imgs (6 images)\ntest accuracy: 1.0000")


# -- user mistakes: one line on stderr, a non-zero exit code, no traceback ----------------------
@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty data cache and MNIST mirrors that refuse connections (a port nobody listens on)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)          # connect to 127.0.0.1 directly
    monkeypatch.setenv("CONVNP_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist_data, "MNIST_MIRRORS", [f"http://127.0.0.1:{port}/"])
    return tmp_path / "cache"


def one_error_line(capsys, code, pattern):
    stdout, stderr = capsys.readouterr()
    assert code != 0
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert re.fullmatch(rf"convnp: error: {pattern}\n", stderr), stderr
    return stdout


def test_missing_model_file(tmp_path, capsys):
    for command in ("evaluate", "summary"):
        code = main([command, str(tmp_path / "nope.npz")])
        one_error_line(capsys, code, rf"no such model file: {re.escape(str(tmp_path / 'nope.npz'))}")
    code = main(["predict", str(tmp_path / "nope.npz"), "x.png"])
    one_error_line(capsys, code, "no such model file: .*")


def test_not_a_model_file(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"hello")
    one_error_line(capsys, main(["summary", str(bad)]), rf"{re.escape(str(bad))}: not a convnp model file: .*")


def test_unknown_model_name(capsys):
    from convnp import models

    expected = f"unknown model 'resnet999'; choose one of {', '.join(models.MODELS)}"
    one_error_line(capsys, main(["summary", "--model", "resnet999"]), expected)
    one_error_line(capsys, main(["train", "--model", "resnet999", "--epochs", "1"]), expected)


def test_unknown_dataset(capsys):
    one_error_line(capsys, main(["train", "--dataset", "imagenet"]),
                   r"unknown dataset 'imagenet'; choose one of mnist-sample, mnist, fashion-mnist, cifar10,"
                   r" cifar100, folder:PATH")


def test_missing_data_dir(run_dir, capsys):
    code = main(["evaluate", str(run_dir[0] / "model.npz"), "--dataset", "mnist", "--data-dir", "/nonexistent"])
    one_error_line(capsys, code, r"mnist: data folder '/nonexistent' does not exist \(use --data-dir DIR for"
                                 r" local files, or --dataset mnist-sample, which is bundled\)")
    code = main(["train", "--dataset", "folder:/nonexistent"])
    one_error_line(capsys, code, r"image_folder: folder '/nonexistent' does not exist .*--dataset mnist-sample.*")


def test_offline_download_fails_cleanly(offline, capsys):
    code = main(["train", "--dataset", "mnist", "--epochs", "1"])
    one_error_line(capsys, code, r"mnist: could not download train-images-idx3-ubyte\.gz, tried: http://127\.0\.0\.1"
                                 r".*--data-dir.*--dataset mnist-sample.*")
    assert list(offline.rglob("*")) in ([], [offline / "mnist"])        # nothing partial left behind


def test_bad_image_file(run_dir, tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    code = main(["predict", str(run_dir[0] / "model.npz"), str(bad)])
    one_error_line(capsys, code, rf"predict: cannot decode {re.escape(str(bad))}: .*")
    code = main(["predict", str(run_dir[0] / "model.npz"), str(tmp_path / "missing.png")])
    one_error_line(capsys, code, rf"predict: image '{re.escape(str(tmp_path / 'missing.png'))}' does not exist")


def test_other_mistakes(run_dir, tmp_path, capsys):
    one_error_line(capsys, main(["summary"]), "give either a model file or --model NAME")
    one_error_line(capsys, main(["summary", "--model", "lenet5", "--input-shape", "28,28"]),
                   "--input-shape must be C,H,W with positive integers, e.g. 1,28,28; got '28,28'")
    one_error_line(capsys, main(["train", "--epochs", "0"]), "--epochs and --batch-size must be >= 1, got 0 and 64")
    one_error_line(capsys, main(["train", "--resume", str(run_dir[0] / "model.npz")]),
                   rf"{re.escape(str(run_dir[0] / 'model.npz'))} holds no optimizer state; resume from a run's"
                   r" last.npz, not its model.npz")
    odd = tmp_path / "odd.npz"
    io.save(odd, nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), metadata={"dataset": "imagenet"})
    one_error_line(capsys, main(["evaluate", str(odd)]),
                   rf"{re.escape(str(odd))} was trained on 'imagenet', which is not a --dataset value; give --dataset")


def test_bad_arguments_exit_with_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--epochs", "many"])
    assert info.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err
    assert main([]) == 2
    assert "usage: convnp" in capsys.readouterr().out


# -- as a real process ---------------------------------------------------------------------------
def test_python_dash_m_convnp():
    done = subprocess.run([sys.executable, "-m", "convnp", "summary", "--model", "lenet5"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Total params: 61,706" in done.stdout and done.stderr == ""
    done = subprocess.run([sys.executable, "-m", "convnp", "evaluate", "missing.npz"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr == "convnp: error: no such model file: missing.npz\n"


def test_console_script_version():
    script = shutil.which("convnp", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the convnp console script is not installed next to this Python")
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == f"convnp {convnp.__version__}\n"


@pytest.mark.parametrize("extra,kind", [([], "feature_maps"), (["--layer", "0"], "feature_maps"),
                                        (["--saliency"], "saliency"), (["--filters"], "filters")])
def test_visualize_writes_a_picture(run_dir, tmp_path, capsys, extra, kind):
    pytest.importorskip("matplotlib")
    image = tmp_path / "digit.png"
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[6:22, 12:16] = 255
    PIL.fromarray(pixels).save(image)
    out = tmp_path / f"{kind}.png"
    args = [run_dir[0] / "model.npz"] + ([] if kind == "filters" else [image]) + extra + ["--out", out]
    assert run_main(["visualize", *args])[:2] == (0, f"wrote {out}\n")
    with PIL.open(out) as png:
        pixels = np.asarray(png.convert("L"))
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100 and pixels.std() > 10


def test_visualize_mistakes(run_dir, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    model = run_dir[0] / "model.npz"
    one_error_line(capsys, main(["visualize", str(model)]), "feature maps need an IMAGE")
    one_error_line(capsys, main(["visualize", str(model), "x.png", "--filters", "--saliency"]),
                   "choose one of --filters and --saliency")
    one_error_line(capsys, main(["visualize", str(model), "x.png", "--layer", "last"]),
                   "--layer must be a layer index or all, got 'last'")
    one_error_line(capsys, main(["visualize", str(model), str(tmp_path / "none.png")]), "visualize: image .* does not exist")
