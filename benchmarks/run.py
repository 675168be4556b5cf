"""convnp against PyTorch and the BLAS ceiling on this CPU: the benchmark suite of issue 4.

    python benchmarks/run.py                          # every workload, 3 rounds, all cores
    python benchmarks/run.py --workloads conv,gemm --rounds 5 --threads 1
    python benchmarks/run.py --quick                  # tiny sizes: checks that it runs, no figures
    python benchmarks/run.py --no-torch               # convnp and the NumPy GEMM ceiling only

Workloads (--workloads, comma-separated; default all): conv, gemm, lenet5-train, vgg-train,
lenet5-infer, memory, scaling (vgg_small training on --threads against 1 thread). Each framework runs in its own subprocess (benchmarks/_worker.py, one per
workload and framework and round; one per memory case, since peak RSS belongs to a whole
process), and the two alternate over --rounds rounds, the order flipped every round, so that a
busy spell on a shared machine falls on both. Both get the same thread count, set in the
environment before import and again with threadpoolctl and torch.set_num_threads.

Prints a table of medians and the ratio convnp / PyTorch, and writes results.json (figures,
every raw time, the machine and both frameworks' builds), results.md (the table) and
results.png (the chart, if matplotlib is installed) to --out. How to read them:
benchmarks/README.md.
"""
import argparse
import datetime
import functools
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import report
import workloads

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKER = HERE / "_worker.py"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "CONVNP_NUM_THREADS")
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")  # the SIMD the BLAS kernels and oneDNN pick from


class WorkerError(RuntimeError):
    """A worker process failed, timed out or printed no result."""


def usable_cpus():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See benchmarks/README.md for how to read the figures.")
    p.add_argument("--workloads", default="all",
                   help=f"comma-separated, from: {', '.join(workloads.WORKLOADS)} (default: all)")
    p.add_argument("--rounds", type=int, help="processes per framework and workload, alternating (default 3; --quick 1)")
    p.add_argument("--threads", type=int, default=usable_cpus(),
                   help="threads for NumPy's BLAS and for PyTorch, the same for both (default: all cores, %(default)s)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one round: checks that every workload runs")
    p.add_argument("--no-torch", action="store_true", help="convnp and the NumPy GEMM ceiling only")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA) if DEFAULT_DATA.is_dir() else "sample",
                   help="folder with the MNIST IDX files, or 'sample' for the bundled subset (default: %(default)s)")
    p.add_argument("--train-images", type=int,
                   help="LeNet-5 epoch size (default: the whole training set; --quick 256)")
    p.add_argument("--seconds", type=float, help="time budget of each timed measurement (default 2; --quick 0.05)")
    p.add_argument("--out", default=str(HERE / "results"), help="folder for results.json/.md/.png (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds before a worker process is killed")
    a = p.parse_args(argv)
    names = list(workloads.WORKLOADS) if a.workloads == "all" else [w.strip() for w in a.workloads.split(",") if w.strip()]
    unknown = [w for w in names if w not in workloads.WORKLOADS]
    if unknown or not names:
        p.error(f"--workloads: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(workloads.WORKLOADS)}")
    a.workloads = names
    a.rounds = a.rounds if a.rounds is not None else (1 if a.quick else 3)
    a.seconds = a.seconds if a.seconds is not None else (0.05 if a.quick else 2.0)
    for name in ("rounds", "threads", "seconds", "train_images"):
        value = getattr(a, name)
        if value is not None and value <= 0:
            p.error(f"--{name.replace('_', '-')} must be > 0, got {value}")
    if a.data_dir != "sample" and not Path(a.data_dir).is_dir():
        p.error(f"--data-dir: no folder {a.data_dir} (give the folder of the MNIST IDX files, or 'sample')")
    return a


# -- the machine ------------------------------------------------------------------------------------


def machine_info():
    """CPU model, vendor and SIMD flags, core counts, memory, OS and Python, the load when the run started."""
    cpu, cores, vendor, flags = platform.processor() or None, set(), None, set()
    try:
        entry = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines() + [""]:
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "model name":
                cpu = value
            elif key == "vendor_id":
                vendor = value
            elif key == "flags":
                flags = set(value.split())
            if key:
                entry[key] = value
            elif entry:  # a blank line ends one logical CPU's entry
                cores.add((entry.get("physical id"), entry.get("core id")))
                entry = {}
    except OSError:  # not Linux
        pass
    return {"cpu_model": cpu, "cpu_vendor": vendor,
            "cpu_flags": {flag: flag in flags for flag in CPU_FLAGS} if flags else None,
            "logical_cpus": os.cpu_count(), "usable_cpus": usable_cpus(),
            "physical_cores": len(cores) if cores and (None, None) not in cores else None,
            "memory_gb": _memory_gb(), "platform": platform.platform(), "python": platform.python_version(),
            "loadavg_start": _loadavg()}


def _memory_gb():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _loadavg():
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


# -- running workers ---------------------------------------------------------------------------------


def worker_env(threads):
    """The environment of a worker: every common thread-count variable set, and convnp importable."""
    env = dict(os.environ, **{name: str(threads) for name in THREAD_VARIABLES})
    if importlib.util.find_spec("convnp") is None:  # a checkout that was never pip-installed
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    return env


def subprocess_runner(spec, timeout):
    """Run one worker process on ``spec`` and return its JSON record."""
    try:
        done = subprocess.run([sys.executable, str(WORKER), json.dumps(spec)], env=worker_env(spec["threads"]),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise WorkerError(f"{spec['framework']} worker timed out after {timeout:.0f} s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise WorkerError(f"{spec['framework']} worker exited with code {done.returncode}:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def torch_installed():
    return importlib.util.find_spec("torch") is not None


def run_rounds(a, cases, frameworks, runner):
    """Alternate the frameworks over the rounds; return (raw figures, framework info, errors)."""
    raw, info, errors = {}, {}, []
    for r in range(a.rounds):
        for group, group_cases in workloads.groups(cases):
            for fw in frameworks if r % 2 == 0 else frameworks[::-1]:
                spec = {"framework": fw, "threads": group_cases[0].get("threads") or a.threads,
                        "seconds": a.seconds, "data_dir": a.data_dir, "cases": group_cases}
                start = time.perf_counter()
                try:
                    record = runner(spec)
                except WorkerError as e:
                    errors.append({"round": r + 1, "group": group, "framework": fw, "error": str(e)})
                    print(f"  round {r + 1} {group:14s} {fw:7s} FAILED: {e}", file=sys.stderr)
                    continue
                info.setdefault(fw, record["info"])
                for case_id, result in record["results"].items():
                    result["loadavg"] = record.get("loadavg")  # the machine's load as the worker ended
                    raw.setdefault(case_id, {}).setdefault(fw, []).append(result)
                for case_id, tb in record["errors"].items():
                    errors.append({"round": r + 1, "case": case_id, "framework": fw, "error": tb})
                    print(f"  round {r + 1} {case_id} {fw} FAILED:\n{tb}", file=sys.stderr)
                print(f"  round {r + 1}/{a.rounds} {group:14s} {fw:7s} {time.perf_counter() - start:6.1f} s  "
                      + progress(group_cases, record), flush=True)
    return raw, info, errors


def progress(cases, record):
    parts = []
    for case in cases:
        result = record["results"].get(case["id"])
        if result is not None:
            unit = "images/s" if "baseline" in case else case["metric"].split()[0]  # a scaling row's parts
            parts.append(f"{case['id']} {report.number(result['value'])} {unit}")
    return ", ".join(parts)


# -- main --------------------------------------------------------------------------------------------


def main(argv=None, runner=None):
    """Run the suite; ``runner(spec) -> record`` replaces the worker subprocess (the smoke test's hook)."""
    a = parse_args(argv)
    runner = runner or functools.partial(subprocess_runner, timeout=a.timeout)
    frameworks = ["convnp"]
    if not a.no_torch and torch_installed():
        frameworks.append("torch")
    cases = workloads.make_cases(a.workloads, quick=a.quick, train_images=a.train_images)
    machine = machine_info()
    data = "bundled MNIST sample" if a.data_dir == "sample" else a.data_dir
    print(f"convnp benchmarks: {', '.join(a.workloads)}; {a.threads} thread(s), {a.rounds} round(s),"
          f" {a.seconds:g} s per timed measurement{', QUICK sizes' if a.quick else ''}; data: {data}")
    flags = ", ".join(f for f, on in (machine["cpu_flags"] or {}).items() if on) or "unknown"
    print(f"machine: {machine['cpu_model']}, {machine['usable_cpus']} usable CPUs ({flags}),"
          f" load {machine['loadavg_start']}")
    load = machine["loadavg_start"]
    if load and load[0] > machine["usable_cpus"] - 0.5 * a.threads:
        print(f"WARNING: load average {load[0]:.1f} on {machine['usable_cpus']} CPUs: other processes compete for"
              f" the cores and the figures will be noisy (fewer --threads suffer less; see benchmarks/README.md)")
    if "torch" not in frameworks:
        print("PyTorch " + ("left out (--no-torch)" if a.no_torch else "not installed") +
              ": convnp's figures and the NumPy GEMM ceiling only")
    raw, info, errors = run_rounds(a, cases, frameworks, runner)
    machine["loadavg_end"] = _loadavg()
    machine["blas_kernel"] = blas_kernel(info)
    print(f"NumPy's BLAS: {machine['blas_kernel'] or 'unknown (threadpoolctl missing)'}")
    rows = report.summarize(cases, raw)
    print()
    print(report.text_table(rows))
    results = {
        "schema": 1,
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": [Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv)),
        "settings": {"workloads": a.workloads, "rounds": a.rounds, "threads": a.threads, "seconds": a.seconds,
                     "quick": a.quick, "data_dir": a.data_dir, "train_images": a.train_images,
                     "frameworks": frameworks, "thread_variables": list(THREAD_VARIABLES)},
        "machine": machine,
        "frameworks": info,
        "rows": rows,
        "raw": raw,
        "errors": errors,
    }
    write_outputs(a, results, rows)
    for row in rows:
        if row["losses_agree"] is False:
            print(f"WARNING {row['id']}: the frameworks' first losses differ: not the same model", file=sys.stderr)
    if errors:
        print(f"{len(errors)} measurement(s) failed: see 'errors' in the JSON", file=sys.stderr)
    return 1 if errors else 0


def blas_kernel(info):
    """The BLAS library and the kernel it chose for this CPU, as the convnp worker saw it (e.g.
    'openblas 0.3.31, Haswell kernel'); None without threadpoolctl or a convnp worker."""
    pools = info.get("convnp", {}).get("threadpools")
    if not isinstance(pools, list):
        return None
    blas = [f"{p['internal_api']} {p.get('version')}, {p.get('architecture')} kernel" for p in pools
            if p.get("user_api") == "blas"]
    return "; ".join(blas) or None


def write_outputs(a, results, rows):
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    m = results["machine"]
    load = f", load {m['loadavg_start'][0]:.1f}" if m["loadavg_start"] else ""
    title = (f"{m['cpu_model']} ({m.get('blas_kernel') or 'BLAS kernel unknown'}), {a.threads} thread(s){load},"
             f" {results['created']}{' (QUICK: not a measurement)' if a.quick else ''}")
    (out / "results.md").write_text(f"{title}\n\n{report.markdown_table(rows)}\n")
    png = report.chart(rows, out / "results.png", title)
    print(f"\nwrote {out / 'results.json'}, {out / 'results.md'}" + (f", {png}" if png else " (no chart: matplotlib missing or nothing to draw)"))


if __name__ == "__main__":
    sys.exit(main())
