"""Time Conv2d forward + backward in convnp and in PyTorch (when installed), float32 on the CPU.

    python benchmarks/conv_bench.py                      # batch 32, 16 -> 32 channels, 28x28, 3x3, padding 1
    python benchmarks/conv_bench.py --threads 1 --rounds 5
    python benchmarks/conv_bench.py --profile            # cProfile of convnp's forward + backward

Each framework runs in its OWN subprocess (this script re-invokes itself with --framework), so
neither sees the other's thread pools or memory allocator. Both get the same thread count,
set explicitly: environment variables before import, then threadpoolctl for NumPy's BLAS and
torch.set_num_threads for PyTorch. Each subprocess warms up, then times --repeats calls of
forward + backward (input, weight and bias gradients). The frameworks alternate over --rounds
rounds (order flipped every round) so that a slow spell of a shared machine hits both; the
figure reported is the median over all timed calls (and, for reference, the fastest call).

FLOPs counted: forward 2*N*F*OH*OW*(C/groups)*KH*KW (multiply-adds of the GEMM); backward
twice that (one GEMM for the weight gradient, one for the input gradient).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

FRAMEWORKS = ("convnp", "torch")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--in-channels", type=int, default=16)
    p.add_argument("--out-channels", type=int, default=32)
    p.add_argument("--size", type=int, default=28, help="input height and width")
    p.add_argument("--kernel", type=int, default=3)
    p.add_argument("--padding", type=int, default=1)
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count(), help="threads for BLAS / PyTorch, the same for both (default: all cores)")
    p.add_argument("--rounds", type=int, default=3, help="subprocess runs per framework, alternating")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per subprocess")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls before timing")
    p.add_argument("--profile", action="store_true", help="cProfile convnp instead of timing")
    p.add_argument("--framework", choices=FRAMEWORKS, help=argparse.SUPPRESS)  # set in the subprocess
    return p.parse_args(argv)


def out_size(a):
    return (a.size + 2 * a.padding - a.kernel) // a.stride + 1


def flops(a):
    out = out_size(a)
    forward = 2 * a.batch * a.out_channels * out * out * a.in_channels * a.kernel * a.kernel
    return 3 * forward


def thread_env(threads):
    """Environment with every common thread-count variable set, read by the libraries at import."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        env[name] = str(threads)
    return env


# -- inside a subprocess: one framework --------------------------------------------------------


def data(a):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.batch, a.in_channels, a.size, a.size)).astype(np.float32)
    dy = rng.standard_normal((a.batch, a.out_channels, out_size(a), out_size(a))).astype(np.float32)
    return x, dy


def convnp_step(a):
    from convnp import nn

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pip install threadpoolctl (the [bench] extra); the env variables still apply
        print("threadpoolctl not installed: BLAS threads set by environment variables only", file=sys.stderr)
    else:
        threadpool_limits(a.threads)  # NumPy's BLAS pool, whatever the environment said
    layer = nn.Conv2d(a.in_channels, a.out_channels, a.kernel, stride=a.stride, padding=a.padding, rng=0)
    x, dy = data(a)

    def step():
        layer(x)
        layer.backward(dy)

    return step


def torch_step(a):
    import torch

    torch.set_num_threads(a.threads)
    conv = torch.nn.Conv2d(a.in_channels, a.out_channels, a.kernel, stride=a.stride, padding=a.padding)
    x, dy = (torch.from_numpy(v) for v in data(a))
    x.requires_grad_(True)  # convnp always computes dx, so PyTorch must too

    def step():
        conv(x).backward(dy)

    return step


def run_framework(a):
    """Warm up, time ``repeats`` steps, print the times (seconds) as one JSON line."""
    step = convnp_step(a) if a.framework == "convnp" else torch_step(a)
    for _ in range(a.warmup):
        step()
    if a.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(lambda: [step() for _ in range(a.repeats)])
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"times": times, "info": framework_info(a.framework)}))


def framework_info(name):
    if name == "torch":
        import torch

        return f"torch {torch.__version__}, {torch.get_num_threads()} threads, mkldnn={torch.backends.mkldnn.is_available()}"
    import numpy as np

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"numpy {np.__version__}"
    blas = [f"{p['internal_api']} {p['version']} ({p['num_threads']} threads)" for p in threadpool_info()]
    return f"numpy {np.__version__}, " + ", ".join(blas)


# -- the parent: alternate subprocesses, report ---------------------------------------------------


def torch_available():
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def run_child(a, name):
    argv = [sys.executable, os.path.abspath(__file__), "--framework", name] + [
        f"--{k.replace('_', '-')}={v}" for k, v in vars(a).items() if k not in ("framework", "profile")
    ] + (["--profile"] if a.profile else [])
    done = subprocess.run(argv, env=thread_env(a.threads), capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{name} subprocess failed:\n{done.stderr}")
    if done.stderr.strip():
        print(done.stderr, file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    a = parse_args(argv)
    if a.framework:
        run_framework(a)
        return 0
    names = ["convnp"] + (["torch"] if torch_available() and not a.profile else [])
    if a.profile:
        a.rounds = 1
    gflop = flops(a) / 1e9
    print(f"Conv2d({a.in_channels}, {a.out_channels}, kernel_size={a.kernel}, stride={a.stride},"
          f" padding={a.padding}), input ({a.batch}, {a.in_channels}, {a.size}, {a.size}) float32,"
          f" forward + backward = {gflop:.3f} GFLOP; {a.threads} thread(s),"
          f" {a.rounds} rounds x {a.repeats} repeats")
    times = {name: [] for name in names}
    for r in range(a.rounds):
        order = names if r % 2 == 0 else names[::-1]  # alternate who goes first
        for name in order:
            result = run_child(a, name)
            times[name] += result["times"]
            round_ms = 1e3 * statistics.median(result["times"])
            print(f"  round {r + 1} {name:7s} median {round_ms:8.2f} ms   ({result['info']})")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, med in medians.items():
        # the fastest call too: on a shared machine it shows what the code can do unloaded
        print(f"{name:7s} median {1e3 * med:8.2f} ms   {gflop / med:7.1f} GFLOP/s"
              f"   (fastest call {1e3 * min(times[name]):.2f} ms)")
    if "torch" in medians:
        print(f"ratio convnp / PyTorch = {medians['convnp'] / medians['torch']:.2f}  (< 1: convnp faster)")
    else:
        print("PyTorch not installed: convnp figures only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
