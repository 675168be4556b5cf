"""CIFAR-10 and CIFAR-100 from their binary archives, read from the tar without extracting.

Only the "binary version" archives are used (the Python version holds pickles, which can run
code when loaded). Records are fixed-size:
    CIFAR-10:  1 label byte, then 3072 pixel bytes (3 x 32 x 32, channel-major: CHW)
    CIFAR-100: 1 coarse label byte, 1 fine label byte, then 3072 pixel bytes
The archive is read member by member with tarfile; only the expected member names are read
(into memory), nothing is written to disk, so no member path can escape anywhere. A ``root``
holding the already extracted folder (``cifar-10-batches-bin/`` or ``cifar-100-binary/``)
instead of the archive works too.
"""
import tarfile
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .download import find_or_download

CIFAR10_MIRRORS = ["https://www.cs.toronto.edu/~kriz/"]
CIFAR100_MIRRORS = ["https://www.cs.toronto.edu/~kriz/"]
CIFAR10_FILE = ("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530")
CIFAR100_FILE = ("cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8")

_PIXELS = 3 * 32 * 32
_HINT = "Offline? Pass root= a folder holding the archive (--data-dir on the command line)."


def cifar10(root=None, train=True, download=True, *, mirrors=None):
    """CIFAR-10: 50,000 training or 10,000 test colour images (N, 3, 32, 32) uint8, 10 classes.

    Args:
        root: a folder holding ``cifar-10-binary.tar.gz`` (used without an md5 check; its
            records are checked). None uses the cache ``$CONVNP_DATA/cifar10`` (default
            ``~/.cache/convnp/cifar10``), where the archive must match its published md5.
        train: the five training batches if true, else the test batch.
        download: fetch a missing archive from ``CIFAR10_MIRRORS`` (about 162 MB).
        mirrors: base URLs to use instead of ``CIFAR10_MIRRORS``.

    Returns: a Dataset named "cifar10", classes from ``batches.meta.txt`` ("airplane" ...).

    Raises:
        FileNotFoundError, DownloadError: as ``mnist``.
        ValueError: the archive is unreadable, lacks a member, or a batch is malformed.
    """
    filename, md5 = CIFAR10_FILE
    folder = "cifar-10-batches-bin/"
    batches = [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]
    path = _source("cifar10", filename, folder, root, "cifar10", md5,
                   CIFAR10_MIRRORS if mirrors is None else mirrors, download)
    members = _read_members("cifar10", path, [folder + b for b in batches] + [folder + "batches.meta.txt"])
    classes = _names(members[folder + "batches.meta.txt"])
    records = [_records("cifar10", folder + b, members[folder + b], 1) for b in batches]
    images = np.concatenate([r[:, 1:] for r in records]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([r[:, 0] for r in records]).astype(np.int64)
    _check_labels("cifar10", labels, len(classes), filename)
    return Dataset(images, labels, classes, "cifar10")


def cifar100(root=None, train=True, download=True, *, mirrors=None):
    """CIFAR-100: 50,000 / 10,000 colour images (N, 3, 32, 32) uint8 with 100 fine classes.

    Arguments as ``cifar10`` (archive ``cifar-100-binary.tar.gz``, cache ``$CONVNP_DATA/cifar100``).

    Returns: a Dataset named "cifar100" whose ``labels`` are the fine labels (classes from
    ``fine_label_names.txt``); it also has ``coarse_labels`` (N,) int64 and ``coarse_classes``
    (the 20 superclasses from ``coarse_label_names.txt``).
    """
    filename, md5 = CIFAR100_FILE
    folder = "cifar-100-binary/"
    batch = folder + ("train.bin" if train else "test.bin")
    fine_txt, coarse_txt = folder + "fine_label_names.txt", folder + "coarse_label_names.txt"
    path = _source("cifar100", filename, folder, root, "cifar100", md5,
                   CIFAR100_MIRRORS if mirrors is None else mirrors, download)
    members = _read_members("cifar100", path, [batch, fine_txt, coarse_txt])
    classes, coarse_classes = _names(members[fine_txt]), _names(members[coarse_txt])
    records = _records("cifar100", batch, members[batch], 2)
    coarse = records[:, 0].astype(np.int64)
    fine = records[:, 1].astype(np.int64)
    _check_labels("cifar100", coarse, len(coarse_classes), filename)
    _check_labels("cifar100", fine, len(classes), filename)
    ds = Dataset(records[:, 2:].reshape(-1, 3, 32, 32), fine, classes, "cifar100")
    ds.coarse_labels = coarse
    ds.coarse_classes = coarse_classes
    return ds


def _source(who, filename, folder, root, dataset, md5, mirrors, download):
    """The archive's path, or the extracted folder's path when ``root`` holds only that."""
    if root is not None:
        root = Path(root).expanduser()
        if not (root / filename).is_file() and (root / folder).is_dir():
            return root / folder
    return find_or_download(who, filename, root, dataset, md5, mirrors, download, hint=_HINT)


def _read_members(who, path, wanted):
    """The bytes of each member named in ``wanted`` (regular files only), in one pass.

    ``path`` is the .tar.gz archive, or an extracted folder (member names start with its name).
    """
    wanted = set(wanted)
    found = {}
    if path.is_dir():
        for name in wanted:
            if (path.parent / name).is_file():
                found[name] = (path.parent / name).read_bytes()
        what = f"{path.parent} has no file"
    else:
        found = _read_tar(who, path, wanted)
        what = f"{path.name} has no member"
    missing = sorted(wanted - found.keys())
    if missing:
        raise ValueError(f"{who}: {what} {', '.join(missing)}")
    return found


def _read_tar(who, path, wanted):
    """Read the wanted regular-file members of a .tar.gz into memory (nothing is extracted)."""
    found = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = member.name[2:] if member.name.startswith("./") else member.name
                if name in wanted and member.isfile():
                    found[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ValueError(f"{who}: cannot read {path.name} as a .tar.gz archive: {e}") from None
    return found


def _records(who, name, data, label_bytes):
    """The batch ``data`` as an (n, label_bytes + 3072) uint8 array."""
    size = label_bytes + _PIXELS
    if len(data) == 0 or len(data) % size:
        raise ValueError(
            f"{who}: {name} holds {len(data)} bytes, expected a positive multiple of {size}"
            f" ({label_bytes} label byte(s) + {_PIXELS} pixels per image)"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, size)


def _names(data):
    """Class names from a text member: one per line, blank lines dropped."""
    return [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]


def _check_labels(who, labels, n_classes, filename):
    if labels.size and labels.max() >= n_classes:
        raise ValueError(f"{who}: {filename} has label {labels.max()}, expected 0..{n_classes - 1}")
