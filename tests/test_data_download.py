"""Downloads against a local HTTP server on 127.0.0.1 started by the tests (no internet needed)."""
import errno
import gzip
import hashlib
import os
import re
import socket
import threading
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import numpy as np
import pytest

import convnp.data.mnist_data as mnist_module
from convnp.data import DownloadError, cache_dir, download_file, md5sum, mnist


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    """Serves ``routes[path] = (body, declared_length)``; counts requests per path in ``hits``."""
    routes, hits = {}, Counter()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits[self.path] += 1
            if self.path not in routes:
                self.send_error(404)
                return
            body, declared = routes[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(declared))
            self.end_headers()
            self.wfile.write(body)  # fewer bytes than declared: a truncated response

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"

    def serve(path, body, declared=None):
        routes[path] = (body, len(body) if declared is None else declared)

    yield SimpleNamespace(url=url, serve=serve, hits=hits)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def down_url():
    """A URL on a port where nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


def md5(data):
    return hashlib.md5(data).hexdigest()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


PAYLOAD = bytes(range(256)) * 1000


def test_good_download_lands_in_folder(server, tmp_path):
    server.serve("/m/file.bin", PAYLOAD)
    path = download_file("file.bin", tmp_path / "cache", md5(PAYLOAD), [server.url + "/m/"], who="t")
    assert path == tmp_path / "cache" / "file.bin"
    assert path.read_bytes() == PAYLOAD and md5sum(path) == md5(PAYLOAD)
    assert leftovers(tmp_path / "cache") == ["file.bin"]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # a normal file, not mkstemp's 0600


def test_wrong_checksum_leaves_nothing_and_keeps_good_file(server, tmp_path):
    server.serve("/m/file.bin", PAYLOAD[:-1] + b"x")
    with pytest.raises(DownloadError, match=r"t: could not download file.bin, tried: http://127.0.0.1:\d+/m/file.bin \(wrong md5: expected " + md5(PAYLOAD)):
        download_file("file.bin", tmp_path, md5(PAYLOAD), [server.url + "/m"], who="t")
    assert leftovers(tmp_path) == []
    (tmp_path / "file.bin").write_bytes(PAYLOAD)
    with pytest.raises(DownloadError, match="wrong md5"):
        download_file("file.bin", tmp_path, md5(PAYLOAD), [server.url + "/m"], who="t")
    assert leftovers(tmp_path) == ["file.bin"] and (tmp_path / "file.bin").read_bytes() == PAYLOAD


def test_truncated_response_leaves_nothing_and_keeps_good_file(server, tmp_path):
    server.serve("/m/file.bin", PAYLOAD[:1000], declared=len(PAYLOAD))
    with pytest.raises(DownloadError, match=rf"file.bin \(truncated: received 1000 of {len(PAYLOAD)} bytes\)"):
        download_file("file.bin", tmp_path, md5(PAYLOAD), [server.url + "/m/"], who="t")
    assert leftovers(tmp_path) == []
    (tmp_path / "file.bin").write_bytes(PAYLOAD)
    with pytest.raises(DownloadError, match="truncated"):
        download_file("file.bin", tmp_path, md5(PAYLOAD), [server.url + "/m/"], who="t")
    assert (tmp_path / "file.bin").read_bytes() == PAYLOAD and leftovers(tmp_path) == ["file.bin"]


def test_server_down_clear_error(down_url, tmp_path):
    with pytest.raises(DownloadError, match=r"t: could not download f.gz, tried: " + down_url + r"f.gz \(.*refused.*\)\. try again"):
        download_file("f.gz", tmp_path, md5(b""), [down_url], who="t", hint="try again")
    assert leftovers(tmp_path) == []


def test_mirrors_tried_in_order(server, down_url, tmp_path):
    server.serve("/b/file.bin", PAYLOAD)
    path = download_file("file.bin", tmp_path, md5(PAYLOAD), [down_url, server.url + "/a/", server.url + "/b/"])
    assert path.read_bytes() == PAYLOAD
    assert server.hits == {"/a/file.bin": 1, "/b/file.bin": 1}
    server.serve("/a/file.bin", PAYLOAD)
    download_file("file.bin", tmp_path, md5(PAYLOAD), [server.url + "/a/", server.url + "/b/"])
    assert server.hits == {"/a/file.bin": 2, "/b/file.bin": 1}  # the first good mirror wins


def test_all_failures_listed(server, down_url, tmp_path):
    with pytest.raises(DownloadError) as err:
        download_file("file.bin", tmp_path, md5(PAYLOAD), [down_url, server.url + "/a/"])
    assert f"{down_url}file.bin (" in str(err.value) and f"{server.url}/a/file.bin (HTTP 404" in str(err.value)


def test_interrupted_download_leaves_nothing(monkeypatch, tmp_path):
    class Response:
        headers = {"Content-Length": "300000"}
        calls = 0

        def read(self, n):
            Response.calls += 1
            if Response.calls > 1:
                raise KeyboardInterrupt
            return b"x" * n

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Response())
    with pytest.raises(KeyboardInterrupt):
        download_file("big.bin", tmp_path, "0" * 32, ["http://127.0.0.1:1/"])
    assert Response.calls == 2 and leftovers(tmp_path) == []


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVNP_DATA", str(tmp_path))
    assert cache_dir("mnist") == tmp_path / "mnist"
    monkeypatch.delenv("CONVNP_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("cifar10") == tmp_path / "home" / ".cache" / "convnp" / "cifar10"


def idx_gz(array):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return gzip.compress(header + array.tobytes())


@pytest.fixture
def mnist_server(server, monkeypatch, tmp_path):
    """A fake MNIST mirror with small files whose md5 replace the published ones."""
    rng = np.random.default_rng(1)
    files = {
        "train-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (8, 28, 28))),
        "train-labels-idx1-ubyte.gz": idx_gz(rng.integers(0, 10, 8)),
        "t10k-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (3, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": idx_gz(rng.integers(0, 10, 3)),
    }
    for name, data in files.items():
        server.serve("/mnist/" + name, data)
        monkeypatch.setitem(mnist_module.MNIST_FILES, name, md5(data))
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", [server.url + "/mnist/"])
    monkeypatch.setenv("CONVNP_DATA", str(tmp_path))
    server.files = files
    return server


def test_mnist_downloads_into_cache_once(mnist_server, tmp_path):
    ds = mnist()
    assert ds.images.shape == (8, 1, 28, 28)
    assert leftovers(tmp_path / "mnist") == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert mnist_server.hits == {"/mnist/train-images-idx3-ubyte.gz": 1, "/mnist/train-labels-idx1-ubyte.gz": 1}
    again = mnist()
    np.testing.assert_array_equal(again.images, ds.images)
    assert sum(mnist_server.hits.values()) == 2  # valid cached files are not fetched again
    assert len(mnist(train=False, download=True)) == 3
    assert sum(mnist_server.hits.values()) == 4


def test_mnist_corrupt_cached_file_is_fetched_again(mnist_server, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(FileNotFoundError, match=r"cached .*t10k-images-idx3-ubyte.gz has md5 [0-9a-f]{32}, expected"):
        mnist(train=False, download=False)
    assert len(mnist(train=False)) == 3
    assert (folder / "t10k-images-idx3-ubyte.gz").read_bytes() == mnist_server.files["t10k-images-idx3-ubyte.gz"]


def test_mnist_mirrors_argument_and_download_into_root(server, monkeypatch, tmp_path):
    data = idx_gz(np.arange(4))
    server.serve("/x/t10k-labels-idx1-ubyte.gz", data)
    monkeypatch.setitem(mnist_module.MNIST_FILES, "t10k-labels-idx1-ubyte.gz", md5(data))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(gzip.decompress(idx_gz(np.zeros((4, 28, 28)))))
    ds = mnist(root=tmp_path, train=False, mirrors=[server.url + "/x/"])
    assert len(ds) == 4 and (tmp_path / "t10k-labels-idx1-ubyte.gz").is_file()


def test_mnist_offline_nothing_cached(monkeypatch, down_url, tmp_path):
    monkeypatch.setenv("CONVNP_DATA", str(tmp_path))
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", [down_url, down_url + "second/"])
    with pytest.raises(DownloadError) as err:
        mnist()
    message = str(err.value)
    assert message.startswith("mnist: could not download train-images-idx3-ubyte.gz, tried: ")
    assert down_url + "train-images" in message and down_url + "second/train-images" in message
    assert "--data-dir" in message and "mnist_sample()" in message
    assert not (tmp_path / "mnist").exists()       # the cache folder made for the download is gone again
    with pytest.raises(FileNotFoundError, match=r"mnist: train-images-idx3-ubyte.gz not found in the cache .* and download=False\. Offline\?"):
        mnist(download=False)


def test_failed_download_removes_the_folders_it_created(down_url, server, tmp_path):
    with pytest.raises(DownloadError):
        download_file("f.gz", tmp_path / "a" / "b", md5(b""), [down_url], who="t")
    assert leftovers(tmp_path) == []                # a/ and a/b/ were made for it: removed
    (tmp_path / "keep").mkdir()
    with pytest.raises(DownloadError):
        download_file("f.gz", tmp_path / "keep" / "new", md5(b""), [server.url + "/none/"], who="t")
    assert leftovers(tmp_path) == ["keep"] and leftovers(tmp_path / "keep") == []   # an existing folder stays


def test_full_disk_stops_at_once_and_names_the_file(server, monkeypatch, tmp_path):
    server.serve("/a/file.bin", PAYLOAD)
    server.serve("/b/file.bin", PAYLOAD)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    dest = tmp_path / "cache" / "file.bin"
    with pytest.raises(DownloadError, match=rf"^t: cannot write {re.escape(str(dest))}: No space left on device$"):
        download_file("file.bin", tmp_path / "cache", md5(PAYLOAD), [server.url + "/a/", server.url + "/b/"], who="t")
    assert server.hits == {"/a/file.bin": 1}         # the disk, not the mirror: no second mirror tried
    assert leftovers(tmp_path) == []


def test_unwritable_folder(tmp_path):
    (tmp_path / "afile").write_text("a file where a folder should be")
    with pytest.raises(DownloadError, match=r"t: cannot write f.gz into .*afile/sub: "):
        download_file("f.gz", tmp_path / "afile" / "sub", md5(b""), ["http://127.0.0.1:1/"], who="t")


def test_progress_bar_total(server, tmp_path, monkeypatch):
    """The bar is told the Content-Length and receives every byte."""
    import tqdm

    seen = {}

    class Bar:
        def __init__(self, total=None, desc=None, **kwargs):
            seen.update(total=total, desc=desc, n=0)

        def update(self, n):
            seen["n"] += n

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(tqdm, "tqdm", Bar)
    server.serve("/m/file.bin", PAYLOAD)
    download_file("file.bin", tmp_path, md5(PAYLOAD), [server.url + "/m/"])
    assert seen == {"total": len(PAYLOAD), "desc": "file.bin", "n": len(PAYLOAD)}
