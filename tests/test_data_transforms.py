"""Batch transforms: Normalize, RandomCrop, RandomHorizontalFlip, Compose."""
import numpy as np
import pytest

from convnp.data import Compose, Normalize, RandomCrop, RandomHorizontalFlip


def batch(seed=0, shape=(16, 3, 8, 8), dtype=np.float32):
    return np.random.default_rng(seed).random(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalize_per_channel(dtype):
    x = batch(dtype=dtype)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    y = Normalize(mean, std)(x)
    assert y.dtype == dtype and y.shape == x.shape
    m = np.array(mean, dtype=dtype)[:, None, None]
    s = np.array(std, dtype=dtype)[:, None, None]
    np.testing.assert_array_equal(y, (x - m) / s)
    one = Normalize(0.5, 0.25)(x)  # a single value applies to every channel
    np.testing.assert_array_equal(one, (x - dtype(0.5)) / dtype(0.25))


def test_normalize_matches_torch():
    torch = pytest.importorskip("torch")
    x = batch(seed=3)
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.6, 0.7]
    expected = (torch.from_numpy(x) - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)
    np.testing.assert_array_equal(Normalize(mean, std)(x), expected.numpy())


def test_normalize_errors():
    with pytest.raises(ValueError, match=r"Normalize\(mean=\(0.1, 0.2, 0.3\), std=\(1.0, 1.0, 1.0\)\): expected 3 channels, got input of shape \(2, 1, 4, 4\)"):
        Normalize([0.1, 0.2, 0.3], [1, 1, 1])(np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="std must not be 0"):
        Normalize(0.5, 0.0)
    with pytest.raises(ValueError, match=r"Normalize\(mean=\(0.5,\), std=\(1.0,\)\): expected a batch \(N, C, H, W\), got \(4, 4\)"):
        Normalize(0.5, 1.0)(np.zeros((4, 4), np.float32))
    with pytest.raises(TypeError, match=r"RandomHorizontalFlip\(p=0.5\): expected a floating-point batch \(DataLoader makes one\), got dtype uint8"):
        RandomHorizontalFlip()(np.zeros((1, 1, 2, 2), np.uint8))


def find_offset(out, padded):
    """The (top, left) where ``out`` (C, h, w) sits in ``padded`` (C, H, W), or None."""
    _, h, w = out.shape
    for top in range(padded.shape[1] - h + 1):
        for left in range(padded.shape[2] - w + 1):
            if np.array_equal(padded[:, top:top + h, left:left + w], out):
                return top, left
    return None


def test_random_crop_each_sample_its_own_window():
    x = batch(shape=(64, 2, 6, 5))
    out = RandomCrop((4, 3), padding=2, rng=0)(x)
    assert out.shape == (64, 2, 4, 3) and out.dtype == np.float32 and out.flags.c_contiguous
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = [find_offset(o, p) for o, p in zip(out, padded)]
    assert None not in offsets
    tops, lefts = zip(*offsets)
    assert set(tops) == set(range(7)) and set(lefts) == set(range(7))  # every offset is drawn


def test_random_crop_reproducible_and_identity():
    x = batch()
    np.testing.assert_array_equal(RandomCrop(5, 1, rng=3)(x), RandomCrop(5, 1, rng=3)(x))
    assert not np.array_equal(RandomCrop(5, 1, rng=3)(x), RandomCrop(5, 1, rng=4)(x))
    np.testing.assert_array_equal(RandomCrop(8)(x), x)  # full size, no padding: nothing changes
    crop = RandomCrop(8, padding=4, rng=1)
    assert crop(x).shape == x.shape and repr(crop) == "RandomCrop(size=8, padding=4)"


def test_random_crop_errors():
    with pytest.raises(ValueError, match=r"RandomCrop\(size=10, padding=0\): crop 10x10 is larger than the padded input 8x8"):
        RandomCrop(10)(batch())
    with pytest.raises(ValueError, match="RandomCrop: padding must be >= 0, got -1"):
        RandomCrop(4, padding=-1)
    with pytest.raises(TypeError, match="RandomCrop: size must be an int or a pair of ints"):
        RandomCrop(2.5)


def test_random_horizontal_flip():
    x = batch(shape=(400, 2, 3, 5))
    out = RandomHorizontalFlip(rng=0)(x)
    flipped = np.array([np.array_equal(o, s[..., ::-1]) for o, s in zip(out, x)])
    kept = np.array([np.array_equal(o, s) for o, s in zip(out, x)])
    assert np.all(flipped ^ kept)  # each sample is either mirrored or untouched
    assert 150 < flipped.sum() < 250  # p = 0.5
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(x), x)
    np.testing.assert_array_equal(RandomHorizontalFlip(0.3, rng=9)(x), RandomHorizontalFlip(0.3, rng=9)(x))
    with pytest.raises(ValueError, match=r"RandomHorizontalFlip: p must be in \[0.0, 1.0\], got 1.5"):
        RandomHorizontalFlip(1.5)


def test_input_never_modified_and_compose():
    x = batch()
    keep = x.copy()
    t = Compose([RandomCrop(8, padding=2, rng=0), RandomHorizontalFlip(rng=1), Normalize(0.5, 0.5)])
    y = t(x)
    np.testing.assert_array_equal(x, keep)
    expected = Normalize(0.5, 0.5)(RandomHorizontalFlip(rng=1)(RandomCrop(8, padding=2, rng=0)(x)))
    np.testing.assert_array_equal(y, expected)
    assert repr(t) == ("Compose([RandomCrop(size=8, padding=2), RandomHorizontalFlip(p=0.5),"
                       " Normalize(mean=(0.5,), std=(0.5,))])")
    with pytest.raises(TypeError, match="Compose: every transform must be callable, got str"):
        Compose(["flip"])
