"""Helpers and fixtures shared by the command-line tests (test_cli.py, test_cli_runs.py)."""
import contextlib
import io as _io
import re

import numpy as np
import pytest

from convnp.cli import main

PIL = pytest.importorskip("PIL.Image")


def run_main(argv):
    """(exit code, stdout, stderr) of main(argv), for fixtures that cannot use capsys."""
    out, err = _io.StringIO(), _io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def one_error_line(capsys, code, pattern):
    """Assert exit code 2 and exactly one stderr line ``convnp: error: <pattern>``; returns stdout."""
    stdout, stderr = capsys.readouterr()
    assert code == 2, (code, stderr)
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert re.fullmatch(rf"convnp: error: {pattern}\n", stderr), stderr
    return stdout


def write_png(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)
    return path


def make_folder_dataset(root, classes=("dark", "light"), per_class=15, seed=0):
    """root/<class>/<i>.png, 28x28 grey: class k has brightness about 150 k (easy to learn)."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        for i in range(per_class):
            write_png(root / name / f"{i}.png", rng.integers(0, 60, (28, 28)) + 150 * label)
    return f"folder:{root}"


_RUN = []   # the one run_dir of the session, shared by the modules that import the fixture


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """One short training run on the bundled sample (simple_cnn, 1 epoch: about a second).

    (out, exit code, stdout, stderr); tests must not change the files in ``out``.
    """
    if not _RUN:
        out = tmp_path_factory.mktemp("run") / "run"
        _RUN.append((out, *run_main(["train", "--model", "simple_cnn", "--epochs", 1, "--out", out])))
    return _RUN[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """--dataset folder:PATH with 30 small PNGs in two classes ("dark", "light"): 24 train / 6 test."""
    return make_folder_dataset(tmp_path_factory.mktemp("folder") / "imgs")


FOLDER_RUN = ["--model", "simple_cnn", "--batch-size", "8", "--quiet"]
