"""The code in docs/ is right: it agrees with the library.

The Python blocks of docs/conv_backward.md (the two ways of computing the backward pass of a
stride-1 convolution) are executed as written and compared with convnp.functional.conv2d_backward,
and so is the page's general case, conv_reference.conv2d_backward_full (any stride and dilation);
the ``>>>`` examples of every docs page are run as doctests, so their printed numbers are the library's.
"""
import doctest
import re
from pathlib import Path

import numpy as np
import pytest

from convnp.functional import conv2d_backward, conv2d_forward
from convnp.functional.conv_reference import conv2d_backward_full

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _doc_namespace():
    """Execute every ```python block of conv_backward.md that is not a doctest; return its names."""
    text = (DOCS / "conv_backward.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    code = [b for b in blocks if not b.lstrip().startswith(">>>")]
    assert len(code) >= 2, "expected the col2im and full-convolution code blocks"
    ns = {}
    exec(compile("\n".join(code), str(DOCS / "conv_backward.md"), "exec"), ns)
    return ns


DOC = _doc_namespace()


def _case(seed, n, c, f, h, w, k, padding, stride=1, dilation=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((f, c) + k)
    bias = rng.standard_normal(f)
    y, cache = conv2d_forward(x, weight, bias, stride=stride, padding=padding, dilation=dilation)
    dy = rng.standard_normal(y.shape)
    return x, weight, dy, conv2d_backward(dy, cache)


def _assert_same(ours, library):
    for name, a, b in zip(("dx", "dW", "db"), ours, library):
        assert a.shape == b.shape, f"{name}: shape {a.shape} != library {b.shape}"
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, err_msg=name)


# (N, C, F, H, W, (KH, KW), P): non-square inputs and kernels, padding 0 and > 0, N = 1, kernel 1
STRIDE_1 = [
    (1, 1, 1, 3, 3, (2, 2), 0),
    (2, 3, 4, 5, 6, (3, 3), 1),
    (3, 2, 5, 7, 4, (3, 2), 2),
    (1, 4, 2, 6, 6, (1, 1), 0),
    (2, 1, 3, 5, 5, (5, 5), 2),
]


@pytest.mark.parametrize("seed, shape", list(enumerate(STRIDE_1)))
@pytest.mark.parametrize("way", ["conv_backward_col2im", "conv_backward_full"])
def test_both_ways_agree_with_library_stride_1(way, seed, shape):
    n, c, f, h, w, k, p = shape
    x, weight, dy, library = _case(seed, n, c, f, h, w, k, p)
    _assert_same(DOC[way](dy, x, weight, padding=p), library)


# (N, C, F, H, W, (KH, KW), P, S, D), including sizes where the last rows are never read
STRIDED = [
    (2, 2, 3, 7, 7, (3, 3), 1, 2, 1),
    (1, 3, 2, 8, 6, (2, 3), 0, 3, 1),    # (8 - 2) % 3 == 0 rows, (6 - 3) % 3 == 0 columns
    (2, 1, 2, 9, 8, (3, 3), 0, 2, 2),
    (1, 2, 2, 6, 9, (2, 2), 1, 1, 3),
    (2, 2, 3, 10, 7, (3, 2), 2, 3, 2),   # (10 + 4 - 5) % 3 == 0, (7 + 4 - 3) % 3 == 2: unread columns
]


@pytest.mark.parametrize("seed, shape", list(enumerate(STRIDED)))
def test_strided_dilated_full_convolution_agrees_with_library(seed, shape):
    n, c, f, h, w, k, p, s, d = shape
    x, weight, dy, library = _case(seed, n, c, f, h, w, k, p, stride=s, dilation=d)
    ours = conv2d_backward_full(dy, x, weight, stride=s, padding=p, dilation=d)
    _assert_same(ours, library)


def test_strided_version_reduces_to_stride_1():
    x, weight, dy, _ = _case(7, 2, 2, 3, 5, 6, (3, 2), 1)
    a = conv2d_backward_full(dy, x, weight, padding=1)
    b = DOC["conv_backward_full"](dy, x, weight, padding=1)
    _assert_same(a, b)


def test_unread_border_gets_zero_gradient():
    # 5 inputs, kernel 2, stride 2: the last column is never read, so its gradient is exactly 0
    x, weight, dy, library = _case(3, 1, 1, 1, 5, 5, (2, 2), 0, stride=2)
    dx = conv2d_backward_full(dy, x, weight, stride=2)[0]
    assert np.all(dx[..., 4] == 0) and np.all(dx[..., 4, :] == 0)
    assert np.all(library[0][..., 4] == 0)


def test_input_gradient_is_a_convolution_of_dy_with_the_flipped_kernel():
    # The library's own conv2d_forward, applied to dy with the flipped, channel-swapped kernel
    # and padding K - 1 - P, gives dx directly (stride 1): the "transposed convolution".
    x, weight, dy, library = _case(11, 2, 3, 4, 6, 5, (3, 3), 1)
    w_flip = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    dx, _ = conv2d_forward(dy, w_flip, padding=3 - 1 - 1)
    np.testing.assert_allclose(dx, library[0], rtol=1e-10, atol=1e-10)


def test_float32_stays_close():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    weight = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y, cache = conv2d_forward(x, weight, padding=1)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    library = conv2d_backward(dy, cache)
    ours = DOC["conv_backward_col2im"](dy, x, weight, padding=1)
    for a, b in zip(ours[:2], library[:2]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


PAGES_WITH_EXAMPLES = sorted(
    p.name for p in DOCS.glob("*.md") if re.search(r"^>>> ", p.read_text(encoding="utf-8"), flags=re.M)
)


def test_the_pages_that_must_have_examples_do():
    assert {"im2col.md", "conv_backward.md"} <= set(PAGES_WITH_EXAMPLES)


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES)
def test_doc_examples(page):
    result = doctest.testfile(str(DOCS / page), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in docs/{page} failed (see output above)"
