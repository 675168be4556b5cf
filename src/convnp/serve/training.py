"""The page's "train a model" button: ``convnp train`` (the default training) in a child process.

A child process, because the run is then exactly what ``convnp train`` does (and stays so as
the command changes), the server keeps answering while it trains, and stopping the server
stops it. The new run goes to ``<runs>/<timestamp>/``; once ``model.npz`` is written the store
registers it and the status names its id. Progress is read from the command's own output:
tqdm's bar ("epoch 2/6:  45%|...") and the line printed after each epoch ("epoch 2/6: loss ...").
"""
import os
import re
import subprocess
import sys
import threading
import time

from .errors import RequestError

_BAR = re.compile(r"epoch (\d+)/(\d+):\s+(\d+)%")
_EPOCH_DONE = re.compile(r"epoch (\d+)/(\d+): loss")


class TrainingJob:
    """At most one ``convnp train`` child at a time; ``status()`` is what the page polls.

    Args: store (a ModelStore with a runs folder), args (extra ``convnp train`` arguments;
    none gives the default training).
    """

    def __init__(self, store, args=()):
        self.store, self.args = store, [str(a) for a in args]
        self._lock = threading.Lock()
        self._proc = None
        self._status = {"state": "idle", "progress": 0.0, "message": "", "model": None}

    def status(self):
        with self._lock:
            return dict(self._status)

    def start(self):
        """Start the run; RequestError 409 if one is under way."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                raise RequestError(409, "a training run is already under way")
            out = _new_folder(self.store.runs)
            cmd = [sys.executable, "-m", "convnp", "train", "--out", out, *self.args]
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, env=_child_env())
            self._status = {"state": "running", "progress": 0.0, "message": "starting convnp train",
                            "model": None, "out": os.path.relpath(out, self.store.runs)}
            threading.Thread(target=self._follow, args=(self._proc, out), daemon=True).start()
            return dict(self._status)

    def _follow(self, proc, out):
        """Read the child's output until it ends, updating the status; then register the model."""
        last, pending = "", b""
        for chunk in iter(lambda: proc.stdout.read1(4096), b""):
            *lines, pending = re.split(rb"[\r\n]", pending + chunk)
            for line in lines:
                text = line.decode("utf-8", "replace").strip()
                if text:
                    last = text
                    self._progress(text)
        code = proc.wait()
        path = os.path.join(out, "model.npz")
        if code == 0 and os.path.isfile(path):
            entry = self.store.add_run(path)
            done = {"state": "done", "progress": 1.0, "message": f"trained {entry.name}", "model": entry.id}
            if entry.error:
                done = {"state": "failed", "message": entry.error}
        else:
            done = {"state": "failed", "message": f"convnp train stopped (exit code {code}): {last[-300:]}"}
        with self._lock:
            self._status.update(done)

    def _progress(self, text):
        bar, epoch = _BAR.search(text), _EPOCH_DONE.search(text)
        with self._lock:
            if bar:
                e, n, pct = (int(v) for v in bar.groups())
                self._status.update(progress=min(1.0, (e - 1 + pct / 100) / n), message=f"epoch {e}/{n}",
                                    epoch=e, epochs=n)
            elif epoch:
                e, n = (int(v) for v in epoch.groups())
                self._status.update(progress=min(1.0, e / n), message=text[:200], epoch=e, epochs=n)
            elif text.startswith(("test accuracy", "training", "saved")):
                self._status.update(message=text[:200])

    def stop(self, timeout=5.0):
        """End a run under way (the server is stopping): terminate, then kill if it lingers."""
        with self._lock:
            proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _new_folder(runs):
    """<runs>/<timestamp>, with -2, -3, ... when that exists (not created: convnp train does)."""
    base = os.path.join(runs, time.strftime("%Y%m%d-%H%M%S"))
    out, k = base, 1
    while os.path.exists(out):
        k += 1
        out = f"{base}-{k}"
    return out


def _child_env():
    """The environment of the child: this convnp first on the path, unbuffered output."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder above convnp/
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": here + (os.pathsep + path if path else ""), "PYTHONUNBUFFERED": "1"}
