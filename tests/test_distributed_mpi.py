"""Data-parallel training on two processes, launched with the mpiexec that comes with mpi4py's MPI
(the mpich wheel of ``convnp[mpi]``): the checks of tests/mpi_checks.py, the command line, and
faults. Skipped, with the reason, where mpi4py or mpiexec is missing."""
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import convnp

HERE = Path(__file__).resolve().parent
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None,
                       reason="mpi4py is not installed (pip install 'convnp[mpi]')"),
    pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec found (the mpich wheel of 'convnp[mpi]' brings one)"),
]


def mpiexec(*args, n=2, timeout=300, cwd=None):
    """Run ``mpiexec -n n python ARGS``; returns (exit code, stdout, stderr, seconds)."""
    return launch([(n, args)], timeout, cwd)


def launch(programs, timeout=300, cwd=None):
    """Run ``mpiexec -n N1 python ARGS1 : -n N2 python ARGS2 ...`` for programs [(N1, ARGS1), ...].

    Each process gets one BLAS thread (two processes on a 2-core machine) and this convnp
    first on its path. On a timeout every process of the job is killed and the test fails.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(convnp.__file__).resolve().parents[1]), str(HERE),
                                         env.get("PYTHONPATH", "")])
    command = [MPIEXEC]
    for n, args in programs:
        command += ["-n", str(n), sys.executable, *map(str, args), ":"]
    start = time.monotonic()
    proc = subprocess.Popen(command[:-1], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"mpiexec did not finish within {timeout} s:\n{out[-3000:]}\n{err[-3000:]}")
    return proc.returncode, out, err, time.monotonic() - start


def test_checks_under_mpiexec():
    code, out, err, _ = mpiexec("-m", "pytest", "-q", "-p", "no:cacheprovider", HERE / "mpi_checks.py")
    assert code == 0, f"{out[-6000:]}\n{err[-3000:]}"
    assert out.count(" passed") == 2 and "failed" not in out     # both ranks ran every check


def test_a_launcher_of_another_mpi_is_refused():
    """Open MPI's mpiexec sets OMPI_COMM_WORLD_SIZE; an MPICH-built mpi4py then starts a world of one."""
    env = dict(os.environ, OMPI_COMM_WORLD_SIZE="2", OMPI_COMM_WORLD_RANK="0",
               PYTHONPATH=str(Path(convnp.__file__).resolve().parents[1]))
    for name in ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", "from convnp import distributed; distributed.init()"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode != 0
    assert ("RuntimeError: distributed.init: the launcher started 2 processes but MPI sees a world of 1:"
            " mpi4py's MPI library is not the launcher's") in done.stderr


def test_a_process_that_never_starts_ends_the_job(tmp_path):
    """Rank 1 exits before MPI starts; rank 0 gives up after init's timeout instead of waiting for ever."""
    script = tmp_path / "late.py"
    script.write_text("import os, sys\n"
                      "if os.environ.get('PMI_RANK') == '1':\n    sys.exit(0)\n"
                      "from convnp import distributed\ndistributed.init(timeout=2)\nprint('started')\n")
    code, out, err, seconds = mpiexec(script, timeout=60)
    assert code != 0 and "started" not in out and seconds < 30
    assert "convnp.distributed.init: rank 0 of 2 waited 2 s for the other processes of the MPI job to start" in err


@pytest.mark.parametrize("mode", ["raise", "exit"])
def test_a_rank_that_fails_in_step_3_ends_the_job(mode):
    """An exception: rank 1 says why and aborts; a process that dies: the launcher ends the others
    and exits with its code. Either way no rank finishes, and the job ends within seconds."""
    code, out, err, _ = mpiexec(HERE / "mpi_fault.py", mode, timeout=120)
    ended = time.time()
    assert code != 0 and "finished" not in out, f"{out}\n{err}"
    failed = float(re.search(r"failing at ([0-9.]+)", err).group(1))
    if mode == "raise":
        assert "fit: rank 1 of 2 failed: RuntimeError: boom in step 3; stopping all 2 processes" in err
        assert "Traceback" in err   # not one of the errors reported in one line: a bug, shown with its traceback
    else:
        assert code == 3
    assert ended - failed < 10    # about a second on an idle machine


def cli(*args):
    return ["-m", "convnp", "train", "--quiet", "--epochs", "1", *args]


@pytest.fixture
def small_mnist(tmp_path):
    """--dataset mnist --data-dir DIR: 1,280 training digits (20 steps of 64) and 200 test ones."""
    from convnp import data
    from test_data_idx import write_split

    for prefix, split, n in (("train", True, 1280), ("t10k", False, 200)):
        ds = data.mnist_sample(train=split)
        write_split(tmp_path / "mnist", prefix, ds.images[:n, 0], ds.labels[:n].astype(np.uint8))
    return ["--dataset", "mnist", "--data-dir", str(tmp_path / "mnist")]


def test_cli_on_two_processes_writes_once_and_resumes_on_one(tmp_path, capsys, small_mnist):
    """Rank 0 is told --out A and rank 1 --out B: only A is written. Then one process resumes A's run."""
    from convnp.cli import main

    first = small_mnist + ["--schedule", "constant"]   # a run that can go on past its first epoch
    code, out, err, _ = launch([(1, cli(*first, "--out", tmp_path / "A")), (1, cli(*first, "--out", tmp_path / "B"))])
    assert code == 0, f"{out}\n{err}"
    assert not (tmp_path / "B").exists()
    assert {"history.csv", "history.json", "last.npz", "model.npz"} <= {p.name for p in (tmp_path / "A").iterdir()}
    assert out.count("training lenet5") == 1 and out.count("test accuracy") == 1
    assert main(["train", "--quiet", "--epochs", "2", "--resume", str(tmp_path / "A" / "last.npz"),
                 "--out", str(tmp_path / "C"), *small_mnist]) == 0
    two_ranks = (tmp_path / "A" / "history.csv").read_text().splitlines()
    resumed = (tmp_path / "C" / "history.csv").read_text().splitlines()
    assert len(resumed) == 3 and resumed[:2] == two_ranks   # epoch 1 is the 2-rank run's, epoch 2 new
    assert "test accuracy" in capsys.readouterr().out


def test_cli_error_on_one_rank_stops_both(tmp_path):
    code, out, err, seconds = launch([(1, cli("--out", tmp_path / "A")),
                                      (1, cli("--resume", tmp_path / "missing.npz"))], timeout=120)
    assert code != 0 and "test accuracy" not in out
    assert f"convnp train: rank 1 of 2 failed: CLIError: no such checkpoint file: {tmp_path / 'missing.npz'}" in err
    assert "Traceback" not in err and seconds < 30


def test_batch_size_must_be_a_multiple_of_the_processes(tmp_path):
    code, out, err, _ = mpiexec(*cli("--batch-size", "63", "--out", tmp_path / "A"), timeout=120)
    assert code != 0
    assert "the batch size 63 is not a multiple of the 2 processes" in err


def test_the_benchmark_runs(tmp_path):
    """benchmarks/distributed_bench.py --quick: both configurations run and report; no timing is asserted."""
    done = subprocess.run([sys.executable, str(HERE.parent / "benchmarks" / "distributed_bench.py"), "--quick",
                           "--data-dir", "sample", "--mpiexec", MPIEXEC, "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "distributed.json").read_text())
    rows = {row["configuration"]: row for row in results["rows"]}
    assert set(rows) == {"2 processes x 1 thread", "1 process x 2 threads", "1 process x 1 thread"}
    assert all(row["images_per_s"] > 0 and row["step_ms"] > 0 for row in rows.values())
    assert rows["1 process x 2 threads"]["allreduce_alone_ms"] == [0, 0]
    fastest, median = rows["2 processes x 1 thread"]["allreduce_alone_ms"]
    assert 0 < fastest <= median
    assert "ratio (2 processes x 1 thread) / (1 process x 2 threads)" in done.stdout
