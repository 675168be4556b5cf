"""The bundled MNIST sample: sizes, balance, dtype, and that it is the real MNIST."""
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from convnp.data import mnist, mnist_sample

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
PACKAGE = resources.files("convnp.data")


@pytest.mark.parametrize("train,per_class", [(True, 1000), (False, 200)])
def test_sizes_balance_dtype(train, per_class):
    ds = mnist_sample(train=train)
    assert ds.name == "mnist-sample" and ds.classes == [str(d) for d in range(10)]
    assert ds.images.shape == (10 * per_class, 1, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(ds.labels, minlength=10), [per_class] * 10)
    assert ds.images.max() == 255 and 20 < ds.images.mean() < 50  # MNIST's mean pixel is about 33
    assert len(np.unique(ds.indices)) == len(ds)  # drawn without replacement
    assert np.all(np.diff(ds.indices) > 0)  # kept in MNIST's order


def test_file_small_no_pickle_and_credited():
    npz = PACKAGE / "mnist_sample.npz"
    assert npz.is_file()
    assert Path(str(npz)).stat().st_size < 3_000_000
    with np.load(str(npz), allow_pickle=False) as f:
        assert sorted(f.files) == ["test_images", "test_indices", "test_labels",
                                   "train_images", "train_indices", "train_labels"]
        assert all(f[k].dtype != object for k in f.files)
    credit = (PACKAGE / "MNIST_SAMPLE.md").read_text()
    for words in ("Yann LeCun", "Corinna Cortes", "Burges", "CC BY-SA 3.0"):
        assert words in credit


def test_fresh_arrays_each_call():
    a = mnist_sample(train=False)
    a.images[0] = 0
    assert mnist_sample(train=False).images[0].any()


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="the shared MNIST folder is not on this machine")
def test_sample_is_real_mnist():
    sample = mnist_sample(train=False)
    full = mnist(root=SHARED_MNIST, train=False, download=False)
    np.testing.assert_array_equal(sample.images, full.images[sample.indices])
    np.testing.assert_array_equal(sample.labels, full.labels[sample.indices])
