"""The command line with ONNX: ``convnp export --onnx [--check]`` and .onnx files as MODEL."""
import re

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
PIL = pytest.importorskip("PIL.Image")

import convnp  # noqa: E402
from convnp import data, models, train  # noqa: E402
from convnp.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A LeNet-5 saved as `convnp train` saves it, its ONNX export, and a digit image."""
    folder = tmp_path_factory.mktemp("onnx_cli")
    model = models.lenet5(rng=0)
    convnp.save(folder / "model.npz", model, metadata={"input_shape": [1, 28, 28], "dataset": "mnist-sample",
                                                        "classes": list(range(10))})
    image = folder / "digit.png"
    PIL.fromarray(data.mnist_sample(train=False).images[3, 0]).save(image)
    return folder, model, image


def test_export_with_check(files, capsys):
    folder, model, _ = files
    out = folder / "lenet5.onnx"
    assert main(["export", str(folder / "model.npz"), "--onnx", str(out), "--check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"wrote {out}: 12 nodes, opset 17, input Nx1x28x28"
    match = re.fullmatch(r"ONNX Runtime agrees with convnp: largest difference (\S+) on a random batch of 5", lines[1])
    assert match and float(match.group(1)) < 1e-5
    assert out.exists()


def test_onnx_file_as_model(files, capsys):
    folder, model, image = files
    out = folder / "again.onnx"
    assert main(["export", str(folder / "model.npz"), "--onnx", str(out), "--static-batch", "--opset", "13"]) == 0
    assert "input 1x1x28x28" in capsys.readouterr().out
    assert main(["summary", str(out)]) == 0
    assert "layers.0 (Conv2d)" in capsys.readouterr().out
    assert main(["predict", str(out), str(image)]) == 0
    probs = train.predict(model, data.mnist_sample(train=False).images[3:4])
    k = int(probs[0].argmax())
    assert capsys.readouterr().out.strip() == f"{image}: {k} ({probs[0, k]:.3f})"
    assert main(["export", str(out), "--onnx", str(folder / "third.onnx"), "--check"]) == 0   # ONNX to ONNX
    assert "largest difference" in capsys.readouterr().out
    pytest.importorskip("matplotlib")
    png = folder / "maps.png"
    assert main(["visualize", str(out), str(image), "--out", str(png)]) == 0
    assert png.exists() and capsys.readouterr().out.strip() == f"wrote {png}"


def test_evaluate_an_onnx_file(files, capsys):
    folder, model, _ = files
    convnp.onnx.export(model, folder / "e.onnx", (1, 28, 28))
    assert main(["evaluate", str(folder / "e.onnx")]) == 0
    out = capsys.readouterr().out
    test = data.mnist_sample(train=False)
    accuracy = np.mean(train.predict_classes(model, test.images) == test.labels)
    assert f"test accuracy: {accuracy:.4f}" in out


def test_mistakes(files, tmp_path, capsys):
    folder, model, _ = files
    convnp.save(tmp_path / "bare.npz", model)                  # no recorded input shape
    assert main(["export", str(tmp_path / "bare.npz"), "--onnx", str(tmp_path / "b.onnx")]) == 2
    assert capsys.readouterr().err.strip().endswith("does not record its input shape; give --input-shape C,H,W")
    assert main(["export", str(tmp_path / "bare.npz"), "--onnx", str(tmp_path / "b.onnx"),
                 "--input-shape", "1,28,28"]) == 0
    capsys.readouterr()
    (tmp_path / "junk.onnx").write_bytes(b"\x00junk" * 10)
    assert main(["predict", str(tmp_path / "junk.onnx"), "x.png"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("convnp: error: ") and "not an ONNX model, or truncated" in err and "Traceback" not in err
    assert main(["export", str(folder / "model.npz"), "--onnx", str(tmp_path / "o.onnx"), "--opset", "9"]) == 2
    assert "opset must be an int from 13 to" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", str(folder / "model.npz")])           # --onnx is required
