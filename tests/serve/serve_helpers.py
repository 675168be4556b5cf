"""Helpers of the convnp serve tests: PNG bytes of pixels, a live uvicorn server in a thread."""
import io
import socket
import threading
import time

import numpy as np


def png(pixels, mode=None):
    """uint8 (C, H, W) or (H, W) pixels as PNG bytes."""
    from PIL import Image

    pixels = np.asarray(pixels)
    if pixels.ndim == 3:
        pixels = pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(pixels, mode).save(buf, "PNG")
    return buf.getvalue()


class LiveServer:
    """uvicorn serving ``app`` in a thread on a free port of 127.0.0.1; ``stop()`` ends it."""

    def __init__(self, app):
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))      # port 0: the system picks a free one, no race
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
        assert not self.thread.is_alive(), "the test server did not stop"
