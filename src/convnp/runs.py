"""The output folder of ``convnp train``: what a run leaves there, and never losing one.

A run folder holds RUN_FILES: model.npz (the final model), last.npz (a checkpoint after
every epoch), history.csv, history.json and curves.png. ``output_folder`` refuses a folder
that already holds a run unless the new run continues that very run (``--resume`` of its
last.npz: in place) or the user said ``--force``; it creates the folder (and its parents),
checks that it can be written before any training starts, and returns the folders it
created so that a run that saved nothing (Ctrl-C or NaN in its first epoch, a failure)
removes them again with ``atomic.remove_empty``.
"""
import os
import tempfile
import time

from .atomic import make_folders, remove_empty

RUN_FILES = ("model.npz", "last.npz", "history.csv", "history.json", "curves.png")


class FolderError(ValueError):
    """An output folder that cannot be used; the message names it and says what to do."""


def output_folder(out, resume=None, force=False):
    """The folder a run writes to, created and checked; returns (folder, folders created).

    Args:
        out: the --out value, or None: the folder of ``resume`` when resuming, else a new
            ``runs/<date>-<time>`` (with "-2", "-3", ... if that exists).
        resume: the checkpoint being resumed (its own folder is continued in place), or None.
        force: replace a run that ``out`` holds (its files are overwritten as the new run
            writes its own).
    Raises FolderError: ``out`` is a file, holds another run (without ``force``), or cannot
        be written (checked by creating and removing a temporary file in it).
    """
    own = None if resume is None else (os.path.dirname(resume) or os.curdir)
    folder = out or own or _new_run_name()
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise FolderError(f"--out {folder} is a file, not a folder")
    in_place = own is not None and os.path.isdir(folder) and os.path.samefile(folder, own)
    held = holds_run(folder)
    if held and not in_place and not force:
        last = os.path.join(folder, "last.npz")
        how = f"continue it with --resume {last}, " if "last.npz" in held else ""
        raise FolderError(f"--out {folder} already holds a run ({', '.join(held)}); {how}choose another --out,"
                          " or give --force to replace it")
    try:
        created = make_folders(folder)
    except OSError as e:
        raise FolderError(f"cannot create the --out folder {folder}: {e.strerror or e}") from None
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        remove_empty(created)
        raise FolderError(f"cannot write into the --out folder {folder}: {e.strerror or e}") from None
    return folder, created


def holds_run(folder):
    """The RUN_FILES present in ``folder`` (an empty list if none, or no such folder)."""
    return [name for name in RUN_FILES if os.path.exists(os.path.join(folder, name))]


def _new_run_name():
    base = os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    name, k = base, 1
    while os.path.exists(name):   # two runs started in the same second
        k += 1
        name = f"{base}-{k}"
    return name
