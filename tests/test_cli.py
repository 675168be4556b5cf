"""The ``convnp`` command: in-process through main([...]), and once as a real subprocess."""
import importlib.util
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
from cli_helpers import PIL, folder, one_error_line, run_dir, run_main  # noqa: F401 (fixtures)
from convnp import data, io, nn, train
from convnp.cli import load_image, main
from convnp.data import mnist_data


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
                              "input_shape": [1, 28, 28], "model_name": "simple_cnn", "border_mean": 0.047,
                              "plan": {"epochs": 1, "batch_size": 64, "seed": 0, "data_dir": None}}
    last = io.load(out / "last.npz", with_optimizer=True)
    assert last.epoch == 1 and last.optimizer_class == "Adam"
    # the checkpoint carries the final model's metadata, and what resuming needs
    assert {k: v for k, v in last.metadata.items() if k not in ("history", "scheduler")} == model.metadata
    assert last.metadata["scheduler"]["class"] == "CosineAnnealingLR"
    test = data.mnist_sample(train=False)
    # the same computation as fit's validation pass (batches of 64): equal exactly
    assert train.evaluate(model.model, test, batch_size=64)["accuracy"] == history["epochs"][0]["val_accuracy"]


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
    batch = np.stack([test.images[0], test.images[1], test.images[450], load_image(big, (1, 28, 28), {})[0]])
    np.testing.assert_array_equal(batch[:3], test.images[[0, 1, 450]])   # PNG keeps the uint8 pixels exactly
    probs = train.predict(io.load(model_path), batch)                     # the same batch: the same numbers
    for line, path, p in zip(lines, paths + [str(big)], probs):
        k = int(p.argmax())
        assert line == f"{path}: {k} ({p[k]:.3f})"


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


# -- user mistakes: one line on stderr, exit code 2, no traceback ----------------------
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


def test_architectures_that_are_not_classifiers(capsys):
    one_error_line(capsys, main(["train", "--model", "autoencoder", "--epochs", "1"]),
                   "autoencoder is not a classifier; convnp train trains classifiers")
    one_error_line(capsys, main(["train", "--model", "unet", "--epochs", "1"]),
                   r"unet is not a classifier \(its output for one image is \(10, 28, 28\)\); convnp train trains classifiers")
    # summary feeds each architecture its own input: noise (100, 1, 1), a 3x32x32 image
    for name, last in (("dcgan_generator", r"main \(Sequential\)\s+\(None, 1, 28, 28\)"),
                       ("resnet18", r"fc \(Linear\)\s+\(None, 10\)")):
        assert main(["summary", "--model", name]) == 0
        assert re.search(last, capsys.readouterr().out)


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
    assert not offline.exists()          # nothing partial left behind, not even the cache folders it made


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
    one_error_line(capsys, main(["train", "--epochs", "0"]), "--epochs must be >= 1, got 0")
    one_error_line(capsys, main(["train", "--batch-size", "-3"]), "--batch-size must be >= 1, got -3")
    one_error_line(capsys, main(["train", "--seed", "-1"]), "--seed must be >= 0, got -1")
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
    image = tmp_path / "digit.png"
    PIL.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    before = image.read_bytes()
    one_error_line(capsys, main(["visualize", str(model), str(image), "--out", str(image)]),
                   rf"--out {re.escape(str(image))} is the command's own input {re.escape(str(image))}; choose another --out")
    one_error_line(capsys, main(["visualize", str(model), str(image), "--out", str(tmp_path / "m.npz")]),
                   r"--out .*m\.npz names a model file; give a picture's name, e.g. maps.png")
    assert image.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["digit.png"]


def test_submodules_are_reachable_after_import_convnp_without_matplotlib():
    """Issue 9, case 10: `convnp.viz` raised AttributeError after `import convnp`."""
    code = ("import sys, convnp; convnp.viz.feature_maps; convnp.data.image_folder; convnp.io.load;"
            " print(sorted(m for m in ('matplotlib', 'PIL', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"          # optional extras are imported where used, not by `import convnp`
