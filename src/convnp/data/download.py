"""Downloads into the dataset cache: mirrors in order, md5 checked, moved into place atomically.

The cache is ``$CONVNP_DATA/<dataset>``, by default ``~/.cache/convnp/<dataset>``. A file
is streamed into a temporary file in the destination folder and renamed over the final
name only once its md5 matches the published one (convnp.atomic), so the cache never
holds a partial or corrupt file under a real name, an existing file is never damaged by a
failed download, and folders created for a download that failed are removed again.
"""
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from ..atomic import DISK_ERRORS, atomic_write, make_folders, remove_empty

TIMEOUT = 30.0  # seconds without data before a mirror is given up
CHUNK = 1 << 16


class DownloadError(OSError):
    """No mirror gave a file with the expected checksum (the message lists each attempt)."""


def cache_dir(dataset):
    """The folder a dataset is cached in: ``$CONVNP_DATA/<dataset>`` or ``~/.cache/convnp/<dataset>``."""
    base = os.environ.get("CONVNP_DATA") or os.path.join("~", ".cache", "convnp")
    return Path(base).expanduser() / dataset


def md5sum(path):
    """The md5 of a file as a hex string, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_file(filename, folder, md5, mirrors, who="download", timeout=None, hint=""):
    """Fetch ``filename`` into ``folder`` from the first mirror that serves it with ``md5``.

    Each mirror is a base URL; the file's URL is the mirror followed by ``filename``. A
    tqdm progress bar shows the transfer when stderr is a terminal.

    Args:
        filename: the file's name on the mirrors and in ``folder``.
        folder: where the file goes (created if missing).
        md5: the expected md5 hex digest of the file.
        mirrors: base URLs, tried in order.
        who: the name that starts error messages (e.g. "mnist").
        timeout: seconds to wait for data before giving up on a mirror (default ``TIMEOUT``).
        hint: a sentence appended to the error when every mirror fails.

    Returns: the Path of the downloaded file.

    Raises:
        DownloadError: every mirror failed (unreachable, HTTP error, truncated, wrong md5);
            the message lists each URL tried and why it failed. Nothing is left behind.
    """
    folder = Path(folder)
    try:
        created = make_folders(folder)
    except OSError as e:
        raise DownloadError(f"{who}: cannot write {filename} into {folder}: {e.strerror or e}") from None
    try:
        return _download(filename, folder, md5, mirrors, who, TIMEOUT if timeout is None else timeout, hint)
    except BaseException:   # KeyboardInterrupt too: a failed download leaves no empty folder behind
        remove_empty(created)
        raise


def _download(filename, folder, md5, mirrors, who, timeout, hint):
    """download_file's loop over the mirrors, into the existing ``folder``."""
    dest = folder / filename
    failures = []
    for mirror in mirrors:
        url = (mirror if mirror.endswith("/") else mirror + "/") + filename
        try:
            # written atomically: only a file with the right md5 ever replaces dest
            with atomic_write(dest) as out:
                digest = _fetch(url, out, filename, timeout)
                if digest != md5:
                    raise _WrongChecksum(f"wrong md5: expected {md5}, got {digest}")
            return dest
        except OSError as e:
            if e.errno in DISK_ERRORS:   # the disk, not the mirror: another mirror would not help
                raise DownloadError(f"{who}: {e.strerror}") from None   # atomic_write named the file
            failures.append(f"{url} ({_reason(e)})")
        except (_WrongChecksum, http.client.HTTPException, ValueError) as e:
            failures.append(f"{url} ({_reason(e)})")
    tried = "; ".join(failures) if failures else "no mirrors given"
    raise DownloadError(f"{who}: could not download {filename}, tried: {tried}.{' ' + hint if hint else ''}")


class _WrongChecksum(Exception):
    """A mirror served a file whose md5 is not the published one."""


def _fetch(url, out, filename, timeout):
    """Stream ``url`` into the open file ``out``; return the md5 of what was received."""
    from tqdm import tqdm

    h = hashlib.md5()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        got = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=filename,
                  disable=None) as bar:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                h.update(block)
                got += len(block)
                bar.update(len(block))
    # http.client returns b"" when the connection closes early instead of raising
    if total is not None and got != total:
        raise ValueError(f"truncated: received {got} of {total} bytes")
    return h.hexdigest()


def _reason(e):
    """A short reason for a failed attempt."""
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return f"{e.reason}"
    return str(e) if isinstance(e, (ValueError, _WrongChecksum)) else f"{type(e).__name__}: {e}"


def find_or_download(who, filename, root, dataset, md5, mirrors, download, hint="", alternatives=()):
    """The path of a dataset file: from a user's folder, the cache, or a download.

    - ``root`` given: the folder must exist; ``filename`` (or one of ``alternatives``, such as
      the uncompressed name) found there is used as is: the caller validates its structure,
      no md5 is required (people recompress or unpack their own copies). A missing file is
      downloaded into ``root`` when ``download`` is true.
    - ``root`` None: the cache folder ``cache_dir(dataset)``. A cached file is used only if
      its md5 matches; otherwise it is downloaded again (when ``download`` is true).

    Raises:
        FileNotFoundError: ``root`` does not exist, or the file is missing and ``download``
            is false (the message says where it looked, and ``hint``).
        DownloadError: the download failed on every mirror.
    """
    if root is not None:
        folder = Path(root).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"{who}: data folder {str(folder)!r} does not exist")
        for name in (filename, *alternatives):
            if (folder / name).is_file():
                return folder / name
        wanted = " or ".join((filename, *alternatives))
        missing = f"{who}: {wanted} not found in {folder}"
    else:
        folder = cache_dir(dataset)
        path = folder / filename
        if path.is_file():
            digest = md5sum(path)
            if digest == md5:
                return path
            missing = f"{who}: cached {path} has md5 {digest}, expected {md5}"
        else:
            missing = f"{who}: {filename} not found in the cache {folder}"
    if not download:
        raise FileNotFoundError(f"{missing} and download=False.{' ' + hint if hint else ''}")
    return download_file(filename, folder, md5, mirrors, who=who, hint=hint)
