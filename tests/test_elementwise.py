"""elementwise.select: where's values bit for bit (NaN payloads, inf, -0.0), scalars, broadcasting, in place."""
import numpy as np
import pytest

from convnp.functional.elementwise import select

BITS = {np.float16: np.uint16, np.float32: np.uint32, np.float64: np.uint64, np.int64: np.uint64}


def random_bits(rng, dtype, shape):
    """Every bit pattern equally likely (NaNs with any payload, subnormals, both zeros), plus the specials."""
    u = BITS[dtype]
    a = rng.integers(0, np.iinfo(u).max, shape, dtype=u, endpoint=True).view(dtype)
    if np.dtype(dtype).kind == "f":
        specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0], dtype=dtype)
        a.flat[rng.integers(0, a.size, 40)] = rng.choice(specials, 40)
    return a


def assert_same_bits(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.view(BITS[want.dtype.type]), want.view(BITS[want.dtype.type]))


@pytest.mark.parametrize("dtype", list(BITS))
def test_select_gives_the_bits_of_where(dtype):
    rng = np.random.default_rng(0)
    a, b = random_bits(rng, dtype, (6, 50)), random_bits(rng, dtype, (6, 50))
    mask = rng.random((6, 50)) < 0.5
    assert_same_bits(select(mask, a, b), np.where(mask, a, b))
    assert_same_bits(select(mask[:, ::2], a[:, ::2], b[:, 1::2]), np.where(mask[:, ::2], a[:, ::2], b[:, 1::2]))
    row = a[0]                                                      # broadcast over the rows
    assert_same_bits(select(mask, row, b), np.where(mask, row, b))
    for scalar in ([0, 3, -0.0, 1.5, np.nan, -np.inf] if np.dtype(dtype).kind == "f" else [0, -7]):
        assert_same_bits(select(mask, scalar, b), np.where(mask, np.asarray(scalar, dtype), b))
        assert_same_bits(select(mask, a, scalar), np.where(mask, a, np.asarray(scalar, dtype)))


def test_select_writes_out_even_when_out_is_an_input():
    rng = np.random.default_rng(1)
    a, b = random_bits(rng, np.float32, (100,)), random_bits(rng, np.float32, (100,))
    mask = rng.random(100) < 0.5
    want = np.where(mask, a, b)
    for target in ("a", "b"):
        a1, b1 = a.copy(), b.copy()
        out = a1 if target == "a" else b1
        assert select(mask, a1, b1, out=out) is out
        assert_same_bits(out, want)
