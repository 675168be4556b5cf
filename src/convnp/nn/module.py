"""Parameter and Layer: the base of every stateful layer.

A layer owns its Parameters (and buffers such as BatchNorm's running statistics),
calls a pure function from ``convnp.functional`` in ``forward`` and keeps that
function's cache for ``backward``. Parameters and sub-layers are found in the order
they were assigned (attribute dicts keep order), so ``state_dict()`` keys come out
in PyTorch's order: a layer's own parameters, then its buffers, then its children.
"""
import contextlib
import functools
import inspect

import numpy as np

from .. import checks
from . import recording


class Parameter:
    """A trainable array and the gradient accumulated for it.

    ``data`` and ``grad`` have the same shape and dtype; ``grad`` starts at zero,
    ``backward`` adds to it and ``zero_grad`` sets it back to zero in place.
    ``requires_grad=False`` freezes it (fine-tuning): layers compute no gradient for it
    and optimizers leave it as it is.
    """

    def __init__(self, data, requires_grad=True):
        self.data = data
        self.grad = np.zeros_like(data) if isinstance(data, np.ndarray) else data * 0
        self.requires_grad = bool(requires_grad)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def zero_grad(self):
        self.grad[...] = 0

    def __repr__(self):
        frozen = "" if self.requires_grad else ", requires_grad=False"
        return f"Parameter(shape={checks.shape_str(self.data.shape)}, dtype={self.data.dtype}{frozen})"


class Layer:
    """Base class of layers and containers.

    Subclasses implement ``forward(x)``, ``backward(dy, input_grad=True) -> dx`` and, when
    their constructor takes arguments, ``config()`` (the arguments that rebuild the layer;
    ``repr`` and model files both use it). Buffers (non-trainable state that is
    saved, such as running statistics) are listed by name in ``_buffers``.

    The protocol every layer follows:
    - ``forward`` keeps what its backward needs in ``self._cache`` (one assignment) and no
      other per-call state: a layer may be called several times before backward, and a
      model (``nn.Model``) keeps each call's cache and puts it back before that call's backward.
    - ``backward`` takes the cache with ``take_cache()``, which consumes it (a second
      backward after one forward is an error, not doubled gradients), adds parameter
      gradients with ``_accumulate`` (nothing for a frozen parameter) and returns dx.
      ``input_grad=False`` says the caller has no use for dx (the first layer of a training
      step): a layer may then skip computing it and return None.
    """

    _buffers = ()
    _records_calls = False   # True for nn.Model: its forward's layer calls are recorded

    def __init__(self):
        self.training = True
        self._cache = None
        self._out_shapes = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A layer called on its own keeps its cache and its output shapes; its backward then
        # checks dy against them (a model checks the gradients it passes on itself).
        if "backward" in cls.__dict__ and not cls._records_calls:
            cls.backward = _checking_dy(cls.__dict__["backward"])

    # -- computation -------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        # recording.call runs forward, and inside a model records the call with its own cache
        return recording.call(self, args, kwargs)

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, dy, input_grad=True):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def take_cache(self):
        """The cache of the last forward, consumed: RuntimeError if no forward is waiting for its backward."""
        cache = self._cache
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward(), or twice after one"
                               " forward; run forward again before each backward")
        self._cache = None
        return cache

    @staticmethod
    def _accumulate(param, grad):
        """param.grad += grad, unless param is None or frozen (requires_grad False)."""
        if param is not None and param.requires_grad:
            param.grad += grad

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter of this layer and the layers below; returns self."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def output_shape(self, input_shape):
        """Shape of the output for an input of ``input_shape`` (default: unchanged)."""
        return tuple(input_shape)

    # -- structure ---------------------------------------------------------------------
    def children(self):
        """(name, layer) pairs of the direct sub-layers, in the order they were assigned."""
        return [(k, v) for k, v in vars(self).items() if isinstance(v, Layer)]

    def named_modules(self, prefix=""):
        """(dotted name, layer) for this layer and every layer below it, depth first; a layer
        reached twice (shared) is listed once, under its first name."""
        seen = set()
        for name, m in self._named_modules(prefix):
            if id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def modules(self):
        """This layer and every layer below it, depth first, each once."""
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix=""):
        """(dotted name, Parameter) pairs: own parameters first, then each child's; a shared
        parameter once, under its first name (as PyTorch)."""
        seen = set()
        for m_prefix, m in self._named_modules(prefix.rstrip(".") if prefix else ""):
            for name, value in vars(m).items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield _join(m_prefix, name), value

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        seen = set()
        for m_prefix, m in self._named_modules(prefix.rstrip(".") if prefix else ""):
            if id(m) not in seen:
                seen.add(id(m))
                for name in m._buffers:
                    yield _join(m_prefix, name), getattr(m, name)

    def apply(self, fn):
        """Call ``fn(layer)`` on every layer below this one and then on this one (as PyTorch); returns self."""
        for m in list(self.modules())[::-1]:
            fn(m)
        return self

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode=True):
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def to(self, dtype):
        """Convert parameters, gradients and floating buffers to ``dtype`` (in place); returns self."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: expected a floating dtype, got {dtype}")
        for m in self.modules():
            for name, value in vars(m).items():
                if isinstance(value, Parameter):
                    value.data = value.data.astype(dtype)
                    value.grad = value.grad.astype(dtype)
            for name in m._buffers:
                buf = getattr(m, name)
                if buf.dtype.kind == "f":
                    setattr(m, name, buf.astype(dtype))
            m._cache = None
        return self

    def num_parameters(self):
        return sum(p.size for p in self.parameters())

    # -- state ---------------------------------------------------------------------------
    def state_dict(self):
        """Copies of every parameter and buffer, keyed as PyTorch keys them ("0.weight").

        A shared layer appears under each of its names, as in PyTorch.
        """
        state = {}
        for prefix, m in self._named_modules(""):
            for name, value in vars(m).items():
                if isinstance(value, Parameter):
                    state[_join(prefix, name)] = value.data.copy()
            for name in m._buffers:
                state[_join(prefix, name)] = np.array(getattr(m, name), copy=True)
        return state

    def load_state_dict(self, state, strict=True):
        """Copy arrays from ``state`` into the parameters and buffers, keeping their dtypes.

        Raises ValueError naming every missing or unexpected key (when ``strict``) and
        every array whose shape does not fit; nothing is changed unless all fit.
        """
        if not isinstance(state, dict):
            raise TypeError(f"{type(self).__name__}.load_state_dict: expected a dict of arrays keyed by name"
                            f" (as state_dict() gives), got {type(state).__name__}")
        targets = {}
        for m_prefix, m in self._named_modules(""):
            for name, value in vars(m).items():
                if isinstance(value, Parameter):
                    targets[_join(m_prefix, name)] = (m, name, value.data)
            for name in m._buffers:
                targets[_join(m_prefix, name)] = (m, name, getattr(m, name))
        problems = []
        if strict:
            missing = [k for k in targets if k not in state]
            unexpected = [k for k in state if k not in targets]
            if missing:
                problems.append(f"missing keys {missing}")
            if unexpected:
                problems.append(f"unexpected keys {unexpected}")
        for key, value in state.items():
            if key in targets:
                have = targets[key][2]
                got = np.shape(value)
                if got != have.shape:
                    problems.append(f"{key}: expected shape {checks.shape_str(have.shape)}, got {checks.shape_str(got)}")
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        for key, value in state.items():
            if key not in targets:
                continue
            m, name, have = targets[key]
            new = np.asarray(value).astype(have.dtype, copy=True)
            attr = getattr(m, name)
            if isinstance(attr, Parameter):
                attr.data = new
                attr.grad = np.zeros_like(new)
            else:
                setattr(m, name, new)

    def _named_modules(self, prefix):
        """Every (dotted name, layer) below and including this one, shared layers under each name."""
        yield prefix, self
        for name, child in self.children():
            yield from child._named_modules(_join(prefix, name))

    # -- description --------------------------------------------------------------------
    def config(self):
        """Constructor arguments that rebuild this layer (JSON-friendly values)."""
        return {}

    # How many leading constructor arguments repr shows without their names
    # (None: all that have no default), as in PyTorch's "Conv2d(3, 8, kernel_size=3)".
    _repr_positional = None

    def extra_repr(self):
        """Constructor arguments: leading ones bare, the rest as name=value when not default."""
        params = list(inspect.signature(type(self).__init__).parameters.values())[1:]
        config = self.config()
        parts = []
        for i, p in enumerate(params):
            if p.name not in config:
                continue
            value = config[p.name]
            value = tuple(value) if isinstance(value, list) else value  # JSON keeps pairs as lists
            bare = i < self._repr_positional if self._repr_positional is not None else p.default is p.empty
            if bare:
                parts.append(repr(value))
            elif p.default is p.empty or value != p.default:
                parts.append(f"{p.name}={value!r}")
        return ", ".join(parts)

    def __repr__(self):
        kids = self.children()
        if not kids:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in kids:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        lines.append(")")
        return "\n".join(lines)


@contextlib.contextmanager
def evaluating(model):
    """``with nn.evaluating(model):`` eval mode inside (BatchNorm's running statistics, no dropout),
    each layer's own mode put back after, whatever it was (evaluate, predict, convnp.viz)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def _join(prefix, name):
    """'layer1.0' + 'conv1' -> 'layer1.0.conv1'; '' + 'conv1' -> 'conv1'."""
    return f"{prefix}.{name}" if prefix else str(name)


def _checking_dy(backward):
    """Wrap a layer's backward: after a call of the layer on its own, check dy's shapes first.

    A layer of your own may write ``backward(self, dy)`` without ``input_grad``: it is then not
    passed on (the layer always computes dx).
    """
    params = inspect.signature(backward).parameters
    takes_flag = "input_grad" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    @functools.wraps(backward)
    def checked(self, *douts, **kwargs):
        if not takes_flag:
            kwargs.pop("input_grad", None)
        shapes = self.__dict__.get("_out_shapes")
        if shapes is not None:
            self._out_shapes = None
            for i, (d, shape) in enumerate(zip(douts, shapes)):
                if d is not None and shape is not None and tuple(getattr(d, "shape", ())) != shape:
                    got = tuple(d.shape) if hasattr(d, "shape") else type(d).__name__
                    what = "dy" if len(shapes) == 1 else f"the gradient of output {i}"
                    raise ValueError(f"{type(self).__name__}.backward: expected {what} of shape {shape},"
                                     f" the shape of the forward's output, got {got}")
        return backward(self, *douts, **kwargs)

    return checked
