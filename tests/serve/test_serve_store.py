"""Which model files a server may use (command line, runs folder), their checks, and the train button."""
import json
import os
import shutil
import time

import numpy as np
import pytest
from .serve_helpers import png

import convnp
from convnp import models
from convnp.serve import ModelStore, create_app

from starlette.testclient import TestClient  # noqa: E402


def save(path, model, **meta):
    """convnp.save, then ``meta`` written into the file as given: convnp.save refuses metadata
    that does not fit the model (and convnp.load too), and these tests need such files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    convnp.save(path, model)
    if meta:
        with np.load(path) as npz:
            arrays = dict(npz)
        header = json.loads(arrays["__convnp__"].tobytes())
        header["metadata"] = meta
        arrays["__convnp__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    return path


def test_a_runs_folder_offers_its_runs_and_nothing_else(tmp_path, model_file):
    runs = tmp_path / "runs"
    for name in ("a", "b"):
        (runs / name).mkdir(parents=True)
        shutil.copy(model_file, runs / name / "model.npz")
    (runs / "b" / "last.npz").write_bytes(b"not looked at")
    outside = tmp_path / "outside" / "model.npz"
    outside.parent.mkdir()
    shutil.copy(model_file, outside)
    (runs / "link").mkdir()
    os.symlink(outside, runs / "link" / "model.npz")             # a link out of the folder
    (runs / "bad").mkdir()
    (runs / "bad" / "model.npz").write_bytes(b"PK\x03\x04 damaged")
    store = ModelStore(runs=runs)
    names = {e.name: e for e in store.entries()}
    assert set(names) == {os.path.join("a", "model.npz"), os.path.join("b", "model.npz"),
                          os.path.join("bad", "model.npz")}
    assert names[os.path.join("bad", "model.npz")].error.startswith(str(runs / "bad" / "model.npz") + ": ")
    with TestClient(create_app(store)) as client:
        listed = client.get("/api/models").json()
        assert len(listed["models"]) == 3 and listed["training"]["state"] == "idle"
        bad_id = names[os.path.join("bad", "model.npz")].id
        response = client.post("/api/predict", params={"model": bad_id}, content=b"x")
        assert response.status_code == 404 and "cannot be served" in response.json()["error"]
        (runs / "c").mkdir()
        shutil.copy(model_file, runs / "c" / "model.npz")        # a run finished while serving
        ids = [m["id"] for m in client.get("/api/models").json()["models"]]
        assert len(ids) == 4 and len(set(ids)) == 4


def test_model_files_on_the_command_line_are_checked_at_start(tmp_path, model_file):
    with pytest.raises(ValueError, match="no such model file: .*nope.npz"):
        ModelStore([tmp_path / "nope.npz"])
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.npz: .*not a convnp model file"):
        ModelStore([model_file, tmp_path / "junk.npz"])
    store = ModelStore([model_file, model_file])                  # the same file once
    assert [e.id for e in store.entries()] == ["m1"]


@pytest.mark.parametrize("meta, message", [
    ({}, "does not record its input shape"),
    ({"input_shape": [1, 100000, 100000]}, "is too large"),            # refused by convnp.load itself
    ({"input_shape": [2, 28, 28]}, "does not fit the model"),
    ({"input_shape": "1,28,28"}, "must be [C, H, W]"),
    ({"input_shape": [1, 28, True]}, "must be [C, H, W]"),
    ({"input_shape": [3, 28, 28]}, "does not fit the model"),
    ({"input_shape": [1, 20, 20]}, "does not fit the model"),
])
def test_metadata_is_checked_and_bounded(tmp_path, meta, message):
    path = save(tmp_path / "m.npz", models.lenet5(rng=0), **meta)
    with pytest.raises(ValueError, match=f"^{path}: .*" + message.replace("[", r"\[")):
        ModelStore([path])


def test_the_page_bounds_the_image_sides(tmp_path):
    nn = convnp.nn      # a model that takes any size: the page's own bound applies
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 10, rng=0))
    with pytest.raises(ValueError, match=r"1 <= H, W <= 512"):
        ModelStore([save(tmp_path / "m.npz", model, input_shape=[1, 600, 600])])


def test_class_names_must_match_the_outputs(tmp_path):
    model = models.lenet5(num_classes=3, rng=0)
    named = ModelStore([save(tmp_path / "a.npz", model, input_shape=[1, 28, 28], classes=["cat", "dog", "eel"])])
    assert named.default().classes == ["cat", "dog", "eel"]
    with pytest.raises(ValueError, match=r"metadata 'classes' names 2 classes but the model's output"):
        ModelStore([save(tmp_path / "b.npz", model, input_shape=[1, 28, 28], classes=["cat", "dog"])])


def test_a_colour_model_gets_rgb_and_is_never_inverted_on_its_own(tmp_path):
    path = save(tmp_path / "rgb.npz", models.simple_cnn(in_channels=3, rng=0), input_shape=[3, 28, 28],
                dataset="cifar10")
    rgb = np.zeros((3, 40, 30), np.uint8)
    rgb[0] = 255                                                 # red, light border
    with TestClient(create_app(ModelStore([path]))) as client:
        answer = client.post("/api/predict", content=png(rgb)).json()
        assert answer["input"]["shape"] == [3, 28, 28] and not answer["input"]["inverted"]
        grey = client.post("/api/predict", content=png(np.full((1, 28, 28), 200, np.uint8))).json()
        assert grey["input"]["shape"] == [3, 28, 28]             # a grey image converted to RGB


def test_a_model_with_residual_blocks_shows_each_call(tmp_path):
    model = models.resnet_small(num_classes=4, width=4, rng=0)
    path = save(tmp_path / "resnet.npz", model, input_shape=[3, 32, 32], classes=["a", "b", "c", "d"])
    with TestClient(create_app(ModelStore([path]))) as client:
        (m,) = client.get("/api/models").json()["models"]
        assert "Residual" in [row["type"] for row in m["layers"]] and m["layers"][-1]["shape"] == [4]
        layers = client.post("/api/layers", content=png(np.full((3, 32, 32), 90, np.uint8))).json()["layers"]
        assert [row["shape"] for row in layers] == [row["shape"] for row in m["layers"]]
        sal = client.post("/api/saliency", content=png(np.full((3, 32, 32), 90, np.uint8))).json()
        assert sal["saliency"]["shape"] == [32, 32] and sal["label"] in "abcd"


def test_the_train_button_runs_convnp_train_and_offers_the_new_model(tmp_path, folder_dataset):
    runs = tmp_path / "runs"
    store = ModelStore(runs=runs)
    args = ("--dataset", f"folder:{folder_dataset}", "--epochs", "2", "--batch-size", "8")
    with TestClient(create_app(store, train_args=args)) as client:
        assert client.get("/api/models").json()["models"] == []
        started = client.post("/api/train").json()
        assert started["state"] == "running"
        again = client.post("/api/train")
        assert again.status_code == 409 and "already under way" in again.json()["error"]
        deadline = time.monotonic() + 120
        while (status := client.get("/api/train").json())["state"] == "running":
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["state"] == "done", status
        assert status["progress"] == 1.0 and status["epochs"] == 2     # read from convnp train's output
        listed = client.get("/api/models").json()
        (entry,) = listed["models"]
        assert entry["id"] == status["model"] and entry["name"] == os.path.join(started["out"], "model.npz")
        assert entry["dataset"] == f"folder:{folder_dataset}"
        assert client.post("/api/predict", params={"model": entry["id"]}, content=png(np.zeros((28, 28), np.uint8))
                           ).status_code == 200


def test_a_failed_training_run_says_why(tmp_path):
    store = ModelStore(runs=tmp_path / "runs")
    with TestClient(create_app(store, train_args=("--dataset", "nope"))) as client:
        client.post("/api/train")
        deadline = time.monotonic() + 60
        while (status := client.get("/api/train").json())["state"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert status["state"] == "failed" and "unknown dataset 'nope'" in status["message"]


def test_stopping_the_server_stops_a_run_under_way(tmp_path):
    app = create_app(ModelStore(runs=tmp_path / "runs"))       # the default training: far longer than this test
    with TestClient(app) as client:
        assert client.post("/api/train").json()["state"] == "running"
        proc = app.app.state.job._proc
        assert proc.poll() is None
    assert proc.poll() is not None                               # ended by the server's shutdown, not left behind


def test_progress_is_read_from_the_bar_and_the_epoch_lines():
    from convnp.serve.training import TrainingJob

    job = TrainingJob(ModelStore())
    job._progress("epoch 2/4:  50%|#####     | 5/10 [00:00<00:00, 50.0it/s, loss=2.3, acc=0.1]")
    assert job.status()["progress"] == pytest.approx(1.5 / 4) and job.status()["message"] == "epoch 2/4"
    job._progress("epoch 3/4: loss 0.5000, accuracy 0.8000, val_loss 0.6000, val_accuracy 0.7500, 0.3 s")
    assert job.status()["progress"] == pytest.approx(3 / 4) and job.status()["epoch"] == 3


def test_an_onnx_file_is_served_like_a_model_file(tmp_path, model_file):
    pytest.importorskip("onnx")
    from convnp import onnx as convnp_onnx

    path = tmp_path / "lenet5.onnx"
    convnp_onnx.export(convnp.load(model_file), path, (1, 28, 28))
    store = ModelStore([path])
    (entry,) = store.entries()
    assert entry.error is None and entry.input_shape == (1, 28, 28)
    digit = convnp.data.mnist_sample(train=False).images[0, 0]
    with TestClient(create_app(store)) as client:
        answer = client.post(f"/api/predict?model={entry.id}", content=png(digit))
        assert answer.status_code == 200
        probs = np.array(answer.json()["probabilities"])
    assert probs.shape == (10,) and abs(probs.sum() - 1) < 1e-5
