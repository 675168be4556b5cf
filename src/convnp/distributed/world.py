"""The processes of a data-parallel run: which one this is (rank), how many (size), and MPI.

``init()`` returns this process's World. Started by ``mpiexec -n K`` (or ``srun``, or any MPI
launcher) it wraps MPI's COMM_WORLD through mpi4py; started on its own it is a world of one
process, and mpi4py is not imported at all (it need not be installed). The collectives
convnp needs are methods of the World: every process must call them in the same order.
"""
import os
import subprocess
import sys

import numpy as np

from .. import backend, checks

# Set by launchers in every process they start: MPICH and Intel MPI (hydra) and Slurm's PMI-2
# (PMI_*), Open MPI (OMPI_*), MVAPICH2 (MV2_*), PMIx launchers (PMIX_RANK), any srun step (SLURM_STEP_*).
_LAUNCHER_RANK = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")
_LAUNCHER_SIZE = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS")

_world = None


class World:
    """The processes that train together: ``rank`` (0 .. size-1), ``size``, ``comm``.

    comm: the mpi4py communicator, or None for a single process without MPI (then every
    collective returns its input unchanged). Rank 0 is the one that prints and writes files.
    """

    def __init__(self, comm=None):
        self.comm = comm
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()

    def allreduce(self, array, op="sum"):
        """The elementwise sum (op "max": maximum) of ``array`` over every process, in place; returns ``array``."""
        if self.size == 1:
            return array
        from mpi4py import MPI

        host = _contiguous_host(array)
        self.comm.Allreduce(MPI.IN_PLACE, host, op={"sum": MPI.SUM, "max": MPI.MAX}[op])
        return _back(array, host)

    def broadcast(self, array, root=0):
        """Overwrite ``array`` on every process with rank ``root``'s, in place; returns ``array``."""
        if self.size == 1:
            return array
        host = _contiguous_host(array)
        self.comm.Bcast(host, root=root)
        return _back(array, host)

    def sum(self, values):
        """The sums over every process of a few numbers (metrics), as a list of floats."""
        return self.allreduce(np.array(values, dtype=np.float64)).tolist()

    def broadcast_value(self, value, root=0):
        """Rank ``root``'s ``value`` (a small Python value such as a seed) on every process."""
        return value if self.size == 1 else self.comm.bcast(value, root=root)

    def abort(self, code=1):
        """End every process of the job at once (MPI_Abort); nothing on a world of one process."""
        if self.size > 1:
            self.comm.Abort(code)

    def __repr__(self):
        kind = "MPI" if self.comm is not None else "single process, no MPI"
        return f"World(rank={self.rank}, size={self.size}, {kind})"


def init(timeout=60.0, mpi=None):
    """This process's World, set up on the first call; later calls return the same one.

    Args:
      timeout: seconds to wait at start-up for every process of the job to arrive (None: for
        ever). MPI's start-up waits for all of them and cannot be cancelled, so a process
        still waiting after ``timeout`` is ended (a line on stderr says why) rather than left
        hanging: a job where one process never started ends within the timeout.
      mpi: None (default) uses MPI when an MPI launcher started this process (mpiexec sets
        PMI_RANK, Open MPI OMPI_COMM_WORLD_RANK, ...), True always, False never.
    Raises: RuntimeError when a launcher started several processes but mpi4py is missing
      (they would each train alone and write the same files).
    """
    global _world
    if _world is None:
        if timeout is not None:
            timeout = checks.real(timeout, "timeout", "distributed.init", low=0, low_open=True)
        _world = _start(timeout, launched() if mpi is None else bool(mpi))
    return _world


def launched():
    """True when a launcher (mpiexec, srun, ...) started this process as one of an MPI job."""
    return any(name in os.environ for name in _LAUNCHER_RANK[:-1]) or (_launcher_size() or 1) > 1


def _launcher_size():
    """The number of processes the launcher says it started (None when it does not say)."""
    value = next((os.environ[v] for v in _LAUNCHER_SIZE if v in os.environ), None)
    return int(value) if value is not None and value.isdigit() else None


def _start(timeout, use_mpi):
    if not use_mpi:
        return World()
    try:
        import mpi4py  # noqa: F401  (only whether it is installed)
    except ImportError:
        size = _launcher_size()
        if size == 1:
            return World()
        raise RuntimeError(f"distributed.init: this process is one of {size or 'several'} started by an MPI launcher,"
                           " but"
                           " mpi4py is not installed; install it (pip install 'convnp[mpi]') or run one process"
                           " without mpiexec") from None
    watchdog = _Watchdog(timeout)
    try:
        from mpi4py import MPI   # MPI_Init: waits for every process of the job

        comm = MPI.COMM_WORLD
        comm.Barrier()           # and all of them past it
    finally:
        watchdog.cancel()
    expected = _launcher_size()
    if expected not in (None, comm.Get_size()):
        raise RuntimeError(f"distributed.init: the launcher started {expected} processes but MPI sees a world of"
                           f" {comm.Get_size()}: mpi4py's MPI library is not the launcher's (an mpiexec of another"
                           " MPI? use the one beside mpi4py, e.g. the mpich wheel's)")
    _share_cores(comm, MPI)
    return World(comm)


def _share_cores(comm, MPI):
    """Each of the K processes on one machine gets 1/K of its cores for convnp's threads
    (unless CONVNP_NUM_THREADS or set_num_threads chose already): K processes with all cores
    each would fight over them."""
    from .. import parallel

    if parallel.ENV_VARIABLE in os.environ or parallel.chosen():
        return
    local = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
    parallel.set_num_threads(max(1, parallel.usable_cores() // local))


class _Watchdog:
    """Ends this process if start-up has not finished within ``timeout`` seconds.

    The main thread is then blocked inside MPI's C code, holding Python's lock, so neither an
    exception nor a thread of this process can act; a small watcher process does: it waits
    for its input to close (``cancel``, or this process ending) and otherwise says why on
    stderr and kills this process, after which the launcher ends the job.
    """

    def __init__(self, timeout):
        self.watcher = None
        if timeout is None:
            return
        rank = next((os.environ[v] for v in _LAUNCHER_RANK if v in os.environ), "?")
        size = next((os.environ[v] for v in _LAUNCHER_SIZE if v in os.environ), "?")
        message = (f"convnp.distributed.init: rank {rank} of {size} waited {timeout:g} s for the other processes"
                   " of the MPI job to start; stopping it (is one of them stuck, or gone?)\n")
        self.watcher = subprocess.Popen([sys.executable, "-c", _WATCHER, str(os.getpid()), str(timeout), message],
                                        stdin=subprocess.PIPE)

    def cancel(self):
        if self.watcher is not None:
            self.watcher.stdin.close()
            self.watcher.wait()


_WATCHER = """
import os, signal, sys, threading
pid, timeout, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
reader = threading.Thread(target=sys.stdin.read, daemon=True)
reader.start()
reader.join(timeout)
if reader.is_alive():
    sys.stderr.write(message)
    sys.stderr.flush()
    os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
"""


def _contiguous_host(array):
    """``array`` as a C-contiguous NumPy array MPI can fill in place (the array itself when it is one)."""
    host = backend.to_numpy(array)
    return host if host.flags.c_contiguous else np.ascontiguousarray(host)


def _back(array, host):
    """Put ``host`` back into ``array`` when it was a copy (a GPU array, a strided view)."""
    if host is not array:
        array[...] = backend.array_module(array).asarray(host)
    return array
