"""The JSON API through Starlette's TestClient: every endpoint, every bad request, concurrency."""
import base64
import json
import threading
import time
import zlib

import numpy as np
import pytest
from .serve_helpers import png

import convnp
from convnp import train
from convnp.serve import ModelStore, create_app
from convnp.viz import saliency_map
from convnp.viz._model import _prepare, _run_layers

from starlette.testclient import TestClient  # noqa: E402  (after conftest's importorskip)


@pytest.fixture(scope="module")
def client(model_file):
    with TestClient(create_app(ModelStore([model_file]), max_body=2**20, max_pixels=1000 * 1000)) as c:
        yield c


@pytest.fixture(scope="module")
def model(model_file):
    return convnp.load(model_file)


def decode(entry, dtype=np.uint8):
    return np.frombuffer(base64.b64decode(entry["data"]), dtype=dtype)


def post(client, path, body, content_type="image/png", **params):
    return client.post(path, params=params, content=body, headers={"content-type": content_type})


# -- the endpoints -----------------------------------------------------------------------------
def test_models_lists_the_file_with_its_layers(client, model):
    answer = client.get("/api/models").json()
    assert answer["default"] == "m1" and answer["training"] is None
    (m,) = answer["models"]
    assert m["input_shape"] == [1, 28, 28] and m["classes"] == [str(k) for k in range(10)]
    assert m["dark_background"] and m["has_filters"] and m["parameters"] == model.num_parameters()
    outputs = _run_layers(model, np.zeros((1, 1, 28, 28), np.float32))
    assert [row["shape"] for row in m["layers"]] == [list(out.shape[1:]) for _, _, out in outputs]
    assert [row["type"] for row in m["layers"]][:3] == ["Conv2d", "ReLU", "MaxPool2d"]


def test_predict_png_is_what_convnp_predict_computes(client, model, digits, tmp_path):
    images, labels, sure = digits
    i = sure[0]
    path = tmp_path / "digit.png"
    path.write_bytes(png(images[i]))
    expected = train.predict(model, convnp.data.load_image(path, size=(28, 28))[None])[0]
    answer = post(client, "/api/predict", path.read_bytes()).json()
    assert np.array_equal(np.float32(answer["probabilities"]), expected)   # the same computation
    assert answer["predicted"] == labels[i] and answer["label"] == str(labels[i])
    assert answer["input"]["shape"] == [1, 28, 28] and not answer["input"]["inverted"]
    assert np.array_equal(decode(answer["input"]).reshape(1, 28, 28), images[i])


@pytest.mark.parametrize("shape", [(28, 28), (1, 28, 28), (1, 1, 28, 28)])
def test_predict_a_json_array(client, digits, shape):
    images, _, sure = digits
    pixels = images[sure[1]]
    from_png = post(client, "/api/predict", png(pixels)).json()
    body = json.dumps(pixels.reshape(shape).tolist())
    from_json = post(client, "/api/predict", body, "application/json").json()
    assert from_json["probabilities"] == from_png["probabilities"]


def test_a_larger_image_is_resized_as_convnp_predict_does(client, model, digits, tmp_path):
    from PIL import Image

    big = Image.fromarray(digits[0][digits[2][2], 0]).resize((140, 100))
    big.save(tmp_path / "big.png")
    expected = train.predict(model, convnp.data.load_image(tmp_path / "big.png", size=(28, 28))[None])[0]
    answer = post(client, "/api/predict", (tmp_path / "big.png").read_bytes()).json()
    assert np.array_equal(np.float32(answer["probabilities"]), expected)


def test_invert_auto_turns_ink_on_paper_into_white_on_black(client, digits):
    images, labels, sure = digits
    pixels = images[sure[3]]
    original = post(client, "/api/predict", png(pixels)).json()
    paper = post(client, "/api/predict", png(255 - pixels)).json()           # black digit on white
    assert paper["input"]["inverted"] and paper["probabilities"] == original["probabilities"]
    kept = post(client, "/api/predict", png(255 - pixels), invert="no").json()
    assert not kept["input"]["inverted"] and kept["probabilities"] != original["probabilities"]
    forced = post(client, "/api/predict", png(pixels), invert="yes").json()
    assert forced["input"]["inverted"]
    assert np.array_equal(decode(forced["input"]).reshape(1, 28, 28), 255 - pixels)


def test_layers_all_and_one(client, model, digits):
    pixels = digits[0][digits[2][4]]
    answer = post(client, "/api/layers", png(pixels)).json()
    outputs = _run_layers(model, _prepare(model, pixels, "test", one=True))
    assert [row["index"] for row in answer["layers"]] == list(range(len(outputs)))
    for row, (_, layer, out) in zip(answer["layers"], outputs):
        out = out[0]
        assert row["shape"] == list(out.shape) and row["type"] == type(layer).__name__
        if out.ndim == 3:
            assert row["kind"] == "maps" and row["shown"] == out.shape[0]
            np.testing.assert_allclose(row["min"], out.min(axis=(1, 2)), rtol=1e-6)
            np.testing.assert_allclose(row["max"], out.max(axis=(1, 2)), rtol=1e-6)
            maps = decode(row).reshape(out.shape).astype(np.float64) / 255
            lo, hi = out.min(axis=(1, 2))[:, None, None], out.max(axis=(1, 2))[:, None, None]
            back = lo + maps * (hi - lo)
            assert np.all(np.abs(back - out) <= (hi - lo) / 255 + 1e-6)       # one 8-bit step
        else:
            assert row["kind"] == "vector" and len(decode(row)) == out.size
    one = post(client, "/api/layers", png(pixels), layer="3").json()["layers"]
    assert len(one) == 1 and one[0]["index"] == 3 and one[0]["data"] == answer["layers"][3]["data"]


def test_saliency_is_viz_saliency_map(client, model, digits):
    images, labels, sure = digits
    pixels = images[sure[5]]
    answer = post(client, "/api/saliency", png(pixels)).json()
    assert answer["target"] == answer["predicted"] == labels[sure[5]]
    sal = saliency_map(model, pixels, int(labels[sure[5]]))
    assert answer["saliency"]["shape"] == [28, 28]
    np.testing.assert_allclose(answer["saliency"]["max"], sal.max(), rtol=1e-6)
    got = decode(answer["saliency"]).reshape(28, 28) / 255 * sal.max()
    assert np.abs(got - sal).max() <= sal.max() / 255 + 1e-7
    other = (answer["target"] + 1) % 10
    chosen = post(client, "/api/saliency", png(pixels), target=str(other)).json()
    assert chosen["target"] == other and chosen["target_label"] == str(other)
    np.testing.assert_allclose(chosen["saliency"]["max"], saliency_map(model, pixels, other).max(), rtol=1e-6)


def test_filters(client, model):
    answer = client.get("/api/filters", params={"model": "m1"}).json()
    w = model.layers[0].weight.data
    assert answer["shape"] == list(w.shape) == answer["shown"]
    back = (decode(answer).reshape(w.shape) / 255 * 2 - 1) * answer["vmax"]
    assert np.abs(back - w).max() <= answer["vmax"] / 255 + 1e-7


def test_the_page_and_its_files_are_served_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas id=\"draw\"" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/../models.py").status_code == 404


# -- bad requests --------------------------------------------------------------------------------
def bomb_png(side=20_000):
    """A 25 kB PNG that decodes to side x side pixels (a decompression bomb)."""
    def chunk(kind, payload):
        return (len(payload).to_bytes(4, "big") + kind + payload
                + zlib.crc32(kind + payload).to_bytes(4, "big"))
    z = zlib.compressobj(9)
    row = bytes(1 + side // 8)        # filter byte + 1-bit pixels
    data = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def chunks(total, size=64 * 1024):
    for _ in range(total // size):
        yield bytes(size)


BAD = [
    ("empty body", dict(body=b""), 400, "empty body"),
    ("not an image", dict(body=b"hello, world"), 400, "not an image"),
    ("truncated PNG", dict(body="TRUNCATED"), 400, "cannot decode the image"),
    ("decompression bomb", dict(body=bomb_png()), 413, "at most 1000000 pixels"),
    ("smaller bomb", dict(body=bomb_png(5000)), 413, "5000x5000 (25000000 pixels)"),
    ("too many pixels", dict(body="BIG"), 413, "at most 1000000 pixels"),
    ("body too large", dict(body=bytes(2**20 + 1)), 413, "at most 1048576"),
    ("body too large, streamed", dict(body="STREAM"), 413, "over 1048576 bytes"),
    ("invalid JSON", dict(body=b"[1, 2", type="application/json"), 400, "not valid JSON"),
    ("JSON object", dict(body=b'{"pixels": 1}', type="application/json"), 400, "got a JSON dict"),
    ("wrong JSON shape", dict(body=b"[[1, 2], [3, 4]]", type="application/json"), 400, "got shape (2, 2)"),
    ("ragged JSON", dict(body=b"[[1, 2], [3]]", type="application/json"), 400, "rectangular array"),
    ("JSON strings", dict(body=json.dumps([["a"] * 28] * 28).encode(), type="application/json"), 400,
     "rectangular array of numbers"),
    ("JSON out of range", dict(body=json.dumps([[300] * 28] * 28).encode(), type="application/json"), 400,
     "between 0 and 255"),
    ("unknown model", dict(params={"model": "m9"}), 404, "unknown model 'm9'"),
    ("a path as model", dict(params={"model": "../../etc/passwd"}), 404, "unknown model"),
    ("bad invert", dict(params={"invert": "maybe"}), 400, "invert must be one of auto, yes, no"),
    ("bad layer", dict(path="/api/layers", params={"layer": "12"}), 400, "index from 0 to 11"),
    ("negative layer", dict(path="/api/layers", params={"layer": "-1"}), 400, "layer must be all"),
    ("bad target", dict(path="/api/saliency", params={"target": "10"}), 400, "from 0 to 9, got '10'"),
]


@pytest.mark.parametrize("name, request_, status, message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_request_gets_a_one_line_4xx_and_the_server_keeps_serving(client, digits, name, request_, status,
                                                                       message):
    good = png(digits[0][digits[2][0]])
    body = request_.get("body", good)
    if body == "TRUNCATED":
        body = good[:len(good) // 2]
    elif body == "BIG":
        body = png(np.zeros((1, 1001, 1001), np.uint8))
    elif body == "STREAM":
        body = chunks(2**20 + 64 * 1024)         # no Content-Length: refused while it arrives
    response = client.post(request_.get("path", "/api/predict"), params=request_.get("params", {}), content=body,
                           headers={"content-type": request_.get("type", "image/png")})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error and "\n" not in error
    assert post(client, "/api/predict", good).status_code == 200


def test_a_file_upload_form_is_not_an_image(client):
    response = client.post("/api/predict", files={"file": ("digit.png", b"\x89PNG...")})
    assert response.status_code == 400 and "not an image" in response.json()["error"]


def test_filters_of_an_unknown_model(client):
    response = client.get("/api/filters", params={"model": "x"})
    assert response.status_code == 404 and "unknown model 'x'" in response.json()["error"]


def test_train_is_refused_without_a_runs_folder(client):
    for method in ("GET", "POST"):
        response = client.request(method, "/api/train")
        assert response.status_code == 403 and "runs folder" in response.json()["error"]


def test_other_sites_are_kept_out(model_file, digits):
    app = create_app(ModelStore([model_file]), allowed_hosts=["127.0.0.1", "localhost"])
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/models").status_code == 200
        assert c.get("/api/models", headers={"host": "localhost:8000"}).status_code == 200
        rebinding = c.get("/api/models", headers={"host": "evil.example:8000"})
        assert rebinding.status_code == 400 and "unexpected Host header" in rebinding.json()["error"]
        body = png(digits[0][0])
        cross = c.post("/api/predict", content=body, headers={"origin": "http://evil.example"})
        assert cross.status_code == 403 and "another site" in cross.json()["error"]
        same = c.post("/api/predict", content=body, headers={"origin": "http://127.0.0.1:8000"})
        assert same.status_code == 200


# -- concurrency -------------------------------------------------------------------------------
def test_concurrent_requests_each_get_their_own_answer(client, digits):
    """Requests on different images at the same time (forward-only and forward+backward mixed on one
    model) give exactly the answers they give one at a time."""
    images, _, sure = digits
    jobs = [(path, png(images[i])) for i in sure[:4] for path in ("/api/saliency", "/api/predict", "/api/layers")]
    alone = [post(client, path, body).json() for path, body in jobs]
    for _ in range(3):                # three rounds: more chances for the requests to overlap
        together = [None] * len(jobs)
        barrier = threading.Barrier(len(jobs))

        def run(k):
            barrier.wait()
            together[k] = post(client, *jobs[k]).json()

        threads = [threading.Thread(target=run, args=(k,)) for k in range(len(jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert together == alone
    assert len({json.dumps(a["input"]) for a in alone}) == 4        # four different images
    assert all(a.get("saliency") or a.get("layers") or a.get("probabilities") for a in alone)


def test_computations_on_one_model_take_turns(model_file):
    """What the answers above rely on: ModelEntry.call never runs two computations on a model at once
    (a saliency's backward reads the cache its forward left on the model)."""
    entry = ModelStore([model_file]).default()
    spans, barrier = [], threading.Barrier(4)

    def work(model):
        start = time.monotonic()
        time.sleep(0.02)
        spans.append((start, time.monotonic()))

    def run():
        barrier.wait()
        entry.call(work)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spans.sort()
    assert len(spans) == 4 and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
