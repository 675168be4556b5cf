"""Winograd F(2x2, 3x3) against convnp's im2col convolution: is it worth a second algorithm?

    python benchmarks/winograd_bench.py               # the conv workloads and vgg_small's layers, 1 thread
    python benchmarks/winograd_bench.py --rounds 7

Lavin & Gray (2016): a 3x3 stride-1 convolution computed on 4x4 input tiles that overlap by 2,
each giving a 2x2 output tile, with 16 multiplications per tile and channel pair where direct
(and im2col) needs 36: 2.25x fewer. With G (4x3), B^T (4x4), A^T (2x4) the small constant
matrices below, per tile d (4x4) of one input channel and kernel g (3x3):
    U = G g G^T,   V = B^T d B,   M = sum over c of U (.) V,   y_tile = A^T M A
In NumPy the 16 positions (xi, nu) of the 4x4 transform domain become a batch: U is
(16, F, C), V is (16, C, tiles) and M is 16 matrix products (16, F, C) @ (16, C, tiles). The
transforms are matrix products with the 16x16 matrix kron(B^T, B^T) (and kron(A^T, A^T)),
which NumPy runs as GEMMs, the cheapest way to apply them in NumPy.

The prototype here is the forward pass; it is checked against convnp.functional.conv2d_forward
and timed against it (both on one thread, in alternating rounds). The measurement decides
whether convnp uses it: see the README's Performance section for the figures.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from convnp import functional as F, parallel  # noqa: E402

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)

# (label, batch, C, F, size): the benchmark's two conv layers and vgg_small's six (batch 64).
LAYERS = [("conv workload 1", 32, 16, 32, 28), ("conv workload 2", 64, 64, 64, 32),
          ("vgg_small conv1", 64, 3, 32, 32), ("vgg_small conv2", 64, 32, 32, 32),
          ("vgg_small conv3", 64, 32, 64, 16), ("vgg_small conv4", 64, 64, 64, 16),
          ("vgg_small conv5", 64, 64, 128, 8), ("vgg_small conv6", 64, 128, 128, 8)]


def winograd_weights(weight):
    """U = G g G^T per (f, c), as (16, F, C): the 16 transform-domain positions first."""
    f, c = weight.shape[:2]
    u = np.einsum("ip,fcpq,jq->ijfc", G, weight.astype(np.float64), G)
    return np.ascontiguousarray(u.reshape(16, f, c).astype(weight.dtype))


def winograd_conv3x3(x, u, bias=None):
    """y = conv2d(x, W, padding=1) for a 3x3 kernel, stride 1, by Winograd F(2x2, 3x3); u = winograd_weights(W)."""
    n, c, h, w = x.shape
    f = u.shape[1]
    th, tw = (h + 1) // 2, (w + 1) // 2              # output tiles per axis
    xp = np.zeros((c, n, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)  # padding 1, and to whole tiles
    xp[:, :, 1:h + 1, 1:w + 1] = x.transpose(1, 0, 2, 3)
    # d[i, j, c, n, ty, tx] = x_pad[c, n, 2*ty + i, 2*tx + j]: 16 strided copies (im2col copies 9 full ones)
    d = np.empty((4, 4, c, n, th, tw), dtype=x.dtype)
    for i in range(4):
        for j in range(4):
            d[i, j] = xp[:, :, i:i + 2 * th:2, j:j + 2 * tw:2]
    bb = np.kron(B_T, B_T).astype(x.dtype)          # V = B^T d B for every tile: one (16, 16) GEMM
    v = (bb @ d.reshape(16, -1)).reshape(16, c, n * th * tw)
    m = np.matmul(u, v)                             # (16, F, C) @ (16, C, tiles): 2.25x fewer flops
    aa = np.kron(A_T, A_T).astype(x.dtype)          # y_tile = A^T M A: one (4, 16) GEMM
    yt = (aa @ m.reshape(16, -1)).reshape(2, 2, f, n, th, tw)
    y = np.empty((n, f, 2 * th, 2 * tw), dtype=x.dtype)
    yv = y.transpose(1, 0, 2, 3)
    for i in range(2):
        for j in range(2):
            yv[:, :, i::2, j::2] = yt[i, j]
    y = y[:, :, :h, :w]
    return y if bias is None else y + bias.reshape(-1, 1, 1)


def best_of(fn, seconds):
    fn()
    times, end = [], time.perf_counter() + seconds
    while len(times) < 3 or time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=0.5, help="per measurement")
    a = p.parse_args(argv)
    parallel.set_num_threads(1)
    print(f"{'layer':18s} {'shape':26s} {'im2col ms':>10s} {'winograd ms':>12s} {'im2col/winograd':>16s}  max rel. error")
    for label, n, c, f, size in LAYERS:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c, size, size), dtype=np.float32)
        weight = rng.standard_normal((f, c, 3, 3), dtype=np.float32) / np.float32(np.sqrt(9 * c))
        u = winograd_weights(weight)
        workspace = {}
        ref = F.conv2d_forward(x, weight, padding=1, workspace=workspace)[0]
        err = float(np.abs(winograd_conv3x3(x, u) - ref).max() / np.abs(ref).max())
        im2col, wino = [], []
        for r in range(a.rounds):
            pair = [(im2col, lambda: F.conv2d_forward(x, weight, padding=1, workspace=workspace)),
                    (wino, lambda: winograd_conv3x3(x, u))]
            for out, fn in (pair if r % 2 == 0 else pair[::-1]):
                out.append(best_of(fn, a.seconds)[0])
        t_i, t_w = np.median(im2col), np.median(wino)
        print(f"{label:18s} {f'{n}x{c}->{f}, {size}x{size}':26s} {1e3 * t_i:10.2f} {1e3 * t_w:12.2f} {t_i / t_w:16.2f}  {err:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
