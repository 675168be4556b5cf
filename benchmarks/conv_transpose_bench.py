"""Time ConvTranspose2d's forward both ways, col2im and by output phases, and show which one use_phases picks.

    CONVNP_NUM_THREADS=1 python benchmarks/conv_transpose_bench.py
    python benchmarks/conv_transpose_bench.py --repeats 20 --rounds 9

For each layer (batch, C_in -> C_out, size, kernel, stride, padding; float32) it prints the best
time per call of each path, old / phases (above 1: the phase path is faster), the ratio of
col2im's adds to the phase path's copies (conv_transpose_phases.use_phases) and the path the
rule picks. The first two rows are DCGAN's (models.dcgan_generator(ngf=16)) main.3 and main.6.
"""
import argparse
import contextlib
import time

import numpy as np

from convnp.functional import conv_transpose_phases as phases
from convnp.functional.conv_transpose import conv_transpose2d_forward, conv_transpose_output_size

LAYERS = [(32, 64, 32, 7, 4, 2, 1), (32, 32, 1, 14, 4, 2, 1), (32, 64, 32, 16, 4, 2, 1), (32, 128, 64, 8, 4, 2, 1),
          (16, 64, 3, 32, 4, 2, 1), (32, 64, 32, 7, 2, 2, 0), (32, 32, 16, 14, 2, 2, 0), (16, 32, 16, 8, 6, 3, 1),
          (8, 32, 16, 16, 8, 4, 2)]


@contextlib.contextmanager
def path(on):
    """Every forward inside takes the phase path (on=True) or the col2im path (on=False) where it can."""
    rule = phases.use_phases
    phases.use_phases = lambda *args: on
    try:
        yield
    finally:
        phases.use_phases = rule


def best_ms(fn, repeats, rounds):
    """The fastest of ``rounds`` means over ``repeats`` calls, in ms."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        times.append((time.perf_counter() - start) / repeats)
    return 1e3 * min(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'N, C_in -> C_out, size, K, S, P':34} {'col2im ms':>10} {'phases ms':>10} {'old/new':>8} "
          f"{'adds/copy':>9}  rule")
    for n, c_in, c_out, size, k, s, pad in LAYERS:
        x = rng.standard_normal((n, c_in, size, size)).astype(np.float32)
        w = rng.standard_normal((c_in, c_out, k, k)).astype(np.float32)
        times = []
        for on in (False, True):
            with path(on):
                times.append(best_ms(lambda: conv_transpose2d_forward(x, w, None, s, pad), args.repeats, args.rounds))
        out = conv_transpose_output_size(size, k, s, pad)
        plan = phases.phase_plan(x.shape, w.shape, (s, s), (pad, pad), (out, out), (1, 1))
        rows, cols = plan
        ratio = c_out * k * k * size * size / (c_in * rows.taps * cols.taps * rows.length * cols.length)
        rule = "phases" if phases.use_phases(plan, x.shape, w.shape, 1) else "col2im"
        name = f"{n}, {c_in} -> {c_out}, {size}, {k}, {s}, {pad}"
        print(f"{name:34} {times[0]:10.3f} {times[1]:10.3f} {times[0] / times[1]:8.2f} {ratio:9.2f}  {rule}")


if __name__ == "__main__":
    main()
