"""`convnp serve` on the command line: a real server process started and stopped, and the user mistakes."""
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from .serve_helpers import png

from convnp.cli import main
from convnp.serve import server

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_convnp_serve_starts_answers_and_stops_on_ctrl_c(model_file, digits):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "convnp", "serve", str(model_file), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "1 model(s); open http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split("open ")[1].split()[0]
        with urllib.request.urlopen(url + "api/models", timeout=30) as r:
            assert json.load(r)["models"][0]["id"] == "m1"
        request = urllib.request.Request(url + "api/predict", data=png(digits[0][digits[2][0]]), method="POST")
        with urllib.request.urlopen(request, timeout=30) as r:
            assert json.load(r)["predicted"] == digits[1][digits[2][0]]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.strip() == "convnp serve: stopped" and "Traceback" not in err


def test_a_missing_model_file(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nope.npz"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("convnp: error: no such model file:") and err.count("\n") == 1


def test_a_bad_port(model_file, capsys):
    assert main(["serve", str(model_file), "--port", "70000"]) == 2
    assert "port must be 0..65535, got 70000" in capsys.readouterr().err


def test_a_port_in_use(model_file, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(model_file), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and err.count("\n") == 1


def test_another_host_is_warned_about(model_file, monkeypatch, capsys):
    def refuse(host, port):      # stop before listening: the test must not open a port to the network
        raise OSError(f"serve: not listening on {host} in this test")

    monkeypatch.setattr(server, "listen", refuse)
    assert main(["serve", str(model_file), "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "warning: listening on 0.0.0.0: anyone who can reach this address can use the page" in err
    assert main(["serve", str(model_file), "--port", "0"]) == 2
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                            ("[::1]", True), ("127.0.0.2", True), ("0.0.0.0", False),
                                            ("192.168.1.5", False), ("example.org", False), ("::", False)])
def test_is_loopback(host, loopback):
    assert server.is_loopback(host) == loopback


def test_without_starlette_the_command_says_what_to_install(monkeypatch, capsys):
    for name in [n for n in sys.modules if n.split(".")[0] == "starlette" or n.startswith("convnp.serve")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "starlette", None)           # as if it were not installed
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "convnp serve needs starlette, uvicorn and Pillow: pip install 'convnp[serve]'" in err
    assert err.count("\n") == 1
