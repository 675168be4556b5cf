"""receptive_field: hand-computed tables, and a brute-force check through the backward pass."""
import numpy as np
import pytest

from convnp import models, nn
from convnp.nn.module import Layer
from convnp.receptive import ReceptiveFieldTable, receptive_field


def _geometry(table):
    """(name, output_shape, receptive_field, jump, start) of every row."""
    return [(r["name"], r["output_shape"], r["receptive_field"], r["jump"], r["start"]) for r in table.rows]


def test_lenet5_by_hand():
    # Recurrences: K_eff = D*(K-1)+1, j_out = j_in*S, r_out = r_in + (K_eff-1)*j_in,
    # start_out = start_in + ((K_eff-1)/2 - P)*j_in; input r = 1, j = 1, start = 0.
    # 0 conv5 p2:  r = 1 + 4*1 = 5    j = 1   start = 0 + (2 - 2)*1   = 0
    # 1 relu:      unchanged
    # 2 pool2:     r = 5 + 1*1 = 6    j = 2   start = 0 + (0.5 - 0)*1 = 0.5
    # 3 conv5:     r = 6 + 4*2 = 14   j = 2   start = 0.5 + (2 - 0)*2 = 4.5
    # 4 relu:      unchanged
    # 5 pool2:     r = 14 + 1*2 = 16  j = 4   start = 4.5 + 0.5*2     = 5.5
    # 6 flatten:   every unit of the 5x5 map: r = 16 + 4*4 = 32 (28 pixels + 2 padding each
    #              side), start = 5.5 + 2*4 = 13.5 (the image centre), no jump: whole input
    # 7-11 linear/relu: unchanged
    table = receptive_field(models.lenet5(rng=0), (1, 28, 28))
    whole = ((32, 32), None, (13.5, 13.5))
    expected = [
        ("input", (None, 1, 28, 28), (1, 1), (1, 1), (0, 0)),
        ("0", (None, 6, 28, 28), (5, 5), (1, 1), (0, 0)),
        ("1", (None, 6, 28, 28), (5, 5), (1, 1), (0, 0)),
        ("2", (None, 6, 14, 14), (6, 6), (2, 2), (0.5, 0.5)),
        ("3", (None, 16, 10, 10), (14, 14), (2, 2), (4.5, 4.5)),
        ("4", (None, 16, 10, 10), (14, 14), (2, 2), (4.5, 4.5)),
        ("5", (None, 16, 5, 5), (16, 16), (4, 4), (5.5, 5.5)),
        ("6", (None, 400), *whole),
        ("7", (None, 120), *whole),
        ("8", (None, 120), *whole),
        ("9", (None, 84), *whole),
        ("10", (None, 84), *whole),
        ("11", (None, 10), *whole),
    ]
    assert _geometry(table) == expected
    types = [r["type"] for r in table.rows]
    assert types == ["", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
                     "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert [r["note"] for r in table.rows[7:]] == ["whole input"] * 6
    assert all(r["note"] == "" for r in table.rows[:7])


def _dilated_strided_stack():
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, stride=2, padding=1, rng=0),
        nn.ReLU(),
        nn.Conv2d(2, 2, 3, dilation=2, padding=2, rng=1),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(2, 2, (3, 1), stride=(1, 2), dilation=(3, 1), rng=2),
        nn.AvgPool2d(2, stride=1),
        nn.Conv2d(2, 2, 2, padding="same", rng=3),
        nn.AdaptiveAvgPool2d(1),
    )


def test_dilated_strided_stack_by_hand():
    # Input (1, 32, 30): H and W differ, and layer 4 treats the two axes differently.
    # 0 conv k3 s2 p1:        K_eff 3. r = 1 + 2*1 = 3, j = 2, start = 0 + (1 - 1)*1 = 0.
    #                         H = (32+2-3)//2+1 = 16, W = (30+2-3)//2+1 = 15
    # 1 relu:                 unchanged
    # 2 conv k3 d2 p2:        K_eff = 2*2+1 = 5. r = 3 + 4*2 = 11, j = 2, start = 0 + (2 - 2)*2 = 0.
    #                         16 x 15
    # 3 maxpool k3 s2 p1:     K_eff 3. r = 11 + 2*2 = 15, j = 4, start = 0 + (1 - 1)*2 = 0.
    #                         H = (16+2-3)//2+1 = 8, W = (15+2-3)//2+1 = 8
    # 4 conv k(3,1) s(1,2) d(3,1) p0:
    #   H: K_eff = 3*2+1 = 7. r = 15 + 6*4 = 39, j = 4, start = 0 + (3 - 0)*4 = 12; H = 8-7+1 = 2
    #   W: K_eff 1.           r = 15,            j = 8, start = 0;                  W = (8-1)//2+1 = 4
    # 5 avgpool k2 s1:
    #   H: r = 39 + 1*4 = 43, j = 4, start = 12 + 0.5*4 = 14; H = 1
    #   W: r = 15 + 1*8 = 23, j = 8, start = 0 + 0.5*8 = 4;   W = 3
    # 6 conv k2 'same': total padding 1 per axis, 0 before (top/left) and 1 after (PyTorch's rule).
    #   H: r = 43 + 1*4 = 47, start = 14 + (0.5 - 0)*4 = 16
    #   W: r = 23 + 1*8 = 31, start = 4 + (0.5 - 0)*8 = 8;     size kept: 1 x 3
    # 7 global average pool: a window as large as the 1 x 3 map, stride 1:
    #   H: r = 47 + 0*4 = 47, start = 16
    #   W: r = 31 + 2*8 = 47, start = 8 + 1*8 = 16
    #   rows 16 - 23 = -7 .. 16 + 23 = 39 cover 0..31, columns -7..39 cover 0..29: whole input
    table = receptive_field(_dilated_strided_stack(), (1, 32, 30))
    expected = [
        ("input", (None, 1, 32, 30), (1, 1), (1, 1), (0, 0)),
        ("0", (None, 2, 16, 15), (3, 3), (2, 2), (0, 0)),
        ("1", (None, 2, 16, 15), (3, 3), (2, 2), (0, 0)),
        ("2", (None, 2, 16, 15), (11, 11), (2, 2), (0, 0)),
        ("3", (None, 2, 8, 8), (15, 15), (4, 4), (0, 0)),
        ("4", (None, 2, 2, 4), (39, 15), (4, 8), (12, 0)),
        ("5", (None, 2, 1, 3), (43, 23), (4, 8), (14, 4)),
        ("6", (None, 2, 1, 3), (47, 31), (4, 8), (16, 8)),
        ("7", (None, 2, 1, 1), (47, 47), None, (16, 16)),
    ]
    assert _geometry(table) == expected
    assert table.rows[-1]["note"] == "global pooling: whole input"


def test_residual_takes_the_larger_field():
    # 0 conv k3 p1:                          r = 3, j = 1, start = 0
    # 1.block.0 conv k3 s2 p1:               r = 3 + 2*1 = 5, j = 2, start = 0 + (1 - 1)*1 = 0
    # 1.block.1 relu:                        unchanged
    # 1.block.2 conv k3 p1:                  r = 5 + 2*2 = 9, j = 2, start = 0
    # 1.shortcut.0 conv k1 s2 (from 0's output): r = 3, j = 2, start = 0
    # 1 the sum:                             r = max(9, 3) = 9, j = 2, start = 0
    # 2 Residual with the identity shortcut: block conv k3 p1: r = 9 + 2*2 = 13; max(13, 9) = 13
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, rng=0),
        nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, stride=2, padding=1, rng=1), nn.ReLU(),
                                  nn.Conv2d(2, 2, 3, padding=1, rng=2)),
                    nn.Sequential(nn.Conv2d(2, 2, 1, stride=2, rng=3))),
        nn.Residual(nn.Conv2d(2, 2, 3, padding=1, rng=4)),
    )
    table = receptive_field(model, (1, 12, 12))
    assert _geometry(table) == [
        ("input", (None, 1, 12, 12), (1, 1), (1, 1), (0, 0)),
        ("0", (None, 2, 12, 12), (3, 3), (1, 1), (0, 0)),
        ("1.block.0", (None, 2, 6, 6), (5, 5), (2, 2), (0, 0)),
        ("1.block.1", (None, 2, 6, 6), (5, 5), (2, 2), (0, 0)),
        ("1.block.2", (None, 2, 6, 6), (9, 9), (2, 2), (0, 0)),
        ("1.shortcut.0", (None, 2, 6, 6), (3, 3), (2, 2), (0, 0)),
        ("1", (None, 2, 6, 6), (9, 9), (2, 2), (0, 0)),
        ("2.block", (None, 2, 6, 6), (13, 13), (2, 2), (0, 0)),
        ("2", (None, 2, 6, 6), (13, 13), (2, 2), (0, 0)),
    ]
    assert table.rows[6]["type"] == "Residual"
    assert table.rows[6]["note"] == "max of block and shortcut"


def test_resnet_small_runs_and_ends_global():
    table = receptive_field(models.resnet_small(rng=0), (3, 32, 32))
    assert table.rows[-1]["output_shape"] == (None, 10)
    assert table.rows[-1]["jump"] is None and table.rows[-1]["note"] == "whole input"
    assert len({r["name"] for r in table.rows}) == len(table.rows)


# -- an independent oracle: the gradient of one output unit marks the pixels it sees --------------
def _field_from_gradient(model, in_shape, unit):
    """Rows and columns (first, last) of the input pixels that output ``unit`` (h, w) depends on.

    All weights are 1 and the input positive, so no contribution can cancel: a pixel is in
    the field exactly when the gradient there is non-zero.
    """
    for p in model.parameters():
        p.data[...] = 1.0
    x = np.ones((1, *in_shape))
    y = model(x)
    dy = np.zeros_like(y)
    dy[0, 0, unit[0], unit[1]] = 1.0
    seen = np.abs(model.backward(dy)[0]).sum(axis=0) > 0
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    return (int(rows[0]), int(rows[-1])), (int(cols[0]), int(cols[-1]))


def _field_from_table(row, unit):
    """The same span from the table: start + i*j -/+ (r-1)/2 on each axis."""
    spans = []
    for axis in range(2):
        centre = row["start"][axis] + unit[axis] * row["jump"][axis]
        half = (row["receptive_field"][axis] - 1) / 2
        spans.append((centre - half, centre + half))
    return tuple(spans)


def _random_stack(rng):
    """Random convolutions and average poolings, and an input size every layer divides exactly.

    The sizes are chosen from the output back to the input, H_in = (H_out - 1)*S - 2*P + K_eff,
    so no layer drops a trailing row: then a unit whose field (by the recurrences) lies inside
    the image reaches its edge pixels through real units, never through zero padding, and the
    gradient's support spans exactly that field.
    """
    size = [int(v) for v in rng.integers(2, 5, size=2)]
    layers = []
    for i in range(int(rng.integers(2, 5))):
        k = [int(v) for v in rng.integers(1, 5, size=2)]
        s = [int(v) for v in rng.integers(1, 3, size=2)]
        pool = rng.random() < 0.3
        d = [1, 1] if pool else [int(v) for v in rng.integers(1, 4, size=2)]
        p = [int(rng.integers(0, (kk // 2 if pool else 2) + 1)) for kk in k]
        size_in = [(n - 1) * ss - 2 * pp + dd * (kk - 1) + 1 for n, ss, pp, dd, kk in zip(size, s, p, d, k)]
        if min(size_in) < 1:
            continue
        if rng.random() < 0.3:
            layers.append(nn.ReLU() if rng.random() < 0.5 else nn.BatchNorm2d(1))   # gradient > 0 here
        layers.append(nn.AvgPool2d(k, stride=s, padding=p) if pool else
                      nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False, rng=i))
        size = size_in
    return nn.Sequential(*reversed(layers)).to(np.float64), (1, *size)


def _interior_units(row, in_shape):
    """The output units whose field (by the table) lies inside the image, with that field."""
    _, _, oh, ow = row["output_shape"]
    for unit in np.ndindex(oh, ow):
        field = _field_from_table(row, unit)
        if all(lo >= 0 and hi <= n - 1 for (lo, hi), n in zip(field, in_shape[1:])):
            yield unit, field


@pytest.mark.parametrize("seed", range(12))
def test_table_matches_the_gradient_support(seed):
    rng = np.random.default_rng(seed)
    for _ in range(100):    # draw stacks until one has a unit whose whole field is inside the image
        model, in_shape = _random_stack(rng)
        row = receptive_field(model, in_shape).rows[-1]
        units = list(_interior_units(row, in_shape))
        if units:
            break
    assert units, "no stack with an interior unit was drawn"
    assert row["output_shape"][2:] == model.output_shape((1, *in_shape))[2:]
    model.eval()
    for unit, field in units:   # near the border the true field is the table's, clipped, minus holes
        assert _field_from_gradient(model, in_shape, unit) == field, f"unit {unit} of {model}"


def test_residual_matches_the_gradient_support():
    model = nn.Sequential(
        nn.Conv2d(1, 1, 3, stride=2, bias=False, rng=0),
        nn.Residual(nn.Sequential(nn.Conv2d(1, 1, 3, padding=2, dilation=2, bias=False, rng=1),
                                  nn.Conv2d(1, 1, 3, padding=1, bias=False, rng=2))),
    ).to(np.float64)
    row = receptive_field(model, (1, 31, 31)).rows[-1]
    assert row["receptive_field"] == (3 + 4 * 2 + 2 * 2,) * 2
    # 31 -> 15 -> 15, r = 3 + 4*2 + 2*2 = 15: unit 7 is centred on pixel 1 + 7*2 = 15 and sees 15 -/+ 7
    assert _field_from_gradient(model, (1, 31, 31), (7, 7)) == ((8, 22), (8, 22)) == _field_from_table(row, (7, 7))


# -- the text form, unknown layers, errors ------------------------------------------------------------
def test_text_table():
    table = receptive_field(models.lenet5(rng=0), (1, 28, 28))
    assert isinstance(table, ReceptiveFieldTable)
    lines = str(table).splitlines()
    assert lines[0].split() == ["Layer", "Type", "Output", "Shape", "RF", "Jump", "Start", "Note"]
    assert set(lines[1]) == {"-"}
    assert len(lines) == len(table) + 2
    assert lines[6].split() == ["3", "Conv2d", "(None,", "16,", "10,", "10)", "14", "2", "4.5"]
    assert lines[9].split() == ["6", "Flatten", "(None,", "400)", "32", "-", "13.5", "whole", "input"]
    assert table[3] is table.rows[3] and list(table) == table.rows


def test_text_shows_both_axes_when_they_differ():
    table = receptive_field(_dilated_strided_stack(), (1, 32, 30))
    line = str(table).splitlines()[2 + 5]
    assert "39, 15" in line and "4, 8" in line and "12, 0" in line


class _Scale(Layer):
    """A layer receptive_field does not know, which keeps H and W."""

    def forward(self, x):
        return 2 * x


class _Crop(Layer):
    """A layer receptive_field does not know, which changes H and W."""

    def forward(self, x):
        return x[:, :, 1:, 1:]

    def output_shape(self, input_shape):
        n, c, h, w = input_shape
        return (n, c, h - 1, w - 1)


def test_unknown_pointwise_layer_passes_with_a_note():
    table = receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), _Scale()), (1, 8, 8))
    assert table.rows[-1]["receptive_field"] == (3, 3)
    assert table.rows[-1]["note"] == "assumed pointwise"


def test_unknown_layer_that_changes_the_size_is_refused():
    with pytest.raises(ValueError, match=r"receptive_field: cannot follow _Crop\(\): it maps \(None, 1, 6, 6\)"
                                         r" to \(None, 1, 5, 5\)"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), _Crop()), (1, 8, 8))


def test_bad_arguments():
    with pytest.raises(TypeError, match="receptive_field: expected a convnp Layer, got list"):
        receptive_field([nn.ReLU()], (1, 8, 8))
    with pytest.raises(ValueError, match=r"expected input_shape \(C, H, W\) or \(N, C, H, W\), got \(8, 8\)"):
        receptive_field(nn.ReLU(), (8, 8))
    with pytest.raises(ValueError, match=r"got \(1, 0, 8\)"):
        receptive_field(nn.ReLU(), (1, 0, 8))
    with pytest.raises(TypeError, match="input_shape must be a tuple"):
        receptive_field(nn.ReLU(), 8)


def test_full_batch_shape_is_accepted():
    table = receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3)), (4, 1, 8, 8))
    assert table.rows[-1]["output_shape"] == (4, 1, 6, 6)
