"""When one process fails, stop them all: collectives wait for every process, so the others would
otherwise wait for ever for the one that is gone.

An exception on one rank is reported on stderr (the rank, the error) and then MPI_Abort ends
every process of the job at once; the launcher (mpiexec) exits with the abort's code. A process
that dies outright (killed, a crash) is noticed by the launcher itself, which ends the others.
"""
import sys
import traceback
from contextlib import contextmanager

# Reported in one line, as the command line reports them; anything else comes with its traceback.
EXPECTED = (ValueError, TypeError, OSError, ArithmeticError, KeyboardInterrupt)


@contextmanager
def abort_on_error(world, who="convnp", expected=EXPECTED):
    """Run the ``with`` block; if it raises on this process, report it and abort every process.

    On a world of one process (or None) the exception propagates unchanged. Otherwise the message
    ``<who>: rank R of K failed: <error>; stopping all K processes`` goes to stderr (with the
    traceback unless the exception is one of ``expected``) and ``world.abort`` ends the job
    with exit code 130 for Ctrl-C, 1 otherwise. A checkpoint rank 0 was writing at that moment
    is left as it was: files are written to a temporary name and renamed when complete.
    """
    try:
        yield
    except BaseException as e:
        if world is not None:
            stop_every_process(world, e, who, expected)
        raise  # on one process; elsewhere only where abort returns (a stand-in world in tests)


def stop_every_process(world, error, who="convnp", expected=EXPECTED):
    """Report ``error`` (raised on this process) and abort every process; nothing on a world of one.

    For use in an ``except`` clause: see ``abort_on_error``.
    """
    if world.size == 1:
        return
    if not isinstance(error, expected):
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    sys.stderr.write(f"{who}: rank {world.rank} of {world.size} failed: {describe(error)};"
                     f" stopping all {world.size} processes\n")
    sys.stderr.flush()
    world.abort(130 if isinstance(error, KeyboardInterrupt) else 1)


def describe(error):
    """``ValueError: message``; Ctrl-C as ``interrupted``."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
