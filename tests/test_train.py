"""fit / evaluate / predict, History, callbacks (NaN, Ctrl-C, seeds and resuming: test_train_stops.py)."""
import math
import re

import numpy as np
import pytest

from conftest import assert_matches
from convnp import data, io, models, nn, optim, train
from convnp.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint
from convnp.train import History
from train_helpers import TRAIN, VAL, Recorder, run, same_bits, small_net


# -- fit learns; History ---------------------------------------------------------------------
def test_fit_learns_separable_images():
    model, history = run(epochs=8, val=VAL, seed=0)
    # measured: val accuracy 1.0 from epoch 3 on; 0.95 leaves room for BLAS differences
    assert history["val_accuracy"][-1] >= 0.95
    assert history["accuracy"][-1] >= 0.95
    assert history["loss"][-1] < history["loss"][0] / 2
    # the same computation as fit's validation (its batch size): equal exactly
    assert train.evaluate(model, VAL, batch_size=32)["accuracy"] == history["val_accuracy"][-1]


def test_history_columns_and_lengths():
    _, history = run(epochs=3, val=VAL)
    assert len(history) == 3 and len(history.epochs) == 3
    for row in history.epochs:
        assert tuple(row) == History.COLUMNS
    assert history["epoch"] == [1, 2, 3]
    assert history["lr"] == [0.01] * 3
    assert all(isinstance(v, float) and v > 0 for v in history["seconds"])
    assert all(isinstance(v, float) and 0 < v < 2 for v in history["val_loss"])
    assert all(0 <= v <= 1 for v in history["val_accuracy"] + history["accuracy"])
    assert history.stop_reason is None
    assert history.to_dict()["epochs"] == history.epochs


def test_without_val_the_val_columns_are_none():
    _, history = run(epochs=2)
    assert history["val_loss"] == [None, None] and history["val_accuracy"] == [None, None]


def test_fit_skips_the_input_gradient_where_the_model_can(monkeypatch):
    """fit asks for parameter gradients only (as PyTorch, whose inputs need no grad); same training."""
    flags = []
    original = nn.Conv2d.backward

    def spy(self, dy, input_grad=True):
        flags.append(input_grad)
        return original(self, dy, input_grad)

    monkeypatch.setattr(nn.Conv2d, "backward", spy)
    skipping, _ = run(small_net(rng=0), epochs=2, seed=0)
    assert flags and not any(flags)  # the only conv is the first layer: dx never computed
    flags.clear()
    monkeypatch.setattr(nn.Conv2d, "backward", lambda self, dy, input_grad=True: spy(self, dy, True))
    full, _ = run(small_net(rng=0), epochs=2, seed=0)  # the same training with dx computed
    assert flags and all(flags)
    for (name, a), (_, b) in zip(skipping.state_dict().items(), full.state_dict().items()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)


def test_train_accepts_a_dataloader_and_arrays():
    loader = data.DataLoader(TRAIN, batch_size=50, shuffle=True, rng=0)
    model = small_net()
    history = train.fit(model, loader, epochs=1, optimizer=optim.Adam(model.parameters()),
                        loss=nn.CrossEntropyLoss(), val=(VAL.images, VAL.labels), progress=False)
    assert len(history) == 1 and history["val_accuracy"][0] is not None


def test_fit_rejects_bad_arguments():
    model = small_net()
    opt = optim.Adam(model.parameters())
    with pytest.raises(TypeError, match="fit: expected a convnp model, got function"):
        train.fit(small_net, TRAIN, epochs=1, optimizer=opt, loss=nn.CrossEntropyLoss())
    with pytest.raises(TypeError, match="fit: epochs must be an int, got 2.5"):
        train.fit(model, TRAIN, epochs=2.5, optimizer=opt, loss=nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match="fit: epochs must be > 0"):
        train.fit(model, TRAIN, epochs=0, optimizer=opt, loss=nn.CrossEntropyLoss())
    expected = r"fit: expected a Dataset, an \(images, labels\) tuple or a DataLoader, got list"
    with pytest.raises(TypeError, match=expected):
        train.fit(model, [1, 2], epochs=1, optimizer=opt, loss=nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match="fit: transform applies to a Dataset"):
        train.fit(model, data.DataLoader(TRAIN), epochs=1, optimizer=opt, loss=nn.CrossEntropyLoss(),
                  transform=data.RandomCrop(8, 1))
    with pytest.raises(ValueError, match="fit: the training data gives no batch"):
        train.fit(model, data.DataLoader(TRAIN, batch_size=500, drop_last=True), epochs=1, optimizer=opt,
                  loss=nn.CrossEntropyLoss())


# -- progress ------------------------------------------------------------------------------
def test_progress_false_prints_nothing(capsys):
    run(epochs=2, val=VAL, progress=False)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_progress_shows_bars_and_one_summary_line_per_epoch(capsys):
    run(epochs=2, val=VAL, progress=True)
    out, err = capsys.readouterr()
    assert "epoch 1/2" in err and "batch" in err          # the tqdm bars, on stderr
    lines = out.splitlines()
    assert len(lines) == 2
    number = r"\d+\.\d{4}"
    for k, line in enumerate(lines, 1):
        assert re.fullmatch(rf"epoch {k}/2: loss {number}, accuracy {number}, val_loss {number},"
                            rf" val_accuracy {number}, \d+\.\d s", line), line


def test_summary_line_leaves_out_missing_validation(capsys):
    run(epochs=1, progress=True)
    out = capsys.readouterr().out
    assert re.fullmatch(r"epoch 1/1: loss \d\.\d{4}, accuracy \d\.\d{4}, \d+\.\d s\n", out)


# -- scheduler -----------------------------------------------------------------------------
def test_scheduler_is_stepped_once_per_epoch_and_lr_recorded():
    model = small_net()
    opt = optim.SGD(model.parameters(), lr=0.1)
    _, history = run(model, epochs=3, optimizer=opt, scheduler=optim.StepLR(opt, step_size=1, gamma=0.5))
    assert history["lr"] == [0.1, 0.05, 0.025]          # the lr each epoch used
    assert opt.param_groups[0]["lr"] == 0.0125           # ready for epoch 4


# -- callbacks -----------------------------------------------------------------------------
def test_early_stopping_stops_after_patience():
    model = small_net()
    stop = EarlyStopping(monitor="val_loss", patience=2)
    # lr = 0: the weights and so val_loss never change, so epoch 1 stays the best
    _, history = run(model, epochs=10, val=VAL, optimizer=optim.SGD(model.parameters(), lr=0.0), callbacks=[stop])
    assert len(history) == 3
    assert history.stop_reason == "early stopping: val_loss did not improve for 2 epochs"


def test_early_stopping_restores_best_weights():
    rec = Recorder()
    # the training loss falls every epoch, so with mode="max" epoch 1 is the best
    stop = EarlyStopping(monitor="loss", mode="max", patience=2, restore_best_weights=True)
    model, history = run(epochs=10, callbacks=[rec, stop])
    assert history["loss"][0] > history["loss"][1] > history["loss"][2]
    assert len(history) == 3 and history.stop_reason.startswith("early stopping")
    assert same_bits(model.state_dict(), rec.weights[0])
    assert not same_bits(model.state_dict(), rec.weights[2])
    assert rec.begun == 1 and rec.ended == 1


def test_early_stopping_without_restore_keeps_the_last_weights():
    rec = Recorder()
    model, history = run(epochs=10, callbacks=[rec, EarlyStopping(monitor="loss", mode="max", patience=2)])
    assert len(history) == 3
    assert same_bits(model.state_dict(), rec.weights[-1])


def test_monitor_errors():
    with pytest.raises(ValueError, match="EarlyStopping: cannot monitor 'val_acc'; choose one of"):
        EarlyStopping(monitor="val_acc")
    with pytest.raises(ValueError, match="ModelCheckpoint: mode must be 'auto', 'min' or 'max', got 'up'"):
        ModelCheckpoint("x.npz", mode="up")
    expected = r"EarlyStopping: 'val_loss' is not recorded \(val_\* needs fit\(\.\.\., val=\.\.\.\)\)"
    with pytest.raises(ValueError, match=expected):
        run(epochs=1, callbacks=[EarlyStopping()])


class FakeState:
    """Stands in for TrainState: records where save() was asked to write."""

    def __init__(self):
        self.saved = []
        self.history = History()

    def save(self, path):
        self.saved.append(path)


def test_model_checkpoint_save_best_only_saves_on_improvement():
    ckpt = ModelCheckpoint("best-{epoch}.npz", monitor="val_loss", save_best_only=True)
    state = FakeState()
    ckpt.on_train_begin(state)
    for epoch, val_loss in enumerate([1.0, 0.8, 0.9, 0.7, 0.7, 0.75], 1):
        ckpt.on_epoch_end(state, {"epoch": epoch, "val_loss": val_loss})
    assert state.saved == ["best-1.npz", "best-2.npz", "best-4.npz"]
    every = ModelCheckpoint("e{epoch:02d}.npz", monitor="val_accuracy")
    state = FakeState()
    for epoch, acc in enumerate([0.5, 0.4], 1):
        every.on_epoch_end(state, {"epoch": epoch, "val_accuracy": acc})
    assert state.saved == ["e01.npz", "e02.npz"]


def test_model_checkpoint_writes_files(tmp_path):
    every = ModelCheckpoint(tmp_path / "every-{epoch:02d}.npz", monitor="loss")
    # the loss falls every epoch: with mode="max" only epoch 1 is an improvement
    best = ModelCheckpoint(tmp_path / "best.npz", monitor="loss", mode="max", save_best_only=True)
    rec = Recorder()
    _, history = run(epochs=3, callbacks=[rec, every, best])
    assert history["loss"][0] > history["loss"][1] > history["loss"][2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz", "every-01.npz", "every-02.npz", "every-03.npz"]
    saved = io.load(tmp_path / "best.npz", with_optimizer=True)
    assert saved.epoch == 1 and same_bits(saved.model.state_dict(), rec.weights[0])
    last = io.load(tmp_path / "every-03.npz", with_optimizer=True)
    assert last.epoch == 3 and same_bits(last.model.state_dict(), rec.weights[2])
    assert last.metadata["history"]["epochs"] == history.epochs


def test_csv_logger_writes_the_history(tmp_path):
    path = tmp_path / "log.csv"
    _, history = run(epochs=3, val=VAL, callbacks=[CSVLogger(path)])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds"
    assert len(lines) == 4
    for line, row in zip(lines[1:], history.epochs):
        cells = line.split(",")
        assert int(cells[0]) == row["epoch"]
        assert [float(c) for c in cells[1:]] == [row[c] for c in History.COLUMNS[1:]]   # repr round-trips


def test_history_csv_leaves_missing_values_empty(tmp_path):
    _, history = run(epochs=1)
    history.to_csv(tmp_path / "h.csv")
    cells = (tmp_path / "h.csv").read_text().splitlines()[1].split(",")
    assert cells[3] == "" and cells[4] == ""


# -- evaluate and predict ---------------------------------------------------------------------
def test_evaluate_runs_in_eval_mode_and_restores_modes():
    model = small_net(dropout=True)
    loss = nn.CrossEntropyLoss()
    first = train.evaluate(model, VAL, loss=loss)
    assert model.training and all(m.training for m in model.modules())
    assert train.evaluate(model, VAL, loss=loss) == first     # no dropout while evaluating
    logits = model.eval()(VAL.images.astype(np.float32) / np.float32(255))
    assert first["n"] == 100
    assert first["accuracy"] == np.mean(logits.argmax(1) == VAL.labels)
    assert math.isclose(first["loss"], loss(logits, VAL.labels), rel_tol=1e-6)
    assert all(not m.training for m in model.modules())
    train.evaluate(model, VAL)
    assert all(not m.training for m in model.modules())
    model.train()
    model.layers[4].training = False                           # a mixed model keeps each layer's mode
    assert train.evaluate(model, VAL, loss=None)["loss"] is None
    assert [m.training for m in model.modules()] == [True, True, True, True, True, False, True]


def test_predict_gives_probabilities_and_accepts_uint8():
    model, _ = run(epochs=3, seed=0)
    model.train()
    probs = train.predict(model, VAL.images)
    assert probs.shape == (100, 4) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-6) and (probs >= 0).all()
    same = train.predict(model, VAL.images.astype(np.float32) / np.float32(255), batch_size=7)
    # other batch sizes are other matrix products (BLAS may sum in another order): float32 rounding apart
    assert_matches(same, probs, np.float32, "predict in batches of 7")
    assert np.array_equal(train.predict(model, VAL.images.astype(np.float32) / np.float32(255)), probs)
    assert np.array_equal(train.predict_classes(model, VAL.images), probs.argmax(1))
    assert model.training                                      # mode restored
    assert np.mean(probs.argmax(1) == VAL.labels) >= 0.95


def test_predict_casts_to_the_model_dtype():
    model = small_net().to(np.float64)
    probs = train.predict(model, VAL.images[:5])
    assert probs.dtype == np.float64 and np.allclose(probs.sum(1), 1, atol=1e-12)


def test_predict_errors():
    with pytest.raises(TypeError, match="predict: expected a convnp model, got function"):
        train.predict(lambda x: x, VAL.images)
    with pytest.raises(TypeError, match="predict: expected uint8 pixels or float images, got dtype int64"):
        train.predict(small_net(), VAL.images.astype(np.int64))


# -- the bundled sample ------------------------------------------------------------------------
def test_simple_cnn_learns_the_bundled_mnist_sample():
    train_set, test_set = data.mnist_sample(train=True), data.mnist_sample(train=False)
    model = models.simple_cnn(rng=0)
    history = train.fit(model, train_set, epochs=2, optimizer=optim.Adam(model.parameters(), lr=3e-3),
                        loss=nn.CrossEntropyLoss(), seed=0, progress=False)
    accuracy = train.evaluate(model, test_set)["accuracy"]
    # measured: 0.9235 on the 2,000 test images (seeds 0-3 gave 0.916-0.940), about 1.5 s
    assert accuracy >= 0.90, accuracy
    assert history["accuracy"][-1] >= 0.88
