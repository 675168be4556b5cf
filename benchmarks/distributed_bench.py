"""LeNet-5 training throughput: K MPI processes of one thread each against one process of K threads.

    python benchmarks/distributed_bench.py                       # K = 2, 3 rounds, MNIST (or the sample)
    python benchmarks/distributed_bench.py --train-images 20000 --rounds 5
    python benchmarks/distributed_bench.py --quick               # tiny: checks that it runs, no figures

Both run the loop of ``fit(..., distributed=True)`` on the same data and weights: LeNet-5, Adam
(lr 1e-3), global batch 64, one shuffled epoch after 3 warm-up steps. The distributed one is
``mpiexec -n K python distributed_bench.py --worker`` with one BLAS thread per process (each
computes 64 / K samples of every batch, then the gradients are averaged with one Allreduce);
the other is one process with K BLAS threads, and the same code on a world of one process
(nothing exchanged); one process of one thread is the baseline. They alternate over the
rounds, the order reversed each round.

Per configuration it prints images/s (the median over rounds) and, per step, the time spent in
each part of the loop: forward and loss, the metrics' allreduce (3 numbers), backward, the
gradients' allreduce, the optimizer. An allreduce waits for the slower process, so its time is
communication plus waiting; the worker then times 50 more gradient allreduces right after a
barrier (the fastest of them: the communication alone). Writes distributed.json to --out.
Needs mpi4py and mpiexec (``pip install 'convnp[mpi]'``); the single-process row runs without.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "mnist"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
PHASES = ("forward", "metrics", "backward", "allreduce", "optimizer")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--processes", type=int, default=2, help="K: processes of one thread vs one process of K threads")
    p.add_argument("--rounds", type=int, default=None, help="runs of each configuration, alternating (default 3)")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA) if DEFAULT_DATA.is_dir() else "sample",
                   help="MNIST IDX folder, or 'sample' for the bundled subset (default: %(default)s)")
    p.add_argument("--train-images", type=int, default=None, help="epoch size (default: the whole training set)")
    p.add_argument("--mpiexec", default=shutil.which("mpiexec", path=str(Path(sys.executable).parent))
                   or shutil.which("mpiexec"), help="the launcher (default: the one beside this Python)")
    p.add_argument("--quick", action="store_true", help="256 images, one round: checks that it runs")
    p.add_argument("--out", default=str(HERE / "results"), help="folder for distributed.json")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.rounds = a.rounds or (1 if a.quick else 3)
    if a.quick:
        a.train_images = a.train_images or 256
    if a.processes < 2 or a.rounds < 1:
        p.error(f"--processes must be >= 2 and --rounds >= 1, got {a.processes} and {a.rounds}")
    return a


# -- the parent: launches the workers, alternating ------------------------------------------------
def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(json.loads(args.worker))
    if args.mpiexec is None:
        sys.exit("distributed_bench: no mpiexec found; pip install 'convnp[mpi]' (mpi4py and the mpich wheel)")
    k = args.processes
    spec = {"data_dir": args.data_dir, "images": args.train_images, "batch": 64, "warmup": 3, "comm_steps": 50}
    configs = {f"{k} processes x 1 thread": (k, 1), f"1 process x {k} threads": (1, k), "1 process x 1 thread": (1, 1)}
    runs = {name: [] for name in configs}
    print(f"LeNet-5 training, global batch 64, Adam; data {args.data_dir}; load average {os.getloadavg()[0]:.1f}")
    for r in range(args.rounds):
        for name in (list(configs) if r % 2 == 0 else list(configs)[::-1]):   # a busy spell falls on all
            result = launch(args, *configs[name], spec)
            runs[name].append(result)
            print(f"  round {r + 1} {name}: {result['images_per_s']:,.0f} images/s", flush=True)
    rows = [summarise(name, results) for name, results in runs.items()]
    print_table(rows, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "distributed.json").write_text(json.dumps(
        {"settings": {k: v for k, v in vars(args).items() if k != "worker"}, "spec": spec, "rows": rows,
         "runs": runs, "loadavg_end": os.getloadavg()}, indent=1))
    return 0


def launch(args, processes, threads, spec):
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARIABLES})
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent / "src"), env.get("PYTHONPATH", "")])
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(dict(spec, threads=threads))]
    if processes > 1:
        command = [args.mpiexec, "-n", str(processes)] + command
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        sys.exit(f"distributed_bench: a worker failed ({' '.join(command[:4])} ...):\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(name, results):
    median = statistics.median
    ms = {phase: median([r["ms_per_step"][phase] for r in results]) for phase in PHASES}
    step = median([r["step_ms"] for r in results])
    return {"configuration": name, "images_per_s": median([r["images_per_s"] for r in results]),
            "rounds": [r["images_per_s"] for r in results], "step_ms": step, "ms_per_step": ms,
            "allreduce_share": (ms["allreduce"] + ms["metrics"]) / step,
            "allreduce_alone_ms": [min(r["allreduce_alone_ms"][0] for r in results),
                                   median([r["allreduce_alone_ms"][1] for r in results])],
            "cpu_per_wall": median([r["cpu_per_wall"] for r in results])}


def print_table(rows, args):
    print(f"\n| configuration | images/s | ms/step | forward | backward | optimizer | allreduce: gradients + metrics"
          f" (share of a step) | gradient allreduce alone: fastest, median |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for row in rows:
        ms, alone = row["ms_per_step"], row["allreduce_alone_ms"]
        print(f"| {row['configuration']} | {row['images_per_s']:,.0f} | {row['step_ms']:.2f} | {ms['forward']:.2f} |"
              f" {ms['backward']:.2f} | {ms['optimizer']:.2f} | {ms['allreduce']:.3f} + {ms['metrics']:.3f}"
              f" ({100 * row['allreduce_share']:.1f}%) | {alone[0]:.3f}, {alone[1]:.3f} ms |")
    print(f"\nratio ({rows[0]['configuration']}) / ({rows[1]['configuration']}):"
          f" {rows[0]['images_per_s'] / rows[1]['images_per_s']:.2f}  (per-round images/s: "
          + "; ".join(f"{r['configuration']}: {', '.join(f'{v:,.0f}' for v in r['rounds'])}" for r in rows) + ")")


# -- a worker: one configuration, one epoch ------------------------------------------------------
def worker(spec):
    """Train one epoch as fit(distributed=True) does, timing each part; rank 0 prints the JSON."""
    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(spec["threads"])
    except ImportError:
        pass   # the environment variables set by the parent apply
    from convnp import data, distributed, models, nn, optim
    from convnp.distributed.training import batch_totals

    world = distributed.init()
    train = data.mnist_sample(train=True) if spec["data_dir"] == "sample" else data.mnist(spec["data_dir"], train=True)
    n = len(train) if spec["images"] is None else min(spec["images"], len(train))
    loader = distributed.DistributedLoader(
        data.DataLoader((train.images[:n], train.labels[:n]), batch_size=spec["batch"], shuffle=True, rng=0), world)
    model = models.lenet5(rng=0)
    distributed.broadcast_parameters(model, world=world)
    opt, loss = optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss()
    clock = {phase: 0.0 for phase in PHASES}

    def step(x, y):
        t = [time.perf_counter()]
        opt.zero_grad()
        value = loss(model(x), y)
        t.append(time.perf_counter())
        if world.size > 1:
            batch_totals(world, value, 0, len(y))
        t.append(time.perf_counter())
        model.backward(loss.backward(), input_grad=False)
        t.append(time.perf_counter())
        distributed.allreduce_gradients(model, world)
        t.append(time.perf_counter())
        opt.step()
        t.append(time.perf_counter())
        for phase, a, b in zip(PHASES, t, t[1:]):
            clock[phase] += b - a

    warm = iter(loader)
    for _ in range(spec["warmup"]):
        step(*next(warm))
    clock.update({phase: 0.0 for phase in PHASES})
    barrier(world)
    cpu0, t0 = time.process_time(), time.perf_counter()
    steps = 0
    for x, y in loader:   # a fresh shuffle: the whole epoch, batch conversion included
        step(x, y)
        steps += 1
    barrier(world)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    alone = comm_alone(model, world, spec["comm_steps"])
    if world.rank == 0:
        print(json.dumps({"images_per_s": n / seconds, "epoch_s": seconds, "steps": steps, "processes": world.size,
                          "step_ms": 1e3 * seconds / steps,
                          "ms_per_step": {p: 1e3 * v / steps for p, v in clock.items()},
                          "allreduce_alone_ms": alone, "cpu_per_wall": cpu / seconds}))
    return 0


def barrier(world):
    if world.size > 1:
        world.comm.Barrier()


def comm_alone(model, world, count):
    """[fastest, median] ms of a gradient allreduce started right after a barrier: the communication
    without waiting (on a busy machine a process can still lose its core in between: the fastest
    call is then the figure to read)."""
    from convnp import distributed

    if world.size == 1:
        return [0.0, 0.0]
    times = []
    for _ in range(count):
        barrier(world)
        t = time.perf_counter()
        distributed.allreduce_gradients(model, world)
        times.append(time.perf_counter() - t)
    return [1e3 * min(times), 1e3 * statistics.median(times)]


if __name__ == "__main__":
    sys.exit(main())
