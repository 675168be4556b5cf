"""What convolution filters do to a photo: fixed edge filters, then random ones, stage by stage.

A grayscale photo goes through three blocks of conv -> ReLU -> 2x2 max pooling (stride 2):

1. Conv2d(1, 2, 3) with two fixed filters:
       vertical edges    [[-1, 0, 1],      horizontal edges  [[ 1,  1,  1],
                          [-1, 0, 1],                         [ 0,  0,  0],
                          [-1, 0, 1]]                         [-1, -1, -1]]
   A cross-correlation, so the vertical filter is positive where brightness increases from
   left to right, and the horizontal one where it decreases from top to bottom; the ReLU
   then keeps only those edges.
2. Conv2d(2, 3, 5): three random 5x5 filters (PyTorch's default initialisation, seeded).
3. Conv2d(3, 1, 7): one random 7x7 filter.

No training happens: the point is to see what each operation does, and how the maps shrink
and get coarser. One figure shows every stage. The photo is scikit-image's cat ``chelsea``
when scikit-image is installed (it is not a convnp dependency), any image file with
``--image``, and otherwise (and with ``--smoke``) a generated test image with a bright square,
on which the edge responses are exactly known.

Run:  python examples/edge_filters.py [--image PHOTO] [--out examples/figures]
Figure: edge_filters.png in --out.
"""
import argparse
from pathlib import Path

import numpy as np

from convnp import nn

FIGURES = Path(__file__).resolve().parent / "figures"

VERTICAL = np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], dtype=np.float32)
HORIZONTAL = np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=np.float32)
# ITU-R 601 luma weights: what Pillow's convert("L") uses, so --image and chelsea agree.
LUMA = np.array([0.299, 0.587, 0.114])

# The smallest input the three blocks accept: 42 -> conv 40 -> pool 20 -> 16 -> 8 -> 2 -> 1.
MIN_SIZE = 42
# The generated image: background and square brightness (see test_image).
DARK, BRIGHT = 0.2, 0.9


def test_image(size=96):
    """A (size, size) float32 image: a bright square on a dark background, a bright disc and stripes.

    Across each side of the square the brightness jumps by BRIGHT - DARK, so both edge filters
    respond there with 3 * (BRIGHT - DARK) = 2.1 (three rows/columns of +-1 each).
    """
    img = np.full((size, size), DARK, dtype=np.float32)
    s = size // 8
    img[2 * s : 5 * s, s : 4 * s] = BRIGHT                           # the square
    rows, cols = np.mgrid[:size, :size]
    disc = (rows - 5.5 * s) ** 2 + (cols - 5.5 * s) ** 2 <= (1.5 * s) ** 2
    img[disc] = BRIGHT
    stripes = ((rows + cols) // max(s // 2, 1)) % 2 == 0              # diagonal stripes, top right
    img[(rows < 2 * s) & (cols > 4 * s) & stripes] = BRIGHT
    return img


def square_edge_responses(conv1, size):
    """The two edge maps (2, H-2, W-2) read across the middle of each side of the test image's square.

    The map at (i, j) looks at input rows i..i+2 and columns j..j+2, so the response to the
    left side (input columns s-1 | s) is at map column s-2; the top side (rows 2s-1 | 2s) at map row 2s-2.
    """
    s = size // 8
    mid_row, mid_col = (2 * s + 5 * s) // 2 - 1, (s + 4 * s) // 2 - 1    # map coordinates mid-side
    vertical, horizontal = conv1
    return {
        "left": vertical[mid_row, s - 2], "right": vertical[mid_row, 4 * s - 2],
        "top": horizontal[2 * s - 2, mid_col], "bottom": horizontal[5 * s - 2, mid_col],
    }


def load_photo(image, smoke):
    """(grayscale image (H, W) float32 in [0, 1], a description)."""
    if image is not None:
        from convnp.data import load_image

        return load_image(image, mode="L")[0].astype(np.float32) / 255, str(image)
    if not smoke:
        try:
            from skimage import data
        except ImportError:
            print("scikit-image is not installed: using a generated test image (or pass --image PHOTO)")
        else:
            rgb = data.chelsea().astype(np.float64) / 255                # (300, 451, 3)
            return (rgb @ LUMA).astype(np.float32), "scikit-image's chelsea"
    return test_image(48 if smoke else 160), "generated test image"


def build_model(seed):
    """conv(2 fixed 3x3) -> ReLU -> pool, conv(3 random 5x5) -> ReLU -> pool, conv(1 random 7x7) -> ReLU -> pool."""
    rng = np.random.default_rng(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.MaxPool2d(2, stride=2),
        nn.Conv2d(2, 3, 5, bias=False, rng=rng), nn.ReLU(), nn.MaxPool2d(2, stride=2),
        nn.Conv2d(3, 1, 7, bias=False, rng=rng), nn.ReLU(), nn.MaxPool2d(2, stride=2),
    )
    model[0].weight.data[0, 0] = VERTICAL
    model[0].weight.data[1, 0] = HORIZONTAL
    return model.eval()


STAGE_NAMES = [
    "conv 3x3 (fixed)", "ReLU", "max pool 2x2",
    "conv 5x5 (random)", "ReLU", "max pool 2x2",
    "conv 7x7 (random)", "ReLU", "max pool 2x2",
]


def run_stages(model, img):
    """The input and every layer's output for one image: [(name, array (C, H, W))]."""
    x = img[None, None]
    stages = [("input", x[0])]
    for name, layer in zip(STAGE_NAMES, model):
        x = layer(x)
        stages.append((name, x[0]))
    return stages


def report(stages):
    print(f"{'stage':<20} {'shape (C, H, W)':<18} {'min':>8} {'max':>8} {'zeros':>6}")
    for name, a in stages:
        zeros = f"{np.mean(a == 0):.0%}"
        print(f"{name:<20} {str(a.shape):<18} {a.min():8.3f} {a.max():8.3f} {zeros:>6}")
    conv1 = stages[1][1]
    for c, label in enumerate(("vertical", "horizontal")):
        m = conv1[c]
        i, j = np.unravel_index(np.argmax(m), m.shape)
        print(f"{label}-edge map: max {m.max():.3f} at (row {i}, column {j}), min {m.min():.3f}")


def _display(m, is_input):
    """imshow arguments: grey for the photo; signed maps red (+) / blue (-) around 0; others black to yellow.

    The colour scale stops at the 99.5th percentile so a few very strong pixels do not make
    the rest of the map look black.
    """
    if is_input:
        return {"cmap": "gray"}
    top = float(np.percentile(np.abs(m), 99.5)) or float(np.abs(m).max()) or 1.0
    if m.min() < 0:
        return {"cmap": "RdBu_r", "vmin": -top, "vmax": top}
    return {"cmap": "magma", "vmin": 0, "vmax": top}


def plot(stages, title, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(a.shape[0] for _, a in stages)
    cols = len(stages)
    h, w = stages[0][1].shape[1:]
    cell = 2.0
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell, rows * cell * h / w + 0.7), squeeze=False)
    for c, (name, a) in enumerate(stages):
        for r in range(rows):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if r >= a.shape[0]:
                ax.axis("off")
                continue
            ax.imshow(a[r], **_display(a[r], c == 0))
            if r == 0:
                ax.set_title(f"{name}\n{a.shape[1]}x{a.shape[2]}", fontsize=8)
            if c == 1:
                ax.set_ylabel(("vertical edges", "horizontal edges")[r], fontsize=8)
    fig.suptitle(f"Every stage of a 3-block CNN on {title}: one column per stage, one row per channel"
                 " (conv outputs: red positive, blue negative)", fontsize=10)
    fig.tight_layout()
    save_png(fig, path, dpi=60)
    plt.close(fig)


def save_png(fig, path, dpi):
    """Save ``fig`` as a PNG with a 256-colour palette when Pillow is there (a third of the size)."""
    try:
        from PIL import Image
    except ImportError:
        fig.savefig(path, dpi=dpi)
        return
    import io

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    buf.seek(0)
    with Image.open(buf) as im:
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", type=Path, help="a photo to use instead of the cat (any format Pillow reads)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random 5x5 and 7x7 filters")
    parser.add_argument("--out", type=Path, default=FIGURES, help="folder for the figure")
    parser.add_argument("--smoke", action="store_true", help="a tiny generated image, for tests")
    args = parser.parse_args(argv)

    img, title = load_photo(args.image, args.smoke)
    print(f"image: {title}, {img.shape[0]}x{img.shape[1]} grayscale")
    if min(img.shape) < MIN_SIZE:
        parser.error(f"the image is {img.shape[0]}x{img.shape[1]}: the three blocks need at least {MIN_SIZE}x{MIN_SIZE} pixels")
    model = build_model(args.seed)
    stages = run_stages(model, img)
    report(stages)
    if title == "generated test image":
        r = square_edge_responses(stages[1][1], img.shape[0])
        print(f"edge responses across the square's sides (expected +-3 * ({BRIGHT} - {DARK}) = +-2.1):"
              f" left {r['left']:+.3f}, right {r['right']:+.3f}, top {r['top']:+.3f}, bottom {r['bottom']:+.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "edge_filters.png"
    plot(stages, title, path)
    print(f"figure written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
