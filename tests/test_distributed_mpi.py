"""Data-parallel training on two processes, launched with the mpiexec that comes with mpi4py's MPI
(the mpich wheel of ``convnp[mpi]``): the checks of tests/mpi_checks.py, the command line, and
faults. Skipped, with the reason, where mpi4py or mpiexec is missing."""
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def test_a_process_that_never_starts_ends_the_job(tmp_path):
    """Rank 1 exits before MPI starts; rank 0 gives up after init's timeout instead of waiting for ever."""
    script = tmp_path / "late.py"
    script.write_text("import os, sys\n"
                      "if os.environ.get('PMI_RANK') == '1':\n    sys.exit(0)\n"
                      "from convnp import distributed\ndistributed.init(timeout=2)\nprint('started')\n")
    code, out, err, seconds = mpiexec(script, timeout=60)
    assert code != 0 and "started" not in out and seconds < 30
    assert "convnp.distributed.init: rank 0 of 2 waited 2 s for the other processes of the MPI job to start" in err
