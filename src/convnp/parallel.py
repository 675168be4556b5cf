"""Threads inside one op: the batch of a large array op is split into shards that run at once.

    convnp.set_num_threads(4)       # or CONVNP_NUM_THREADS=4 in the environment
    convnp.get_num_threads()        # default: the cores this process may use

NumPy releases the GIL in its copies, ufuncs and BLAS calls, so Python threads that each work
on their own samples run on several cores. The heavy functional ops (convolution, pooling,
batch norm, activations, dropout) ask ``split`` for the sample ranges of their shards and hand
a function of one shard to ``run``; the calling thread takes the first shard itself and a small
persistent pool takes the others. Each shard writes only its own samples of the output, and
sums over the batch (a weight gradient, batch-norm statistics) are kept per shard and added in
shard order afterwards: with a fixed thread count every run gives the same bits; with another
thread count only the order of those additions changes (tests/test_parallel.py).

BLAS. A shard's matrix products run on one BLAS thread, the shards being the parallelism. A
product too small to split also runs on one BLAS thread: BLAS's own threads would wake for it
and then spin for a while, taking the cores from the next op's shards. A product that cannot
be split (a batch of one) gets ``get_num_threads()`` BLAS threads, as do products outside
convnp's ops. threadpoolctl (optional: ``pip install convnp[fast]``) switches OpenBLAS's (or
MKL's, BLIS's) thread count around each such region with a C call of about 1 us; its
``threadpool_limits`` context manager would re-scan the loaded libraries every time, about
0.7 ms (both measured). Without threadpoolctl BLAS's thread count cannot be changed, so the
ops whose work is mostly BLAS (convolutions, dense layers) are not split and run as one call
on BLAS's own threads; the NumPy copy and ufunc work of the other ops is split all the same.
"""
import concurrent.futures
import contextlib
import os
import threading

ENV_VARIABLE = "CONVNP_NUM_THREADS"

# A shard must touch at least this many array elements, or the op runs in one piece on the
# calling thread. Handing a shard to a pool thread and waiting for it costs 20-30 us (measured
# on the 2-core EPYC: benchmarks/parallel_bench.py); an elementwise float32 pass runs 1-3
# elements per ns, so a shard of 2**17 elements (45-130 us) pays for its hand-off about twice
# over. parallel_bench.py finds the crossover on a given machine; on the loaded development
# machine (load 5-7 on 2 cores) splitting did not pay at any size, its second core being busy.
MIN_SHARD_ELEMENTS = 1 << 17

_lock = threading.Lock()          # guards the settings below
_num_threads = None               # None until set_num_threads or the first get_num_threads
_pool = None                      # a ThreadPoolExecutor of num_threads - 1 workers, made on first use
_explicit = False                 # True once set_num_threads (or CONVNP_NUM_THREADS) chose the count
_region = threading.Lock()        # held while one op's shards run; another op meanwhile runs inline
_in_shard = threading.local()     # .active: this thread is running a shard (nested ops run inline)
_blas = None                      # the BLAS controllers of threadpoolctl, [] without it, None: not looked up


def usable_cores():
    """The CPUs this process may run on (its affinity mask), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def set_num_threads(n):
    """Use ``n`` threads: sharded ops split into at most n shards, other BLAS calls get n threads.

    Raises: TypeError when n is not an int, ValueError when n < 1.
    """
    global _num_threads, _pool, _explicit
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    with _lock:
        # An op running now keeps the old pool until it ends; unreferenced, its threads then exit.
        _num_threads, _pool, _explicit = n, None, True
    for lib in _blas_controllers():
        lib.set_num_threads(n)


def chosen():
    """True once a thread count was chosen (set_num_threads, or CONVNP_NUM_THREADS), not defaulted."""
    return _explicit


def get_num_threads():
    """The threads convnp uses: set_num_threads's n, else CONVNP_NUM_THREADS, else the usable cores.

    Raises: ValueError when CONVNP_NUM_THREADS is set but is not a positive integer.
    """
    global _num_threads
    if _num_threads is None:
        value = os.environ.get(ENV_VARIABLE, "").strip()
        if not value:
            _num_threads = usable_cores()
        elif value.isdigit() and int(value) >= 1:
            set_num_threads(int(value))
        else:
            raise ValueError(f"{ENV_VARIABLE} must be a positive integer (a thread count), got {value!r}")
    return _num_threads


def split(n, elements_per_item, blas=False):
    """The shards of n items (samples): a list of (lo, hi) ranges, as equal as can be, in order.

    As many shards as threads, but no more than n, none with fewer than MIN_SHARD_ELEMENTS
    elements (elements_per_item each), and one when blas is True and threadpoolctl is missing
    (the op's matrix products then run on BLAS's own threads). The split depends on n, the
    sizes and the thread count only, never on timing: results are reproducible.
    """
    work = (n * elements_per_item) // MIN_SHARD_ELEMENTS
    if work <= 1:  # first, and cheap: most calls of a batch-1 inference end here
        return [(0, n)]
    shards = min(get_num_threads(), n, work)
    if shards <= 1 or (blas and not _blas_controllers()):
        return [(0, n)]
    step, extra = divmod(n, shards)
    bounds, lo = [], 0
    for i in range(shards):
        hi = lo + step + (i < extra)
        bounds.append((lo, hi))
        lo = hi
    return bounds


def run(fn, shards, blas=False):
    """[fn(i, lo, hi) for each shard i], the shards running at once; the first on this thread.

    blas: fn calls BLAS (matrix products). Inside shards BLAS runs on one thread. A single
    shard of several items (an op too small to split) also runs with one BLAS thread: BLAS's
    own threads would wake for it and then spin, competing with the shards of the next op for
    the cores (measured, a LeNet-5 training step on 2 threads: median 16 ms with them, 7 ms
    without). A single item (a batch of one) keeps BLAS's threads: nothing else can split it.
    The first exception raised by a shard (in shard order) is raised here, after every shard
    has finished. A call from inside a shard, on one thread, or while another thread's op holds
    the pool runs all shards here, one after another (the same results: the split is the same).
    """
    if len(shards) == 1:
        lo, hi = shards[0]
        if blas and hi - lo > 1 and get_num_threads() > 1:
            with _one_blas_thread():
                return [fn(0, lo, hi)]
        return [fn(0, lo, hi)]
    if get_num_threads() == 1 or getattr(_in_shard, "active", False) or not _region.acquire(blocking=False):
        return _run_here(fn, shards)
    try:
        with _one_blas_thread():
            return _run_pooled(fn, shards)
    finally:
        _region.release()


def total(parts):
    """The sum of the shards' partial results (arrays), added in shard order: the same bits every run."""
    out = parts[0]
    for part in parts[1:]:
        out = out + part
    return out


def _run_here(fn, shards):
    return [fn(i, lo, hi) for i, (lo, hi) in enumerate(shards)]


def _run_pooled(fn, shards):
    pool = _get_pool()
    futures = [pool.submit(_shard, fn, i, lo, hi) for i, (lo, hi) in enumerate(shards) if i]
    results, errors = [None] * len(shards), [None] * len(shards)
    try:
        results[0] = _shard(fn, 0, *shards[0])
    except BaseException as e:  # noqa: BLE001 (re-raised below, once the other shards are done)
        errors[0] = e
    for i, future in enumerate(futures, 1):
        try:
            results[i] = future.result()
        except BaseException as e:  # noqa: BLE001
            errors[i] = e
    for e in errors:
        if e is not None:
            raise e
    return results


def _shard(fn, i, lo, hi):
    _in_shard.active = True
    try:
        return fn(i, lo, hi)
    finally:
        _in_shard.active = False


def _get_pool():
    global _pool
    with _lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(max(get_num_threads() - 1, 1), "convnp",
                                                          initializer=_worker_start)
        return _pool


def _worker_start():
    # BLAS libraries on an OpenMP layer keep a thread count per calling thread: a pool thread
    # only ever runs shards, so its count is set to 1 once, here.
    for lib in _blas_controllers():
        if getattr(lib, "threading_layer", None) == "openmp":
            lib.set_num_threads(1)


# -- BLAS thread counts through threadpoolctl ------------------------------------------------


def _blas_controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded ([] without threadpoolctl), found once."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas = []
        else:
            import numpy  # noqa: F401 (its BLAS must be loaded before the scan)

            _blas = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _blas


@contextlib.contextmanager
def _one_blas_thread():
    """BLAS on one thread inside the block (a C call each way, about 1 us), its count restored after."""
    libs = _blas_controllers()
    saved = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, threads in zip(libs, saved):
            lib.set_num_threads(threads)
            _release_blas_control(lib)


def _release_blas_control(lib):
    """Let other threads set OpenBLAS's thread count again (threadpoolctl >= 3.6 gives it to one thread)."""
    clear = getattr(lib, "clear_controlling_thread", None)
    if clear is not None:
        clear()


def _after_fork_in_child():
    # The pool's threads do not exist in a forked child: it makes a new pool when it needs one.
    global _pool, _region
    _pool, _region = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


__all__ = ["set_num_threads", "get_num_threads", "split", "run", "total"]
