"""Model: a network whose forward you write in plain Python; its backward replays the recorded calls.

    class Siamese(nn.Model):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten())

        def forward(self, a, b):
            return self.encoder(a), self.encoder(b)      # one encoder, two calls, two caches

    fa, fb = model(a, b)
    da, db = model.backward(dfa, dfb)                     # the encoder's gradients add up

How the recording works: ``convnp/nn/recording.py`` and ``docs/model.md``.
"""
import inspect

import numpy as np

from . import recording
from .module import Layer, evaluating


class Model(Layer):
    """Base class of networks with a user-written ``forward`` (Sequential and Residual are Models too).

    - ``forward(*inputs)``: call layers, sub-models and the merge ops (``nn.add``, ``nn.mul``,
      ``nn.cat``, ``nn.split``, ``nn.reshape``) on arrays; return an array or a tuple of arrays.
      A layer may be called any number of times: each call keeps its own cache.
    - ``backward(*douts, input_grad=True)``: one gradient per output; returns the gradient of
      each input (an array, or a tuple for several inputs), None when ``input_grad`` is False.
      Parameter gradients add into ``.grad`` (shared layers sum over their calls).
    - Sub-layers are the attributes that are layers (``nn.ModuleList``/``nn.ModuleDict`` for
      collections), named as PyTorch names them, so ``state_dict()`` keys match PyTorch code
      written the same way.
    - The constructor's arguments are recorded (``config()``), so ``convnp.save`` stores the
      class name and its arguments; ``convnp.load(path, classes=[MyModel])`` rebuilds it. An
      argument named ``rng`` is not stored (the weights are).
    """

    _records_calls = True

    def __new__(cls, *args, **kwargs):
        model = super().__new__(cls)
        model.__dict__["_init_args"] = (args, kwargs)   # config(): what rebuilds this model
        return model

    def __setattr__(self, name, value):
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, Layer) for v in value):
            raise TypeError(f"{type(self).__name__}: a plain {type(value).__name__} of layers ({name!r}) is not"
                            " found by parameters() and state_dict(); use nn.ModuleList")
        if isinstance(value, dict) and value and all(isinstance(v, Layer) for v in value.values()):
            raise TypeError(f"{type(self).__name__}: a plain dict of layers ({name!r}) is not found by"
                            " parameters() and state_dict(); use nn.ModuleDict")
        if isinstance(value, Layer) and "training" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() before"
                               " assigning layers")
        object.__setattr__(self, name, value)

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, *douts, input_grad=True):
        """Replay this model's last call in reverse; see the class docstring."""
        tape = self.take_cache()
        return recording.backward(tape, douts, input_grad)

    def config(self):
        """The constructor's arguments by name (JSON values are what model files can store)."""
        args, kwargs = self.__dict__.get("_init_args", ((), {}))
        try:
            bound = inspect.signature(type(self).__init__).bind(self, *args, **kwargs)
        except TypeError:
            return {}
        config = {}
        params = inspect.signature(type(self).__init__).parameters
        for name, value in list(bound.arguments.items())[1:]:
            kind = params[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                config.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                if value:
                    raise TypeError(f"{type(self).__name__}: arguments given as *{name} cannot be stored by"
                                    " name; give them by keyword or override config()")
            elif name != "rng":
                config[name] = value
        return config

    def output_shape(self, input_shape):
        """The output shape for an input of ``input_shape`` (N may be None): one forward on zeros."""
        shape = tuple(1 if s is None else s for s in input_shape)
        dtype = next((p.dtype for p in self.parameters()), np.dtype(np.float32))
        with recording.no_grad(), evaluating(self):
            out = self(np.zeros(shape, dtype=dtype))
        outs = out if isinstance(out, tuple) else (out,)
        shapes = [(input_shape[0], *o.shape[1:]) for o in outs]
        return shapes[0] if len(shapes) == 1 else tuple(shapes)

    def summary(self, input_shape, file=None):
        """Print (and return) the table of this model's recorded calls: name, output shape, parameters.

        ``input_shape`` is one sample's shape, e.g. (1, 28, 28); N is shown as None.
        """
        from .summary import summary_table

        text = summary_table(self, input_shape)
        print(text, file=file)
        return text


def trace(model, *inputs):
    """Run ``model`` on ``inputs`` in eval mode, keeping every top-level call's outputs.

    Returns (output, [(call, outputs)]): ``call.layer`` is the layer, ``outputs`` a tuple of the
    arrays it returned, in the order of the calls (convnp.viz shows them as feature maps).
    """
    with evaluating(model):
        out, tape = recording.record(model, inputs, keep_outputs=True)
    return out, tape
