"""``convnp serve``: watch a CNN think, in the browser.

    convnp train && convnp serve runs/*/model.npz       # then open http://127.0.0.1:8000/

A local page (plain HTML, CSS and JavaScript in ``static/``: no build step, nothing from a CDN,
works offline) where you draw a digit or drop an image and see at once the input as the
network sees it, the class probabilities, every layer's feature maps, the first layer's
filters and a saliency map; and a small JSON API behind it (``app.py`` lists the routes).

Needs the ``serve`` extra: ``pip install 'convnp[serve]'`` (starlette, uvicorn, Pillow).

Modules: server (``serve``: the command), app (``create_app``: routes, body limits), guard
(Host and Origin checks, security headers), models (which files may be served, their checks),
images (request bodies to pixels, bounded before decoding), inference (every model
computation, under the model's lock), payload (arrays as compact JSON), training (the train
button: ``convnp train`` in a child process).
"""
from .app import create_app
from .models import ModelStore
from .server import serve

__all__ = ["serve", "create_app", "ModelStore"]
