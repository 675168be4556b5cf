"""``convnp`` on bad input loses no work (issue 9): run folders, resuming, checked model files, no tracebacks.

Each test reproduces one of the issue's numbered cases (named in its docstring) through
main([...]), in-process.
"""
import errno
import os
import re
import shlex
import sys
import tempfile

import numpy as np
import pytest

import convnp
from cli_helpers import FOLDER_RUN, folder, make_folder_dataset, one_error_line, run_dir, write_png  # noqa: F401
from convnp import data, io, nn
from convnp.cli import main
from test_data_folder import png_header_only


class Interrupting(nn.CrossEntropyLoss):
    """Ctrl-C on the ``at``-th loss call (a folder run: 3 training batches and 1 validation batch an epoch)."""
    at, calls = 6, 0

    def forward(self, pred, target):
        Interrupting.calls += 1
        if Interrupting.calls == Interrupting.at:
            raise KeyboardInterrupt
        return super().forward(pred, target)


def interrupt_at(monkeypatch, call):
    Interrupting.at, Interrupting.calls = call, 0
    monkeypatch.setattr(convnp.nn, "CrossEntropyLoss", Interrupting)


def files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# -- case 1: a folder that holds a run is never overwritten by mistake ----------------------------
def test_out_refuses_a_folder_that_holds_a_run(folder, tmp_path, monkeypatch, capsys):
    """Case 1: `convnp train --out r` on a folder holding a run silently overwrote its model.npz and last.npz."""
    monkeypatch.chdir(tmp_path)
    run = ["train", "--dataset", folder, *FOLDER_RUN, "--schedule", "constant"]
    assert main([*run, "--epochs", "1", "--out", "r"]) == 0
    before = files(tmp_path / "r")
    capsys.readouterr()
    last = os.path.join("r", "last.npz")
    one_error_line(capsys, main([*run, "--epochs", "2", "--out", "r"]),
                   rf"--out r already holds a run \(model\.npz, last\.npz, history\.csv, history\.json(, curves\.png)?\);"
                   rf" continue it with --resume {re.escape(last)}, choose another --out, or give --force to replace it")
    assert files(tmp_path / "r") == before                     # nothing changed
    assert main(["train", "--resume", last, "--epochs", "2", "--quiet"]) == 0   # continues it, in place
    assert io.load(last, with_optimizer=True).epoch == 2 and sorted(os.listdir(tmp_path)) == ["r"]
    assert main(["train", "--resume", last, "--epochs", "3", "--out", "elsewhere", "--quiet"]) == 0   # a copy, elsewhere
    one_error_line(capsys, main(["train", "--resume", os.path.join("elsewhere", "last.npz"), "--out", "r"]),
                   r"--out r already holds a run .*")
    assert main([*run, "--epochs", "1", "--out", "r", "--force"]) == 0          # replaced when asked
    assert io.load(last, with_optimizer=True).epoch == 1


# -- case 2: the Ctrl-C hint continues the same run, in its folder, as planned ------------------
def test_ctrl_c_hint_continues_the_same_run_in_its_folder(folder, tmp_path, monkeypatch, capsys):
    """Case 2: the hint trained to 6 epochs into a new runs/<timestamp>, the cosine schedule restarting."""
    monkeypatch.chdir(tmp_path)
    run = ["train", "--dataset", folder, *FOLDER_RUN, "--epochs", "3"]
    with monkeypatch.context() as patch:
        interrupt_at(patch, 6)                                 # the 2nd batch of epoch 2
        assert main([*run, "--out", "cut"]) == 130
    last = os.path.join("cut", "last.npz")
    hint = capsys.readouterr().out.splitlines()[-1]
    assert hint == f"interrupted; epoch 1 of 3 is saved in {last}; continue the run with: convnp train --resume {last}"
    assert not os.path.exists(os.path.join("cut", "model.npz"))
    one_error_line(capsys, main(["train", "--resume", last, "--epochs", "5"]),
                   rf"--epochs 5 runs past the end of {re.escape(last)}'s cosine schedule \(3 epochs, where the"
                   r" learning rate reaches its minimum\); give at most --epochs 3")
    command = shlex.split(hint.split("continue the run with: ")[1])
    assert command[:2] == ["convnp", "train"] and main([*command[1:], "--quiet"]) == 0
    assert capsys.readouterr().out.startswith(
        f"resuming {last} (epoch 1) on imgs: 24 train / 6 test images, 3 epochs, Adam lr=0.0015,"
        f" CosineAnnealingLR, output in cut\n")
    assert sorted(os.listdir(tmp_path)) == ["cut"]              # no runs/<timestamp> appeared
    assert main([*run, "--out", "straight"]) == 0
    resumed, straight = (io.load(tmp_path / r / "model.npz", with_optimizer=True) for r in ("cut", "straight"))
    for (key, a), b in zip(resumed.model.state_dict().items(), straight.model.state_dict().values()):
        assert a.tobytes() == b.tobytes(), key                 # 1 epoch + resumed 2 == 3 epochs, bit for bit
    history = [io.load(tmp_path / r / "last.npz", with_optimizer=True).metadata["history"]["epochs"]
               for r in ("cut", "straight")]
    assert [e["lr"] for e in history[0]] == [e["lr"] for e in history[1]]
    assert np.allclose([e["lr"] for e in history[0]], [0.002, 0.0015, 0.0005], rtol=1e-12)  # cosine, not restarted
    assert [e["loss"] for e in history[0]] == [e["loss"] for e in history[1]]


# -- case 3: a model file's metadata is bounded -------------------------------------------------
def test_a_model_file_with_a_huge_input_shape_is_refused(run_dir, tmp_path, capsys):
    """Case 3: input_shape [1, 100000, 100000] made predict allocate until the OOM killer ended it."""
    ckpt = io.load(run_dir[0] / "model.npz", with_optimizer=True)
    tampered = tmp_path / "tampered.npz"
    arrays = dict(np.load(run_dir[0] / "model.npz"))
    header = arrays["__convnp__"].tobytes().decode().replace('"input_shape":[1,28,28]', '"input_shape":[1,100000,100000]')
    with open(tampered, "wb") as f:
        np.savez(f, **{**arrays, "__convnp__": np.frombuffer(header.encode(), np.uint8)})
    image = write_png(tmp_path / "d.png", data.mnist_sample(train=False).images[0, 0])
    one_error_line(capsys, main(["predict", str(tampered), str(image)]),
                   rf"{re.escape(str(tampered))}: metadata 'input_shape' \[1, 100000, 100000\] is too large: expected"
                   r" H, W <= 16384 and C\*H\*W <= 16,777,216, got C\*H\*W = 10,000,000,000")
    assert ckpt.metadata["input_shape"] == [1, 28, 28]


# -- case 4: the model's outputs and the dataset's classes agree ---------------------------------
def test_model_outputs_must_match_the_dataset_classes(run_dir, folder, tmp_path, capsys):
    """Case 4: a 10-output model on a 2-class folder printed accuracy 0.0000 and then crashed."""
    model, last = run_dir[0] / "model.npz", run_dir[0] / "last.npz"
    one_error_line(capsys, main(["evaluate", str(model), "--dataset", folder]),
                   rf"{re.escape(str(model))} has 10 outputs but imgs has 2 classes; give the --dataset it was trained on")
    one_error_line(capsys, main(["train", "--resume", str(last), "--dataset", folder, "--out", str(tmp_path / "x")]),
                   rf"{re.escape(str(last))} has 10 outputs but imgs has 2 classes; .*")
    assert not (tmp_path / "x").exists()
    assert main(["train", "--dataset", folder, *FOLDER_RUN, "--epochs", "1", "--out", str(tmp_path / "two")]) == 0
    other = make_folder_dataset(tmp_path / "other", classes=("cat", "dog"), per_class=3)
    one_error_line(capsys, main(["evaluate", str(tmp_path / "two" / "model.npz"), "--dataset", other]),
                   r".*model\.npz was trained on the classes \[dark, light\] but other has \[cat, dog\]; .*")


def test_a_folder_dataset_with_one_class_is_refused(tmp_path, capsys):
    """Case 4: a folder dataset with one class trained to "100%"."""
    one = make_folder_dataset(tmp_path / "one", classes=("only",), per_class=4)
    one_error_line(capsys, main(["train", "--dataset", one, "--out", str(tmp_path / "r")]),
                   r"one has one class \(only\); a classifier needs at least 2: one sub-folder per class")
    assert not (tmp_path / "r").exists()


# -- case 5: checkpoints work with every command -------------------------------------------------
def test_a_checkpoint_works_with_every_command(run_dir, tmp_path, capsys):
    """Case 5: predict refused last.npz ("it was not saved by `convnp train`"; it was)."""
    model, last = run_dir[0] / "model.npz", run_dir[0] / "last.npz"
    image = write_png(tmp_path / "d.png", data.mnist_sample(train=False).images[3, 0])
    outputs = {}
    for path in (model, last):
        assert main(["predict", str(path), str(image)]) == 0
        assert main(["evaluate", str(path)]) == 0
        assert main(["summary", str(path)]) == 0
        outputs[path] = capsys.readouterr().out.replace(str(path), "FILE")
    assert outputs[model] == outputs[last]                      # the last epoch's checkpoint is the model
    pytest.importorskip("matplotlib")
    assert main(["visualize", str(last), str(image), "--out", str(tmp_path / "maps.png")]) == 0


# -- case 6: nothing claimed that does not exist, no empty folders -------------------------------
@pytest.mark.filterwarnings("error::RuntimeWarning")    # NumPy's overflow warnings are not printed
def test_nan_in_the_first_epoch_leaves_no_folder_and_claims_no_checkpoint(folder, tmp_path, capsys):
    """Case 6: `--lr 1e9` said "last.npz keeps the last good epoch" (none existed) and left an empty folder."""
    out = tmp_path / "a" / "b"
    code = main(["train", "--dataset", folder, *FOLDER_RUN, "--optimizer", "sgd", "--lr", "1e30", "--out", str(out)])
    one_error_line(capsys, code, r"fit: the (loss became (nan|inf) at epoch 1, batch \d|weights .* became NaN or"
                                 r" infinite at the end of epoch 1); training stopped\. Try a lower learning rate\.")
    assert not (tmp_path / "a").exists()


def test_ctrl_c_in_the_first_epoch_leaves_no_folder(folder, tmp_path, monkeypatch, capsys):
    """Case 6: Ctrl-C in the first epoch left an empty output folder."""
    interrupt_at(monkeypatch, 2)
    assert main(["train", "--dataset", folder, *FOLDER_RUN, "--out", str(tmp_path / "r")]) == 130
    assert capsys.readouterr().out.splitlines()[-1] == "interrupted before the first epoch finished; nothing was saved"
    assert os.listdir(tmp_path) == []


# -- case 8: no tracebacks -------------------------------------------------------------------------
def test_folder_dataset_without_pillow(folder, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "PIL", None)              # makes `from PIL import ...` fail
    one_error_line(capsys, main(["train", "--dataset", folder]),
                   r"image_folder needs Pillow to decode images: pip install 'convnp\[image\]'")


@pytest.mark.parametrize("side", [10000, 20000])
def test_predict_refuses_a_huge_image_before_decoding(run_dir, tmp_path, capsys, side):
    bomb = png_header_only(tmp_path / "bomb.png", side, side)
    one_error_line(capsys, main(["predict", str(run_dir[0] / "model.npz"), str(bomb)]),
                   rf"predict: {re.escape(str(bomb))} (is 10000x10000 pixels \(100,000,000\)|has more than"
                   r" 178,956,970 pixels); images of more than 89,478,485 pixels are refused before decoding"
                   r" \(a decompression bomb guard\): scale it down first")   # and no Pillow warning: one line


def test_an_out_folder_that_cannot_be_written_is_refused_before_training(folder, tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    def fit(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)      # as a read-only folder answers (even for root)
    monkeypatch.setattr(convnp.train, "fit", fit)
    out = tmp_path / "ro" / "run"
    one_error_line(capsys, main(["train", "--dataset", folder, "--out", str(out)]),
                   rf"cannot write into the --out folder {re.escape(str(out))}: Permission denied")
    assert not (tmp_path / "ro").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions that bind the user")
def test_a_read_only_out_folder_is_refused_before_training(folder, tmp_path, capsys):
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    try:
        one_error_line(capsys, main(["train", "--dataset", folder, "--out", str(tmp_path / "ro")]),
                       r"cannot write into the --out folder .*ro: Permission denied")
    finally:
        os.chmod(tmp_path / "ro", 0o755)


def test_a_full_disk_names_the_file_and_keeps_what_was_there(folder, tmp_path, monkeypatch, capsys):
    out = tmp_path / "r"
    assert main(["train", "--dataset", folder, *FOLDER_RUN, "--epochs", "1", "--out", str(out)]) == 0
    before = files(out)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    capsys.readouterr()
    one_error_line(capsys, main(["train", "--dataset", folder, *FOLDER_RUN, "--out", str(out), "--force"]),
                   rf"cannot write {re.escape(str(out / 'last.npz'))}: No space left on device")
    monkeypatch.undo()
    assert files(out) == before                                 # the run that was there is intact


# -- case 9: NaN weights ---------------------------------------------------------------------------
def test_nan_weights_are_refused(run_dir, tmp_path, capsys):
    """Case 9: NaN weights gave `0 (nan)` from predict and accuracy 0.1000 from evaluate, without a word."""
    ckpt = io.load(run_dir[0] / "model.npz", with_optimizer=True)
    ckpt.model.state_dict()     # a copy; change the model itself
    next(iter(ckpt.model.parameters())).data[0] = np.nan
    bad = tmp_path / "nan.npz"
    io.save(bad, ckpt.model, metadata=ckpt.metadata)
    image = write_png(tmp_path / "d.png", data.mnist_sample(train=False).images[0, 0])
    message = rf"{re.escape(str(bad))}: the weights 0\.weight hold NaN or infinite values, so every answer would be" \
              r" meaningless \(did its training diverge\?\)"
    one_error_line(capsys, main(["predict", str(bad), str(image)]), message)
    one_error_line(capsys, main(["evaluate", str(bad)]), message)
    assert main(["summary", str(bad)]) == 0                     # the layers are still worth seeing


# -- case 10: what is skipped is said; --invert ----------------------------------------------------
def test_curves_skipped_without_matplotlib_is_said(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["train", "--dataset", folder, *FOLDER_RUN, "--epochs", "1", "--out", str(tmp_path / "r")]) == 0
    assert "curves.png skipped: convnp.viz needs matplotlib: pip install 'convnp[plot]'\n" in capsys.readouterr().out
    assert not (tmp_path / "r" / "curves.png").exists()


def test_predict_inverts_a_dark_digit_on_a_light_background(run_dir, tmp_path, capsys):
    """Case 10: a black-on-white digit photo got a confident wrong answer with no hint."""
    model = str(run_dir[0] / "model.npz")
    digit = data.mnist_sample(train=False).images[7, 0]
    white_on_black = write_png(tmp_path / "mnist.png", digit)
    black_on_white = write_png(tmp_path / "paper.png", 255 - digit)
    assert main(["predict", model, str(white_on_black), str(black_on_white)]) == 0
    first, second = capsys.readouterr().out.splitlines()
    label, p = re.fullmatch(r".*mnist\.png: (\d) \((\d\.\d{3})\)", first).groups()
    assert second == f"{black_on_white}: {label} ({p}, inverted)"          # the same pixels once inverted
    assert main(["predict", model, str(black_on_white), "--invert", "no"]) == 0
    assert "inverted" not in capsys.readouterr().out
    assert main(["predict", model, str(white_on_black), "--invert", "yes"]) == 0
    assert capsys.readouterr().out.endswith(", inverted)\n")
