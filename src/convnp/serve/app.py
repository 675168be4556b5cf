"""The web app (Starlette): the page, its static files and the JSON API.

    GET  /                  the page (static/index.html; its script and styles under /static/)
    GET  /api/models        {"models": [...], "default": id or null, "training": status or null}
    POST /api/predict       ?model=ID&invert=auto|yes|no  -> probabilities and the input as seen
    POST /api/layers        ?model=ID&invert=...&layer=all|N  -> each layer's feature maps
    POST /api/saliency      ?model=ID&invert=...&target=K  -> |d score / d x| for class K
    GET  /api/filters       ?model=ID  -> the first convolution's kernels
    GET  /api/train, POST /api/train   the default training's status / start it (runs folder only)

The POST bodies are an image file's bytes (PNG, JPEG, GIF, BMP, WebP) or a JSON array of
pixel values 0..255 (application/json). A refused request gets {"error": "<one line>"} with
400 (bad input), 403, 404 (unknown model), 409 (a run under way) or 413 (too large).
"""
import contextlib
import os

try:
    import PIL  # noqa: F401  (uploads are decoded with Pillow)
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as e:
    raise ImportError(f"convnp serve needs starlette, uvicorn and Pillow: pip install 'convnp[serve]' ({e})") from e

import numpy as np

from . import inference, payload
from .errors import RequestError
from .guard import Guard
from .images import INVERT, MAX_PIXELS, invert_for, request_pixels
from .models import first_conv
from .training import TrainingJob

MAX_BODY = 10 * 2**20          # bytes of a request body, checked while it arrives
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


def create_app(store, *, allowed_hosts=None, train_args=(), max_body=MAX_BODY, max_pixels=MAX_PIXELS):
    """The ASGI app serving the models of ``store`` (a ModelStore).

    Args:
        allowed_hosts: host names the Host header may carry (None: any). ``serve`` passes the
            loopback names when it binds to loopback, which stops DNS-rebinding pages.
        train_args: extra ``convnp train`` arguments for the train button (tests shorten it).
        max_body, max_pixels: the limits on a request body and on an uploaded image.
    """
    job = TrainingJob(store, train_args) if store.runs is not None else None

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        if job is not None:
            await run_in_threadpool(job.stop)

    app = Starlette(routes=[
        Route("/", _index),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/api/models", _models, methods=["GET"]),
        Route("/api/predict", _predict, methods=["POST"]),
        Route("/api/layers", _layers, methods=["POST"]),
        Route("/api/saliency", _saliency, methods=["POST"]),
        Route("/api/filters", _filters, methods=["GET"]),
        Route("/api/train", _train, methods=["GET", "POST"]),
    ], exception_handlers={RequestError: _refused}, lifespan=lifespan)
    app.state.store, app.state.job = store, job
    app.state.max_body, app.state.max_pixels = max_body, max_pixels
    return Guard(app, allowed_hosts)


async def _refused(request, exc):
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _index(request):
    return FileResponse(os.path.join(STATIC, "index.html"))


# -- the API -------------------------------------------------------------------------------
async def _models(request):
    store, job = request.app.state.store, request.app.state.job
    await run_in_threadpool(store.refresh)
    default = store.default()
    return JSONResponse({"models": [e.describe() for e in store.entries()],
                         "default": default.id if default else None,
                         "training": job.status() if job is not None else None})


async def _predict(request):
    entry = _entry(request)
    pixels, inverted = await _image_request(request, entry)
    probs = await run_in_threadpool(entry.call, inference.probabilities, pixels)
    return JSONResponse({**_prediction(entry, probs), "input": payload.pixels_json(pixels, inverted)})


async def _layers(request):
    entry = _entry(request)
    layer = _layer_index(request.query_params.get("layer", "all"), len(entry.layers))
    pixels, inverted = await _image_request(request, entry)
    outputs = await run_in_threadpool(entry.call, inference.layer_outputs, pixels)
    rows = [payload.layer_json(i, name, lyr, out) for i, (name, lyr, out) in enumerate(outputs)
            if layer is None or i == layer]
    return JSONResponse({"model": entry.id, "layers": rows, "input": payload.pixels_json(pixels, inverted)})


async def _saliency(request):
    entry = _entry(request)
    target = _target(request.query_params.get("target"), len(entry.classes))
    pixels, inverted = await _image_request(request, entry)
    sal, target, probs = await run_in_threadpool(entry.call, inference.saliency, pixels, target)
    return JSONResponse({**_prediction(entry, probs), "target": target, "target_label": entry.classes[target],
                         "saliency": payload.saliency_json(sal), "input": payload.pixels_json(pixels, inverted)})


async def _filters(request):
    entry = _entry(request)
    conv = first_conv(entry.model)
    if conv is None:
        raise RequestError(404, f"model {entry.id} has no convolution layer")
    return JSONResponse({"model": entry.id, **payload.filters_json(conv, inference.conv_weights(conv))})


async def _train(request):
    job = request.app.state.job
    if job is None:
        raise RequestError(403, "training is offered only when the server looks for models in a runs folder"
                                " (convnp serve without MODEL, or with --runs DIR)")
    if request.method == "POST":
        return JSONResponse(await run_in_threadpool(job.start))
    return JSONResponse(job.status())


# -- request parts ---------------------------------------------------------------------------
def _entry(request):
    """The model named by ?model= (default: the first usable one)."""
    store = request.app.state.store
    model_id = request.query_params.get("model")
    entry = store.default() if model_id is None else store.get(model_id)
    if entry is None:
        raise RequestError(404, f"unknown model {model_id[:40]!r}; GET /api/models lists the ids" if model_id
                           else "no model is loaded")
    if entry.error:
        raise RequestError(404, f"model {entry.id} cannot be served: {entry.error}")
    return entry


async def _image_request(request, entry):
    """(uint8 pixels (C, H, W) as ``entry``'s model sees them, inverted?) from ?invert= and the body."""
    invert = request.query_params.get("invert", "auto")
    if invert not in INVERT:
        raise RequestError(400, f"invert must be one of {', '.join(INVERT)}, got {invert[:20]!r}")
    body = await _read_body(request, request.app.state.max_body)
    pixels = await run_in_threadpool(request_pixels, body, request.headers.get("content-type", ""),
                                     entry.input_shape, request.app.state.max_pixels)
    return invert_for(pixels, invert, entry.dark_background)


async def _read_body(request, limit):
    """The body, refused with 413 as soon as it (or its declared length) passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and not _is_count(declared):
        raise RequestError(400, f"Content-Length must be a number of bytes, got {declared[:20]!r}")
    if declared is not None and int(declared) > limit:
        raise RequestError(413, f"the body is {declared} bytes; at most {limit} are accepted")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(413, f"the body is over {limit} bytes, the most accepted")
    return bytes(body)


def _layer_index(text, n):
    if text == "all":
        return None
    if not (_is_count(text) and int(text) < n):
        raise RequestError(400, f"layer must be all or an index from 0 to {n - 1}, got {text[:20]!r}")
    return int(text)


def _target(text, k):
    if text is None or text == "":
        return None
    if not (_is_count(text) and int(text) < k):
        raise RequestError(400, f"target must be a class index from 0 to {k - 1}, got {text[:20]!r}")
    return int(text)


def _is_count(text):
    """True for a plain decimal number ("12"; not "-1", "1.0" or "²", which str.isdigit accepts)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _prediction(entry, probs):
    k = int(np.argmax(probs))
    return {"model": entry.id, "classes": entry.classes, "probabilities": [float(p) for p in probs],
            "predicted": k, "label": entry.classes[k]}
