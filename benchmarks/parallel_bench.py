"""Where splitting an op over threads starts to pay: convnp.parallel.MIN_SHARD_ELEMENTS.

    python benchmarks/parallel_bench.py              # ReLU, batch norm and max pooling, 1 vs 2 threads
    python benchmarks/parallel_bench.py --threads 4 --rounds 7

For arrays of 2**12 to 2**21 float32 elements, each op runs in one piece on one thread and
split over --threads threads (the threshold switched off), in alternating rounds; the table
gives the best time of each and their ratio. Below the crossover (ratio < 1) a pool thread's
hand-off costs more than the shard saves. Measure on a quiet machine: on a busy one a shard
that waits for a core makes the split look worse than it is.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from convnp import functional as F, parallel  # noqa: E402


def ops(x):
    """name -> a call of one op on x (N, 16, H, W)."""
    c = x.shape[1]
    w, b = np.ones(c, x.dtype), np.zeros(c, x.dtype)
    mean, var = np.zeros(c, x.dtype), np.ones(c, x.dtype)
    return {"relu": lambda: F.relu_forward(x),
            "batch_norm": lambda: F.batch_norm_forward(x, mean, var, w, b, training=True),
            "max_pool 2x2": lambda: F.max_pool2d_forward(x, 2)}


def best(fn, seconds):
    fn()
    times, end = [], time.perf_counter() + seconds
    while len(times) < 5 or time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=0.2, help="per measurement")
    a = p.parse_args(argv)
    default = parallel.MIN_SHARD_ELEMENTS
    print(f"MIN_SHARD_ELEMENTS = {default} (2**{default.bit_length() - 1}); ratio = one piece / split (> 1: split faster)")
    print(f"{'op':14s} {'elements':>10s} {'1 thread us':>12s} {f'{a.threads} threads us':>13s} {'ratio':>6s}")
    for name in ops(np.zeros((2, 16, 2, 2), np.float32)):
        for log2 in range(12, 22, 2):
            n = 8
            side = int(np.sqrt((1 << log2) // (n * 16)))
            x = np.random.default_rng(0).standard_normal((n, 16, side, side), dtype=np.float32)
            fn = ops(x)[name]
            one, split = [], []
            for r in range(a.rounds):
                for out, threads in ((one, 1), (split, a.threads))[:: 1 if r % 2 == 0 else -1]:
                    parallel.set_num_threads(threads)
                    parallel.MIN_SHARD_ELEMENTS = 1
                    out.append(best(fn, a.seconds))
            parallel.MIN_SHARD_ELEMENTS = default
            t1, tn = np.median(one), np.median(split)
            print(f"{name:14s} {x.size:10d} {1e6 * t1:12.1f} {1e6 * tn:13.1f} {t1 / tn:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
