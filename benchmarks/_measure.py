"""Clocks and memory gauges of a worker process: call times, CPU use, resident memory."""
import os
import sys
import time

import numpy as np


def time_calls(fn, seconds, min_calls=3, max_calls=100_000):
    """Seconds taken by each call of ``fn()``: at least ``min_calls``, then until ``seconds`` pass.

    Warm-up first (2 calls, or a tenth of the budget if longer) so that one-time costs
    (allocations, lazy initialisation, cold caches) are not timed.
    """
    warm_end = time.perf_counter() + 0.1 * seconds
    calls = 0
    while calls < 2 or time.perf_counter() < warm_end:
        fn()
        calls += 1
    times = []
    end = time.perf_counter() + seconds
    while len(times) < min_calls or (time.perf_counter() < end and len(times) < max_calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


class CpuClock:
    """CPU seconds of every thread of this process per wall second, over a ``with`` block.

    About the thread count when the work runs in parallel undisturbed; far below it when the
    process waited for a core (a busy machine), which makes the figure noise.
    """

    def __enter__(self):
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.cpu_per_wall = (time.process_time() - self.cpu0) / max(time.perf_counter() - self.wall0, 1e-9)


def timed(fn, seconds, per_call, min_calls=3):
    """A timed case's record: the raw call times, ``value = per_call(median seconds)``, CPU use."""
    with CpuClock() as clock:
        times = time_calls(fn, seconds, min_calls)
    median = float(np.median(times))
    return {"times": times, "median_s": median, "min_s": min(times), "calls": len(times),
            "value": per_call(median), "cpu_per_wall": clock.cpu_per_wall}


def max_rss_mb():
    """Peak resident memory of this process so far (ru_maxrss), in MB."""
    try:
        import resource
    except ImportError:
        raise RuntimeError("peak RSS needs the resource module (Linux, macOS)") from None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def rss_mb():
    """Resident memory of this process now, in MB (Linux: /proc; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return max_rss_mb()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_rss():
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0); False where impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True
