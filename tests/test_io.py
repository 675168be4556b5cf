"""Model files: round trips bit for bit, checkpoints, JSON-native values, format 1, checked metadata.

Damaged, tampered and malicious files, and atomic writes: test_io_bad_files.py.
"""
import os

import numpy as np
import pytest

from convnp import io, nn, optim
from convnp.nn.module import Layer
from io_helpers import Pad, Scale, Wrap, batch, entries, header, rewrite_header, saved, small_cnn, trained_cnn  # noqa: F401


# -- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_gives_identical_outputs(tmp_path, dtype):
    model = trained_cnn(dtype)
    assert float(np.abs(model.layers[1].running_mean).max()) > 0.1   # statistics really moved
    path = tmp_path / "m.npz"
    io.save(path, model)
    loaded = io.load(path)
    assert isinstance(loaded, nn.Sequential)
    assert repr(loaded) == repr(model)
    x = batch(dtype)
    out = loaded(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, model(x))   # bit for bit
    ours, theirs = loaded.state_dict(), model.state_dict()
    assert list(ours) == list(theirs)
    for key in ours:
        assert ours[key].dtype == theirs[key].dtype, key
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_train_and_eval_modes_are_restored(tmp_path):
    model = small_cnn().train()
    model.layers[1].eval()
    io.save(tmp_path / "m.npz", model)
    loaded = io.load(tmp_path / "m.npz")
    assert [m.training for m in loaded.modules()] == [m.training for m in model.modules()]
    assert loaded.training and not loaded.layers[1].training


def test_file_is_a_plain_npz_with_a_json_description(saved):
    arrays = entries(saved)
    assert "model/0.weight" in arrays and "model/1.running_var" in arrays
    h = header(saved)
    assert h["format_version"] == io.FORMAT_VERSION == 2
    arch = h["architecture"]
    assert arch["class"] == "Sequential"
    assert [layer["class"] for layer in arch["layers"]] == [
        "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Residual", "Residual", "Flatten", "Dropout", "Linear"]
    assert arch["layers"][0]["config"]["out_channels"] == 4
    assert arch["layers"][5]["shortcut"] is None
    assert arch["layers"][4]["shortcut"]["layers"][0]["config"]["kernel_size"] == 1


def test_custom_registered_layer_round_trip(tmp_path):
    model = nn.Sequential(Scale(3, init=0.5), Pad((2, 3), fill={"value": 1.5}), Scale(8))
    model.layers[0].offset[:] = [1, 2, 3]
    model.layers[2].weight.data[:] = np.arange(8)
    io.save(tmp_path / "m.npz", model)
    loaded = io.load(tmp_path / "m.npz")
    assert loaded.layers[1].sides == [2, 3]      # JSON-native: a tuple comes back as a list
    assert loaded.layers[1].fill == {"value": 1.5} and loaded.layers[0].init == 0.5
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(loaded(x), model(x))


def test_a_layer_given_to_a_constructor_is_described_in_place(tmp_path):
    model = nn.Sequential(Wrap(nn.Sequential(Scale(3, init=2.0)), factor=(2, 3)))
    io.save(tmp_path / "m.npz", model)
    assert header(tmp_path / "m.npz")["architecture"]["layers"][0]["config"] == {
        "inner": {"__layer__": {"class": "Sequential", "layers": [
            {"class": "Scale", "config": {"features": 3, "init": 2.0}}]}}, "factor": [2, 3]}
    loaded = io.load(tmp_path / "m.npz")
    assert loaded.layers[0].factor == [2, 3]      # JSON-native: a tuple comes back as a list
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(loaded(x), model(x))


def test_config_values_must_be_json_native(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store config value 'fill'\['w'\] of the layer at the top level,"
                                        r" a ndarray; allowed: None, bool, int, float, str, list, tuple, dict"):
        io.save(tmp_path / "m.npz", Pad(fill={"value": 0.0, "w": np.ones(2)}))
    with pytest.raises(TypeError, match=r"config value 'fill' of the layer at the top level has the key 1;"
                                        r" keys must be str"):
        io.save(tmp_path / "m.npz", Pad(fill={"value": 0.0, 1: 2}))
    with pytest.raises(TypeError, match=r"cannot store config value 'sides' of the layer at the top level, a set"):
        io.save(tmp_path / "m.npz", Pad(sides={1, 2}))
    assert os.listdir(tmp_path) == []


def test_register_layer_checks():
    assert io.register_layer(Scale) is Scale   # registering the same class again is fine

    class Other(Layer):
        pass

    with pytest.raises(ValueError, match=r"register_layer: the name 'Scale' is taken by .*Scale"):
        io.register_layer(Other, name="Scale")
    with pytest.raises(TypeError, match=r"expected a Layer subclass, got <class 'int'>"):
        io.register_layer(int)


def test_unregistered_layer_cannot_be_saved(tmp_path):
    class Mine(Layer):
        pass

    with pytest.raises(TypeError, match=r"Mine at layer '1' is not a registered layer class; "
                                        r"call convnp.io.register_layer\(Mine\)"):
        io.save(tmp_path / "m.npz", nn.Sequential(nn.ReLU(), Mine()))
    assert os.listdir(tmp_path) == []


def test_config_that_does_not_rebuild_is_refused_at_save(tmp_path):
    class NoConfig(Scale):
        def config(self):
            return {}

    class WrongConfig(Scale):
        def config(self):
            return {"features": 1}

    io.register_layer(NoConfig)
    io.register_layer(WrongConfig)
    with pytest.raises(ValueError, match=r"convnp.save: the model's description does not rebuild it: cannot rebuild"
                                         r" NoConfig at the top level from config \{\}: TypeError: .*'features'"):
        io.save(tmp_path / "a.npz", NoConfig(2))
    with pytest.raises(ValueError, match=r"'weight' is \(3,\) in the model but \(1,\) when rebuilt"):
        io.save(tmp_path / "b.npz", WrongConfig(3))
    assert os.listdir(tmp_path) == []


def test_path_is_used_exactly(tmp_path):
    model = nn.Sequential(Scale(2))
    io.save(str(tmp_path / "weights.bin"), model)
    io.save(tmp_path / "noext", model)
    assert sorted(os.listdir(tmp_path)) == ["noext", "weights.bin"]
    assert isinstance(io.load(tmp_path / "noext"), nn.Sequential)


def test_single_layer_model(tmp_path):
    model = nn.Linear(3, 2, bias=False, rng=0)
    io.save(tmp_path / "m.npz", model)
    loaded = io.load(tmp_path / "m.npz")
    assert type(loaded) is nn.Linear and loaded.bias is None
    np.testing.assert_array_equal(loaded.weight.data, model.weight.data)


# -- checkpoints -----------------------------------------------------------------------------
def _train_steps(model, opt, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        opt.zero_grad()
        out = model(rng.normal(size=(3, 2, 8, 8)).astype(np.float32))
        model.backward(rng.normal(size=out.shape).astype(np.float32))
        opt.step()


def _optimizers(model):
    head, body = model.layers[-1].parameters(), [p for layer in model.layers[:-1] for p in layer.parameters()]
    return [
        optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.99), amsgrad=True),
        optim.SGD([{"params": body}, {"params": head, "lr": 0.02}], lr=0.01, momentum=0.9, nesterov=True),
    ]


@pytest.mark.parametrize("which", [0, 1])
def test_checkpoint_resumes_exactly(tmp_path, which):
    model = small_cnn().train()
    model.layers[7].eval()   # Dropout's own Generator is not part of a model file
    opt = _optimizers(model)[which]
    _train_steps(model, opt, 2, seed=3)
    path = tmp_path / "ckpt.npz"
    io.save(path, model, opt, epoch=2, rng_state=np.random.default_rng(9), metadata={"note": "two steps"})
    ckpt = io.load(path, with_optimizer=True)
    assert isinstance(ckpt, io.Checkpoint)
    assert ckpt.epoch == 2 and ckpt.metadata == {"note": "two steps"}
    assert ckpt.optimizer_class == type(opt).__name__
    restored = io.build_optimizer(ckpt)
    assert type(restored) is type(opt)
    saved_state, state = opt.state_dict(), restored.state_dict()
    assert state["param_groups"] == saved_state["param_groups"]
    for i, entries_ in saved_state["state"].items():
        for name, value in entries_.items():
            np.testing.assert_array_equal(state["state"][i][name], value)
    assert ckpt.rng().random() == np.random.default_rng(9).random()
    # the interrupted run and the uninterrupted one take the same next steps, bit for bit
    _train_steps(model, opt, 2, seed=4)
    _train_steps(ckpt.model, restored, 2, seed=4)
    for (name, a), (_, b) in zip(model.named_parameters(), ckpt.model.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_optimizer_state_round_trips_with_types(tmp_path):
    model = small_cnn().train()
    opt = optim.Adam(model.parameters())
    _train_steps(model, opt, 1, seed=0)
    io.save(tmp_path / "c.npz", model, opt)
    state = io.load(tmp_path / "c.npz", with_optimizer=True).optimizer_state
    original = opt.state_dict()
    assert state["param_groups"][0]["betas"] == [0.9, 0.999]    # JSON-native: a tuple comes back as a list
    assert state["param_groups"] == [{**g, "betas": list(g["betas"])} for g in original["param_groups"]]
    assert list(state["state"]) == list(original["state"])      # int keys (parameter numbers) stay ints
    first = state["state"][0]
    assert isinstance(first["step"], int) and first["step"] == 1
    assert first["exp_avg"].dtype == np.float32


def test_metadata_and_rng_states_round_trip(tmp_path):
    gens = {"loader": np.random.default_rng(1), "mt": np.random.Generator(np.random.MT19937(2)),
            "philox": np.random.Generator(np.random.Philox(3))}
    for g in gens.values():
        g.random(5)
    metadata = {"classes": ["a", "b"], "shape": (1, 28, 28), "seven": None, "lr": np.float32(0.1),
                "mean": np.array([0.5, 0.25]), "nested": [{"x": (np.int64(2), 3.5)}], "big": 2**100,
                "__odd": True, "inf": float("inf"), "flag": np.bool_(True)}
    io.save(tmp_path / "c.npz", nn.Sequential(Scale(2)), epoch=0,
            rng_state={k: g.bit_generator.state for k, g in gens.items()}, metadata=metadata)
    ckpt = io.load(tmp_path / "c.npz", with_optimizer=True)
    assert ckpt.optimizer_state is None and ckpt.optimizer_class is None and ckpt.epoch == 0
    m = ckpt.metadata
    assert list(m) == list(metadata)
    # JSON-native: tuples come back as lists, NumPy numbers as Python numbers; arrays as arrays
    assert m["shape"] == [1, 28, 28] and m["seven"] is None and m["big"] == 2**100 and m["__odd"] is True
    assert type(m["lr"]) is float and m["lr"] == float(np.float32(0.1))
    assert m["mean"].dtype == np.float64
    np.testing.assert_array_equal(m["mean"], metadata["mean"])
    assert m["nested"][0]["x"] == [2, 3.5] and type(m["nested"][0]["x"][0]) is int
    assert m["inf"] == float("inf") and m["flag"] is True
    for name, g in gens.items():
        fresh = np.random.Generator(type(g.bit_generator)())
        fresh.bit_generator.state = ckpt.rng_state[name]
        np.testing.assert_array_equal(fresh.random(4), g.random(4), err_msg=name)
    with pytest.raises(ValueError, match=r"Checkpoint.rng: rng_state is not a NumPy bit generator's state"):
        ckpt.rng()


def test_without_optimizer(tmp_path):
    io.save(tmp_path / "m.npz", nn.Sequential(Scale(2)))
    ckpt = io.load(tmp_path / "m.npz", with_optimizer=True)
    assert ckpt.epoch is None and ckpt.rng_state is None and ckpt.metadata is None
    with pytest.raises(ValueError, match=r"build_optimizer: the checkpoint holds no optimizer state"):
        io.build_optimizer(ckpt)


def test_save_refuses_values_it_cannot_store(tmp_path):
    model = nn.Sequential(Scale(2))
    with pytest.raises(TypeError, match=r"cannot store metadata\['s'\], a set"):
        io.save(tmp_path / "m.npz", model, metadata={"s": {1, 2}})
    with pytest.raises(TypeError, match=r"cannot store metadata\['d'\], a Float32DType"):
        io.save(tmp_path / "m.npz", model, metadata={"d": np.dtype(np.float32)})
    with pytest.raises(TypeError, match=r"metadata has the key 7; keys must be str \(and not '__array__'\)"):
        io.save(tmp_path / "m.npz", model, metadata={7: None})
    with pytest.raises(TypeError, match=r"metadata\['a'\] has the key '__array__'"):
        io.save(tmp_path / "m.npz", model, metadata={"a": {"__array__": "metadata/0"}})
    with pytest.raises(TypeError, match=r"metadata\[0\] is an array of dtype object; .*no pickle"):
        io.save(tmp_path / "m.npz", model, metadata=[np.array([None])])
    with pytest.raises(TypeError, match=r"epoch must be an int or None, got 1.5"):
        io.save(tmp_path / "m.npz", model, epoch=1.5)
    with pytest.raises(TypeError, match=r"expected a Layer as the model, got dict"):
        io.save(tmp_path / "m.npz", {})
    other = optim.SGD(nn.Sequential(Scale(2)).parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"parameter group 0 holds parameters that are not the model's"):
        io.save(tmp_path / "m.npz", model, other)
    assert os.listdir(tmp_path) == []


# -- format 1 and the metadata the commands use ------------------------------------------------
def test_format_1_files_still_load():
    """tests/data/format1_checkpoint.npz was written by convnp before the JSON-native codec (format 1)."""
    path = os.path.join(os.path.dirname(__file__), "data", "format1_checkpoint.npz")
    saved = entries(path)
    assert header(path)["format_version"] == 1
    ckpt = io.load(path, with_optimizer=True)
    for key, value in ckpt.model.state_dict().items():
        np.testing.assert_array_equal(value, saved[f"model/{key}"], err_msg=key)
    assert ckpt.epoch == 1 and ckpt.rng().random() == np.random.default_rng(5).random()
    m = ckpt.metadata
    assert m["shape"] == [1, 6, 6] and m["classes"] == ["a", "b", "c"] and m["history"]["epochs"][0]["loss"] == 1.5
    assert m["lr"].shape == () and m["lr"] == np.float32(0.5)       # a tagged NumPy scalar: a 0-d array now
    np.testing.assert_array_equal(m["mean"], np.arange(3.0))
    assert list(ckpt.optimizer_state["state"]) == [0, 1, 2, 3]      # tagged int keys
    opt = io.build_optimizer(ckpt)
    assert opt.param_groups[0]["betas"] == (0.9, 0.999) and opt.state_dict()["state"][0]["step"] == 2
    np.testing.assert_array_equal(opt.state_dict()["state"][3]["exp_avg"], saved["optimizer/6"])


@pytest.mark.parametrize("metadata, message", [
    ({"input_shape": [1, 100000, 100000]}, r"metadata 'input_shape' \[1, 100000, 100000\] is too large: expected"
                                           r" H, W <= 16384 and C\*H\*W <= 16,777,216, got C\*H\*W = 10,000,000,000"),
    ({"input_shape": [2, 4000, 4000]}, r"metadata 'input_shape' \[2, 4000, 4000\] is too large"),
    ({"input_shape": [1, 28]}, r"metadata 'input_shape' must be \[C, H, W\] with positive ints, got \[1, 28\]"),
    ({"input_shape": [1, 0, 8]}, r"metadata 'input_shape' must be \[C, H, W\] with positive ints"),
    ({"input_shape": [3, 8, 8]}, r"metadata 'input_shape' \[3, 8, 8\] does not fit the model: Conv2d\(2, 4,"),
    ({"input_shape": [2, 16, 16]}, r"metadata 'input_shape' \[2, 16, 16\] does not fit the model: Linear\(96, 5\): expected"),
    ({"input_shape": [2, 8, 8], "classes": ["a", "b"]},
     r"metadata 'classes' names 2 classes but the model's output for input \[2, 8, 8\] is \(N, 5\), expected \(N, 2\)"),
    ({"classes": ["a", "a"]}, r"metadata 'classes' must name each class once"),
    ({"classes": [1.5, 2]}, r"metadata 'classes' must be a list of 1 to 100,000 class names \(str or int\),"
                            r" got \[1.5, 2\]"),
    ({"dataset": 7}, r"metadata 'dataset' must be a str of at most 4096 characters, got 7"),
    ({"border_mean": 300}, r"metadata 'border_mean' must be a number in \[0, 255\], got 300"),
    ({"plan": {"epochs": 0, "batch_size": 1, "seed": 0, "data_dir": None}},
     r"metadata 'plan': epochs must be an int in \[1, 1000000\], got 0"),
    ({"history": {"epochs": [1]}}, r"metadata 'history' must be \{'epochs': "),
    ({"scheduler": {"class": "StepLR"}}, r"metadata 'scheduler' must be \{'class': name, 'state': \{...\}\}"),
])
def test_metadata_that_the_commands_use_is_checked_and_bounded(saved, tmp_path, metadata, message):
    """A model file is not trusted: input_shape would size predict's images, classes name its outputs."""
    rewrite_header(saved, lambda h: h.__setitem__("metadata", metadata))
    with pytest.raises(io.ModelFileError, match=r"model\.npz: " + message):
        io.load(saved)
    with pytest.raises(ValueError, match=r"convnp.save: " + message):
        io.save(tmp_path / "again.npz", trained_cnn(), metadata=metadata)
    assert not (tmp_path / "again.npz").exists()


def test_metadata_that_fits_is_kept(tmp_path):
    meta = {"input_shape": (2, 8, 8), "classes": list("abcde"), "dataset": "x", "border_mean": 12.5,
            "plan": {"epochs": 3, "batch_size": 8, "seed": 0, "data_dir": None}}
    io.save(tmp_path / "m.npz", trained_cnn(), metadata=meta)
    assert io.load(tmp_path / "m.npz", with_optimizer=True).metadata == {**meta, "input_shape": [2, 8, 8]}
