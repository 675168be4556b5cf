"""Recording layer calls and replaying them backwards: how a ``Model`` gets its backward pass.

A model's ``forward`` is plain Python. While it runs, every layer call goes through ``call``
below, which writes one ``Call`` onto the model's ``Tape``: the layer, the cache that call
made (taken off the layer at once, so that a layer called twice keeps two caches), which
recorded values went in and which came out. Values are numbered: the model's inputs first,
then each call's outputs. Arrays are matched to values by identity (``id`` plus a weak
reference, so that a freed array's id reused by a new one is not mistaken for it).

``backward`` walks the calls in reverse. Each call's layer gets its own cache back and runs its
own hand-written backward; the gradients of its inputs are added to those of the values they
came from (a value used twice, as in a residual block or a shared layer, sums both). Nothing
here knows any layer's math; layers do not know they are recorded.

A sub-model called inside a model records its own tape, which becomes that call's cache in the
outer tape: ``Sequential`` inside a U-Net, a shared encoder called on two inputs.

``no_grad()`` turns recording off in the current thread: every layer drops its cache at once.
"""
import threading
import weakref
from collections import namedtuple
from contextlib import contextmanager

import numpy as np

_state = threading.local()  # per thread: the stack of tapes being recorded, the no_grad depth


def _tapes():
    tapes = getattr(_state, "tapes", None)
    if tapes is None:
        tapes = _state.tapes = []
    return tapes


def grad_enabled():
    """False inside ``with no_grad():`` (in this thread)."""
    return not getattr(_state, "no_grad", 0)


@contextmanager
def no_grad():
    """``with convnp.no_grad():`` runs forward passes that keep no caches (inference memory).

    Nothing is recorded, so ``backward`` cannot follow; layers still honour train/eval mode.
    A call made earlier and still waiting for its backward is left as it was. Thread-local:
    other threads keep recording.
    """
    _state.no_grad = getattr(_state, "no_grad", 0) + 1
    try:
        yield
    finally:
        _state.no_grad -= 1


Like = namedtuple("Like", "shape dtype")   # what a model input looked like, for its zero gradient


class Call:
    """One recorded layer call: the layer, its cache, the value numbers in and out, the shapes."""

    __slots__ = ("layer", "cache", "inputs", "outputs", "in_shapes", "out_shapes")

    def __init__(self, layer, cache, inputs, outputs, in_shapes, out_shapes):
        self.layer, self.cache = layer, cache
        self.inputs, self.outputs = inputs, outputs      # value numbers; None for a constant argument
        self.in_shapes, self.out_shapes = in_shapes, out_shapes


class Tape:
    """The record of one model call: its calls in order, its input and output value numbers.

    ``_arrays`` maps id(array) -> (value number, weak reference) for every recorded value that
    is alive; ``_float`` says which values can carry a gradient.
    """

    def __init__(self, model, keep_outputs=False):
        self.model = model
        self.calls = []
        self.inputs = []            # value numbers of the model's array arguments (None for others)
        self.outputs = []           # value numbers of what forward returned
        self.out_shapes = []
        self.multiple = False       # forward returned a tuple
        self._arrays = {}
        self._float = []
        self.kept = [] if keep_outputs else None   # (call, outputs) for convnp.viz

    def new_value(self, array):
        number = len(self._float)
        self._float.append(array.dtype.kind == "f")
        self._arrays[id(array)] = (number, weakref.ref(array))
        return number

    def value_of(self, array):
        """The value number of a recorded array, or None."""
        entry = self._arrays.get(id(array))
        if entry is not None and entry[1]() is array:
            return entry[0]
        return None


def call(layer, args, kwargs):
    """Run ``layer`` on ``args``; record the call when a model is recording in this thread.

    Outside any model a plain layer keeps its cache on itself (``layer.backward(dy)`` follows),
    and a model records its own tape, kept as its cache. Under ``no_grad`` nothing is kept.
    """
    is_model = layer._records_calls
    if not grad_enabled():
        if is_model:
            return layer.forward(*args, **kwargs)      # its calls keep nothing; its own record stays
        pending = layer._cache                          # a call still waiting for its backward stays too
        out = layer.forward(*_unwrap(args), **kwargs)
        layer._cache = pending
        return out
    tapes = _tapes()
    if not tapes:
        if is_model:
            out, layer._cache = record(layer, args, kwargs)
        else:
            out = layer.forward(*_unwrap(args), **kwargs)
            # for the check of dy in layer.backward (Layer.__init_subclass__)
            layer._out_shapes = tuple(getattr(o, "shape", None) for o in (out if isinstance(out, tuple) else (out,)))
        return out
    tape = tapes[-1]
    numbers, values = _resolve(tape, layer, args, kwargs)
    if is_model:
        out, cache = record(layer, values, kwargs)
    else:
        out = layer.forward(*values, **kwargs)
        cache, layer._cache = layer._cache, None
    outs = out if isinstance(out, tuple) else (out,)
    out_numbers = tuple(tape.new_value(o) if _is_array(o) else None for o in outs)
    tape.calls.append(Call(layer, cache, numbers, out_numbers,
                           tuple(getattr(v, "shape", None) for v in values),
                           tuple(getattr(o, "shape", None) for o in outs)))
    if tape.kept is not None:
        tape.kept.append((tape.calls[-1], outs))
    return out


def _unwrap(args):
    """Parameters given to a merge op outside a model: their arrays (args itself when there are none)."""
    Parameter = _parameter_class()
    for a in args:
        if isinstance(a, Parameter):
            return tuple(a.data if isinstance(a, Parameter) else a for a in args)
    return args


def _is_array(x):
    return type(x) is np.ndarray or isinstance(x, np.ndarray) or (hasattr(x, "__array_namespace__") and hasattr(x, "shape"))


_Parameter = None   # convnp.nn.module.Parameter, set on first use (module imports this file)


def _parameter_class():
    global _Parameter
    if _Parameter is None:
        from .module import Parameter
        _Parameter = Parameter
    return _Parameter


def _resolve(tape, layer, args, kwargs):
    """Value numbers of the arguments (None for constants) and the arrays the layer gets.

    A floating-point array that no recorded call made and that the model was not given cannot
    carry a gradient back: it is refused, naming the layer and the fix. Parameters may be passed
    to merge ops: the layer gets their data and their gradient is added to ``.grad``.
    """
    Parameter = _parameter_class()
    for key, value in kwargs.items():
        if _is_array(value) and value.dtype.kind == "f":
            raise TypeError(f"{_where(tape, layer)}: pass arrays positionally, not as the keyword {key!r}")
    numbers, values = [], []
    for i, a in enumerate(args):
        if isinstance(a, Parameter):
            numbers.append(a)
            values.append(a.data)
            continue
        number = tape.value_of(a) if _is_array(a) else None
        if number is None and _is_array(a) and a.dtype.kind == "f":
            raise ValueError(
                f"{_where(tape, layer)}: input {i} (shape {tuple(a.shape)}) was not made by a recorded call"
                " nor given to the model. NumPy operations between layer calls (h + u, h * s,"
                " np.concatenate, slicing) are not recorded, so no gradient could flow back through"
                " them: use nn.add, nn.mul, nn.cat, nn.split or nn.reshape, or pass the array to"
                " the model as an input")
        numbers.append(number)
        values.append(a)
    return tuple(numbers), tuple(values)


def _where(tape, layer):
    """'UNet: Conv2d(8, 3, kernel_size=1) (head)': the model, the layer and its attribute path."""
    name = next((n for n, m in tape.model.named_modules() if m is layer), None)
    at = f" ({name})" if name else ""
    return f"{type(tape.model).__name__}: {layer!r}{at}".replace("\n", " ")


# -- recording a model's own call ----------------------------------------------------------------
def record(model, args, kwargs=None, keep_outputs=False):
    """Run ``model.forward(*args, **kwargs)`` on a new tape; return (output, tape)."""
    tape = Tape(model, keep_outputs)
    tape.inputs = [tape.new_value(a) if _is_array(a) else None for a in args]
    tape.input_like = [Like(a.shape, a.dtype) if _is_array(a) else None for a in args]
    tapes = _tapes()
    tapes.append(tape)
    try:
        out = model.forward(*args, **(kwargs or {}))
    finally:
        tapes.pop()
    tape.multiple = isinstance(out, tuple)
    for i, o in enumerate(out if tape.multiple else (out,)):
        number = tape.value_of(o) if _is_array(o) else None
        if number is None:
            raise ValueError(
                f"{type(model).__name__}.forward: output {i} was not made by a recorded call nor given"
                " to the model (NumPy arithmetic is not recorded: use nn.add, nn.mul, nn.cat, nn.split"
                f" or nn.reshape); got {type(o).__name__}")
        tape.outputs.append(number)
        tape.out_shapes.append(tuple(o.shape))
    return out, tape


# -- replaying it backwards --------------------------------------------------------------------------
def backward(tape, douts, input_grad):
    """Gradients of the tape's inputs given those of its outputs; each call's own backward in reverse."""
    name = type(tape.model).__name__
    _check_douts(tape, douts, name)
    needs = _needs_grad(tape, input_grad)
    grads = {}
    for number, d in zip(tape.outputs, douts):
        if d is not None:
            _add(grads, number, d)
    for c in reversed(tape.calls):
        dys = tuple(grads.pop(n, None) if n is not None else None for n in c.outputs)
        if all(d is None for d in dys):
            continue                      # no output of this call reaches the loss
        want_dx = any(needs.get(n, False) if not _is_param(n) else False for n in c.inputs)
        layer = c.layer
        layer._cache, layer._out_shapes = c.cache, None   # this call's own cache, checked already
        c.cache = None
        dxs = layer.backward(*dys, input_grad=want_dx)
        _route(grads, needs, c, dxs if isinstance(dxs, tuple) else (dxs,), want_dx)
    if not input_grad:
        return None
    result = tuple(_input_grad(grads, n, shape_of) for n, shape_of in zip(tape.inputs, tape.input_like))
    return result if len(result) != 1 else result[0]


def _check_douts(tape, douts, name):
    if len(douts) != len(tape.outputs):
        raise ValueError(f"{name}.backward: expected {len(tape.outputs)} gradient(s), one per output of"
                         f" forward, got {len(douts)}")
    for i, (d, shape) in enumerate(zip(douts, tape.out_shapes)):
        if d is not None and tuple(getattr(d, "shape", ())) != shape:
            got = tuple(d.shape) if hasattr(d, "shape") else type(d).__name__
            raise ValueError(f"{name}.backward: gradient {i} has shape {got}, expected {shape},"
                             f" the shape of output {i}")


def _needs_grad(tape, input_grad):
    """Which values need a gradient: those that lead back to a trainable parameter or to an input
    whose gradient is wanted. A call none of whose inputs needs one is told input_grad=False."""
    needs = {n: input_grad and tape._float[n] for n in tape.inputs if n is not None}
    for c in tape.calls:
        flows = any(needs.get(n, False) for n in c.inputs if n is not None and not _is_param(n))
        flows = flows or _trainable(c.layer)
        for n in c.outputs:
            if n is not None:
                needs[n] = flows and tape._float[n]
    return needs


def _trainable(layer):
    """Whether a layer (or a model, with all below it) has a parameter that takes a gradient."""
    Parameter = _parameter_class()
    for _, m in layer._named_modules(""):
        for v in vars(m).values():
            if isinstance(v, Parameter) and v.requires_grad:
                return True
    return False


def _route(grads, needs, c, dxs, want_dx):
    """Add the gradients a call returned to those of its input values (and to its Parameters)."""
    if not want_dx and not any(_is_param(n) for n in c.inputs):
        return
    if len(dxs) != len(c.inputs):
        raise ValueError(f"{type(c.layer).__name__}.backward returned {len(dxs)} gradient(s) for"
                         f" {len(c.inputs)} input(s)")
    for n, g, shape in zip(c.inputs, dxs, c.in_shapes):
        if g is None or n is None:
            continue
        if tuple(g.shape) != shape:
            raise ValueError(f"{type(c.layer).__name__}.backward returned a gradient of shape"
                             f" {tuple(g.shape)} for an input of shape {shape}")
        if _is_param(n):
            if n.requires_grad:
                n.grad += g
        elif needs.get(n, False):
            _add(grads, n, g)


def _is_param(n):
    return n is not None and not isinstance(n, int)


def _add(grads, number, g):
    # out of place: the first gradient may be an array another value's gradient also is (add's dy)
    old = grads.get(number)
    grads[number] = g if old is None else old + g


def _input_grad(grads, number, like):
    if number is None:
        return None
    g = grads.get(number)
    if g is None and like is not None and like.dtype.kind == "f":
        g = np.zeros(like.shape, dtype=like.dtype)
    return g
