"""Dataset and DataLoader: shapes, dtype, drop_last, shuffling, validation."""
import numpy as np
import pytest

from convnp.data import DataLoader, Dataset, Normalize


def make(n=10, c=1, h=4, w=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, c, h, w), dtype=np.uint8)
    labels = rng.integers(0, 3, n)
    return Dataset(images, labels, ["a", "b", "c"], "toy")


def test_dataset_basics():
    ds = make()
    assert len(ds) == 10 and ds.shape == (1, 4, 3) and ds.labels.dtype == np.int64
    image, label = ds[3]
    np.testing.assert_array_equal(image, ds.images[3])
    assert isinstance(label, int) and label == ds.labels[3]
    np.testing.assert_array_equal(ds[-1][0], ds.images[9])
    assert repr(ds) == "Dataset('toy', 10 images, shape=(1, 4, 3), dtype=uint8, 3 classes)"
    sub = ds.subset([4, 1])
    np.testing.assert_array_equal(sub.images, ds.images[[4, 1]])
    assert sub.classes == ds.classes and len(sub) == 2
    ds.coarse_labels, ds.coarse_classes = ds.labels * 10, ["x"]  # extras a loader may add
    sub = ds.subset(np.array([2, 0, 2]))
    np.testing.assert_array_equal(sub.coarse_labels, ds.labels[[2, 0, 2]] * 10)
    assert sub.coarse_classes == ["x"]
    with pytest.raises(TypeError, match="toy: subset\\(\\) needs integer indices, got dtype bool"):
        ds.subset(ds.labels > 0)


def test_dataset_three_dims_and_default_classes():
    ds = Dataset(np.zeros((5, 6, 7), np.uint8), np.array([0, 3, 1, 1, 0]))
    assert ds.images.shape == (5, 1, 6, 7) and ds.classes == ["0", "1", "2", "3"]


def test_dataset_errors():
    with pytest.raises(IndexError, match="toy: index 10 is out of range for 10 samples"):
        make()[10]
    with pytest.raises(TypeError, match="toy: index must be an int, got slice"):
        make()[1:3]
    with pytest.raises(ValueError, match=r"d: expected labels of shape \(4,\) for 4 images, got \(3,\)"):
        Dataset(np.zeros((4, 1, 2, 2), np.uint8), np.zeros(3, int), name="d")
    with pytest.raises(ValueError, match=r"d: labels must lie in 0..1 \(2 classes\), got values in 0..2"):
        Dataset(np.zeros((3, 1, 2, 2), np.uint8), np.array([0, 2, 1]), ["x", "y"], "d")
    with pytest.raises(TypeError, match="d: images must be uint8 or floating, got dtype int32"):
        Dataset(np.zeros((3, 1, 2, 2), np.int32), np.zeros(3, int), name="d")
    with pytest.raises(TypeError, match="d: labels must be integers, got dtype float64"):
        Dataset(np.zeros((3, 1, 2, 2), np.uint8), np.zeros(3), name="d")
    with pytest.raises(ValueError, match=r"d: images must be \(N, C, H, W\) or \(N, H, W\), got shape \(3, 4\)"):
        Dataset(np.zeros((3, 4), np.uint8), np.zeros(3, int), name="d")


def test_batches_shapes_dtype_and_values():
    ds = make(n=10)
    loader = DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(x) for x, _ in batches] == [4, 4, 2]
    x, y = batches[0]
    assert x.dtype == np.float32 and x.shape == (4, 1, 4, 3) and y.dtype == np.int64
    np.testing.assert_array_equal(x, ds.images[:4].astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(y, ds.labels[:4])
    assert x.min() >= 0 and x.max() <= 1
    before = ds.labels.copy()
    y[:] = -1  # batches are copies: changing one leaves the dataset alone
    np.testing.assert_array_equal(ds.labels, before)


def test_drop_last():
    loader = DataLoader(make(n=10), batch_size=4, drop_last=True)
    assert len(loader) == 2 and [len(x) for x, _ in loader] == [4, 4]
    assert len(DataLoader(make(n=8), batch_size=4, drop_last=True)) == 2
    assert len(DataLoader(make(n=3), batch_size=4, drop_last=True)) == 0
    assert len(DataLoader(make(n=3), batch_size=4)) == 1


def indexed(n):
    """A dataset whose image i is filled with the value i, and whose label is i % 3."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 1, 2, 2)).copy()
    return Dataset(images, np.arange(n) % 3, ["a", "b", "c"], "indexed")


def which(x):
    """The sample indices of a batch drawn from ``indexed``."""
    return np.rint(x[:, 0, 0, 0] * 255).astype(int).tolist()


def test_shuffle_each_sample_once_per_epoch_and_reshuffles():
    loader = DataLoader(indexed(23), batch_size=5, shuffle=True, rng=7)
    epochs = []
    for _ in range(3):
        order = []
        for x, y in loader:
            order += which(x)
            assert y.tolist() == [i % 3 for i in which(x)]  # labels travel with their images
        assert sorted(order) == list(range(23))  # every sample exactly once
        epochs.append(order)
    assert epochs[0] != epochs[1] and epochs[1] != epochs[2] and epochs[0] != list(range(23))


def test_no_shuffle_keeps_order():
    assert [i for x, _ in DataLoader(indexed(7), batch_size=3) for i in which(x)] == list(range(7))


def test_shuffle_reproducible_with_seed():
    def run(seed):
        loader = DataLoader(indexed(30), batch_size=8, shuffle=True, rng=seed)
        return [which(x) for _ in range(2) for x, _ in loader]

    assert run(123) == run(123)
    assert run(123) != run(124)


def test_generator_rng_is_used():
    gen = np.random.default_rng(5)
    first = [y for _, y in DataLoader(make(n=12), batch_size=12, shuffle=True, rng=gen)][0]
    expected = make(n=12).labels[np.random.default_rng(5).permutation(12)]
    np.testing.assert_array_equal(first, expected)


def test_transform_tuple_dataset_and_float_images():
    x = np.random.default_rng(0).random((6, 2, 3, 3))
    y = np.arange(6) % 2
    loader = DataLoader((x, y), batch_size=6, transform=Normalize([0.5, 0.25], [2.0, 4.0]))
    xb, yb = next(iter(loader))
    assert xb.dtype == np.float64  # floating images pass through unscaled, in their own dtype
    np.testing.assert_allclose(xb[:, 1], (x[:, 1] - 0.25) / 4.0)
    xb[:] = 0
    assert x.any()


def test_validation():
    ds = make()
    with pytest.raises(ValueError, match="DataLoader: batch_size must be > 0, got 0"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="DataLoader: batch_size must be an int, got 2.5"):
        DataLoader(ds, batch_size=2.5)
    with pytest.raises(ValueError, match="DataLoader: the dataset 'empty' is empty"):
        DataLoader(Dataset(np.zeros((0, 1, 2, 2), np.uint8), np.zeros(0, int), ["a"], "empty"))
    with pytest.raises(TypeError, match="DataLoader: expected a Dataset or an \\(images, labels\\) tuple, got list"):
        DataLoader([1, 2, 3])
    with pytest.raises(TypeError, match="DataLoader: transform must be callable, got int"):
        DataLoader(ds, transform=3)
    assert repr(DataLoader(ds, 4)) == "DataLoader('toy', batch_size=4, shuffle=False, drop_last=False, batches=3)"
