"""Writing a file so that a failure never leaves half a file, nor damages the one it replaces.

    with atomic_write("runs/x/model.npz") as f:    # f: a binary file in the same folder
        np.savez(f, **arrays)

The content goes to a temporary file beside ``path`` (".<name>.<random>.tmp"), which is
flushed to disk and renamed over ``path`` (os.replace: atomic on POSIX and Windows) only
when the ``with`` body ends without an exception. Any exception (KeyboardInterrupt too)
removes the temporary file and leaves a file already at ``path`` as it was. Model files
(io/files.py), downloads (data/download.py), histories and pictures of ``convnp train`` are
written this way.
"""
import contextlib
import errno
import os
import tempfile

# errors of the disk rather than of the content: re-raised naming the file being written
DISK_ERRORS = frozenset(getattr(errno, name) for name in
                        ("ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EIO", "EACCES", "EPERM") if hasattr(errno, name))


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """A file object whose content replaces ``path`` when the ``with`` body succeeds.

    Args: path (str or PathLike); mode: "wb" (default) or "w" (text, UTF-8).
    Raises:
        FileNotFoundError: the folder of ``path`` does not exist.
        OSError: the disk refused (full, read-only, no permission): the message names
            ``path`` ("cannot write runs/x/model.npz: No space left on device") and
            ``errno`` is the original one. Other exceptions of the body pass unchanged.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"cannot write {path}: the folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    except OSError as e:
        raise _named(e, path) from e
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException as e:   # KeyboardInterrupt too: never leave the temporary file behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno in DISK_ERRORS and e.filename in (None, tmp):
            raise _named(e, path) from e
        raise
    _sync_folder(folder)


def _named(e, path):
    """``e`` as the same kind of OSError whose message names ``path``."""
    return type(e)(e.errno, f"cannot write {path}: {e.strerror or e}")


def _file_mode(path):
    """The mode of the file being replaced, else what a new file would get (mkstemp gives 0600)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)   # the only way to read the umask is to set it
        os.umask(umask)
        return 0o666 & ~umask


def _sync_folder(folder):
    """Make the rename itself durable (POSIX); skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_folders(path):
    """Create the folder ``path`` and any missing parents; returns those created, deepest first.

    Give the list to ``remove_empty`` to undo the creation when nothing was written.
    """
    path = os.path.abspath(os.fspath(path))
    created = []
    while not os.path.isdir(path):
        created.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for folder in reversed(created):
        try:
            os.mkdir(folder)
        except FileExistsError:
            if not os.path.isdir(folder):
                raise
    return created


def remove_empty(folders):
    """Remove each of ``folders`` (deepest first) that is empty; stops at the first that is not."""
    for folder in folders:
        try:
            os.rmdir(folder)   # refuses a folder that is not empty: nothing in it can be lost
        except OSError:
            return
