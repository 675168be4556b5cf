"""fit: NaN and Ctrl-C handling, seeds and exact resumption."""
import re

import numpy as np
import pytest

from convnp import data, io, nn, optim, train
from convnp.callbacks import Callback
from convnp.train import TrainingError
from train_helpers import TRAIN, VAL, Recorder, run, same_bits, small_net


# -- NaN and Ctrl-C ----------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_huge_learning_rate_raises_training_error():
    model = small_net()
    with pytest.raises(TrainingError, match=r"fit: the loss became (nan|inf) at epoch 1, batch \d+; training stopped\."
                                            r" Try a lower learning rate\.") as info:
        run(model, epochs=2, optimizer=optim.SGD(model.parameters(), lr=1e30))
    assert len(info.value.history) == 0


class Poison(Callback):
    """After epoch ``at`` (and after fit saved its checkpoint) set a weight to NaN."""

    def __init__(self, at):
        self.at, self.weights = at, None

    def on_epoch_end(self, state, row):
        if row["epoch"] == self.at:
            self.weights = state.model.state_dict()
            state.model.layers[0].weight.data[0, 0, 0, 0] = np.nan


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_loss_keeps_the_last_good_checkpoint(tmp_path):
    path = tmp_path / "last.npz"
    poison = Poison(at=2)
    with pytest.raises(TrainingError, match=rf"fit: the loss became nan at epoch 3, batch 1; training stopped"
                                            rf" \({re.escape(str(path))} keeps epoch 2, the last good one\)\."
                                            r" Try a lower learning rate\.$") as info:
        run(epochs=5, checkpoint=path, callbacks=[poison])
    assert info.value.history["epoch"] == [1, 2]
    kept = io.load(path, with_optimizer=True)
    assert kept.epoch == 2 and same_bits(kept.model.state_dict(), poison.weights)
    assert all(np.isfinite(p.data).all() for p in kept.model.parameters())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_in_the_first_epoch_claims_no_checkpoint(tmp_path):
    """Issue 9, case 6: the message named a last.npz that did not exist (nor may an older file be claimed)."""
    path = tmp_path / "last.npz"
    model = small_net()
    with pytest.raises(TrainingError) as info:
        run(model, epochs=2, optimizer=optim.SGD(model.parameters(), lr=1e30), checkpoint=path)
    assert str(path) not in str(info.value) and "keeps" not in str(info.value)
    assert not path.exists()
    io.save(path, small_net(rng=5))                           # a file from before: fit did not write it
    model = small_net()
    with pytest.raises(TrainingError) as info:
        run(model, epochs=2, optimizer=optim.SGD(model.parameters(), lr=1e30), checkpoint=path)
    assert "keeps" not in str(info.value)


def test_non_finite_images_are_reported_as_data_not_learning_rate():
    """Issue 9, case 7: a NaN in the data was reported as "Try a lower learning rate"."""
    images = TRAIN.images.astype(np.float32) / 255
    images[[7, 150], 0, 3, 3] = [np.nan, np.inf]
    bad = data.Dataset(images, TRAIN.labels, name="bad")
    with pytest.raises(ValueError, match=r"^fit: the training images hold NaN or infinite values: 2 of 200 images,"
                                         r" at indices 7, 150; fix or drop them before training$"):
        run(small_net(), epochs=1, train_data=bad)
    with pytest.raises(ValueError, match=r"^fit: the validation images hold NaN or infinite values: 1 of 2 images"):
        run(small_net(), epochs=1, val=(images[[0, 7]], TRAIN.labels[:2]))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_transform_that_makes_nan_is_reported_with_its_batch():
    def broken(x):            # e.g. Normalize with a zero std on a constant image
        x = x.copy()
        x[1] = np.nan
        return x

    with pytest.raises(TrainingError, match=r"^fit: the inputs of batch 1 of epoch 1 hold NaN or infinite values"
                                            r" \(1 of its 32 images\); check the data and the transform;"
                                            r" training stopped$"):
        run(small_net(), epochs=1, transform=broken)


class PoisonedSGD(optim.SGD):
    """SGD whose ``at``-th step writes a NaN into the first weight (after the loss was computed)."""

    def __init__(self, params, at, **kwargs):
        super().__init__(params, **kwargs)
        self.at, self.steps = at, 0

    def step(self, closure=None):
        super().step(closure)
        self.steps += 1
        if self.steps == self.at:
            self.param_groups[0]["params"][0].data[0, 0, 0, 0] = np.inf


def test_weights_that_become_nan_on_the_last_step_do_not_overwrite_the_checkpoint(tmp_path):
    path = tmp_path / "last.npz"
    model = small_net()
    rec = Recorder()
    opt = PoisonedSGD(model.parameters(), at=2, lr=0.1)     # one batch per epoch: step 2 ends epoch 2
    with pytest.raises(TrainingError, match=r"fit: the weights 0\.weight became NaN or infinite at the end of epoch 2;"
                                            rf" training stopped \({re.escape(str(path))} keeps epoch 1, the last good"):
        run(model, epochs=3, optimizer=opt, batch_size=200, checkpoint=path, callbacks=[rec])
    kept = io.load(path, with_optimizer=True)
    assert kept.epoch == 1 and same_bits(kept.model.state_dict(), rec.weights[0])


class InterruptOnCall:
    """A batch transform that raises KeyboardInterrupt on its ``n``-th call (as Ctrl-C would)."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self, x):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return x


def test_ctrl_c_in_a_batch_returns_and_keeps_the_checkpoint(tmp_path):
    path = tmp_path / "last.npz"
    rec = Recorder()
    # 200 images in batches of 32: 7 batches an epoch; interrupt the 3rd batch of epoch 2
    model, history = run(epochs=5, checkpoint=path, transform=InterruptOnCall(7 + 3), callbacks=[rec])
    assert history.stop_reason == "interrupted"
    assert history["epoch"] == [1]
    assert rec.ended == 1                              # callbacks still see the end of training
    kept = io.load(path, with_optimizer=True)
    assert kept.epoch == 1 and same_bits(kept.model.state_dict(), rec.weights[0])
    assert kept.metadata["history"]["epochs"] == history.epochs


def test_ctrl_c_in_a_callback_returns_after_the_epoch_is_saved(tmp_path):
    class Interrupt(Callback):
        def on_epoch_end(self, state, row):
            if row["epoch"] == 2:
                raise KeyboardInterrupt

    path = tmp_path / "last.npz"
    rec = Recorder()
    model, history = run(epochs=5, checkpoint=path, callbacks=[rec, Interrupt()])
    assert history.stop_reason == "interrupted" and history["epoch"] == [1, 2]
    kept = io.load(path, with_optimizer=True)
    assert kept.epoch == 2 and same_bits(kept.model.state_dict(), model.state_dict())


def test_interrupted_run_resumes(tmp_path):
    path = tmp_path / "last.npz"
    run(epochs=3, checkpoint=path, transform=InterruptOnCall(7 + 1), seed=1)
    model = small_net(rng=5)
    _, history = run(model, epochs=3, resume=io.load(path, with_optimizer=True))
    assert history["epoch"] == [1, 2, 3] and history.stop_reason is None


# -- reproducibility and exact resumption ---------------------------------------------------
def test_same_seed_same_weights_bit_for_bit_with_dropout():
    runs = [run(small_net(rng=0, dropout=True), epochs=2, seed=seed)[0].state_dict() for seed in (7, 7, 8)]
    assert same_bits(runs[0], runs[1])
    assert not same_bits(runs[0], runs[2])


def test_without_seed_dropout_runs_differ():
    a = run(small_net(rng=0, dropout=True), epochs=1)[0].state_dict()
    b = run(small_net(rng=0, dropout=True), epochs=1)[0].state_dict()
    assert not same_bits(a, b)


def resumable_run(model, epochs, path, resume=None, seed=None):
    """Adam + StepLR + a random crop + Dropout: everything that has state across epochs."""
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    crop = data.Compose([data.RandomCrop(8, padding=1), data.RandomHorizontalFlip()])
    history = train.fit(model, TRAIN, epochs=epochs, optimizer=opt, loss=nn.CrossEntropyLoss(), batch_size=32,
                        val=VAL, scheduler=sched, transform=crop, seed=seed, checkpoint=path, resume=resume,
                        progress=False)
    return history, opt, sched


def test_resume_equals_an_uninterrupted_run_bit_for_bit(tmp_path):
    straight = small_net(rng=0, dropout=True)
    h3, opt3, sched3 = resumable_run(straight, 3, tmp_path / "a.npz", seed=11)
    first = small_net(rng=0, dropout=True)
    resumable_run(first, 2, tmp_path / "b.npz", seed=11)
    ckpt = io.load(tmp_path / "b.npz", with_optimizer=True)
    assert ckpt.epoch == 2
    resumed = small_net(rng=123, dropout=True)             # other weights, fresh Dropout entropy: all restored
    h, opt, sched = resumable_run(resumed, 3, tmp_path / "c.npz", resume=ckpt)
    assert same_bits(resumed.state_dict(), straight.state_dict())
    assert h["epoch"] == [1, 2, 3]
    assert h["loss"] == h3["loss"] and h["val_loss"] == h3["val_loss"] and h["lr"] == h3["lr"] == [0.01, 0.005, 0.0025]
    assert sched.state_dict() == sched3.state_dict()
    state, state3 = opt.state_dict()["state"], opt3.state_dict()["state"]
    assert state.keys() == state3.keys()
    for k in state:
        for name, value in state[k].items():
            assert np.array_equal(value, state3[k][name]), (k, name)
    assert same_bits(io.load(tmp_path / "c.npz").state_dict(), io.load(tmp_path / "a.npz").state_dict())


def test_resume_needs_an_optimizer_state(tmp_path):
    model = small_net()
    io.save(tmp_path / "plain.npz", model)
    ckpt = io.Checkpoint(io.load(tmp_path / "plain.npz"))
    with pytest.raises(ValueError, match="fit: the checkpoint to resume from holds no optimizer state"):
        run(model, epochs=1, resume=ckpt)


def test_resume_past_the_last_epoch_trains_no_more(tmp_path):
    model, _ = run(epochs=2, checkpoint=tmp_path / "c.npz")
    again = small_net(rng=9)
    _, history = run(again, epochs=2, resume=io.load(tmp_path / "c.npz", with_optimizer=True))
    assert history["epoch"] == [1, 2] and same_bits(again.state_dict(), model.state_dict())


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_fit_and_evaluate_want_a_mean_loss(reduction):
    from convnp import nn, optim, train
    from convnp.models import simple_cnn

    model = simple_cnn(rng=0)
    images = np.zeros((8, 1, 28, 28), np.uint8)
    labels = np.zeros(8, np.int64)
    message = rf"expected a loss that averages over the batch \(reduction='mean'\), got CrossEntropyLoss\(reduction='{reduction}'\)"
    with pytest.raises(ValueError, match="fit: " + message):
        train.fit(model, (images, labels), epochs=1, optimizer=optim.SGD(model.parameters()),
                  loss=nn.CrossEntropyLoss(reduction=reduction), progress=False)
    with pytest.raises(ValueError, match="evaluate: " + message):
        train.evaluate(model, (images, labels), loss=nn.CrossEntropyLoss(reduction=reduction))
