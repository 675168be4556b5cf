"""Containers: Sequential (a chain), Residual (y = block(x) + shortcut(x)), ModuleList, ModuleDict.

Sequential and Residual are Models: their forward is the loop or the sum, and their backward is
the replay of the recorded calls, as for any model (a layer may appear in a chain twice).
"""
from .merge import add
from .model import Model
from .module import Layer


class Sequential(Model):
    """Layers applied one after another; backward runs them in reverse.

    Children are named "0", "1", ... as in torch.nn.Sequential, so state_dict keys
    ("0.weight", "3.running_mean") match PyTorch's.
    """

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: argument {i} is not a Layer, got {type(layer).__name__}")
        self.layers = ModuleList(layers)

    def children(self):
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def config(self):
        return {}   # model files describe a Sequential by its layers (io/architecture.py)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def append(self, layer):
        self.layers.append(layer)
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)


class Residual(Model):
    """y = block(x) + shortcut(x), shortcut the identity when None (ResNet's skip connection).

    Shape: block(x) and shortcut(x) must have the same shape.
    backward: dx = block.backward(dy) + shortcut.backward(dy)   (dy itself for the identity)
    """

    def __init__(self, block, shortcut=None):
        super().__init__()
        for what, layer in (("block", block), ("shortcut", shortcut)):
            if layer is not None and not isinstance(layer, Layer):
                raise TypeError(f"Residual: {what} must be a Layer, got {type(layer).__name__}")
        self.block = block
        self.shortcut = shortcut

    def config(self):
        return {}   # model files describe a Residual by its block and shortcut

    def forward(self, x):
        y = self.block(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if y.shape != s.shape:
            raise ValueError(
                f"Residual: block output {tuple(y.shape)} and shortcut output {tuple(s.shape)} differ;"
                " give a shortcut that maps the input to the block's output shape"
            )
        return add(y, s)

    def output_shape(self, input_shape):
        return self.block.output_shape(input_shape)


class ModuleList(Layer):
    """A list of layers whose parameters a model finds (torch.nn.ModuleList); children "0", "1", ...

    Not callable itself: a model's forward calls its layers, in any order, any number of times.
    """

    def __init__(self, layers=()):
        super().__init__()
        self._layers = []
        for layer in layers:
            self.append(layer)

    def children(self):
        return [(str(i), layer) for i, layer in enumerate(self._layers)]

    def append(self, layer):
        if not isinstance(layer, Layer):
            raise TypeError(f"{type(self).__name__}.append: expected a Layer, got {type(layer).__name__}")
        self._layers.append(layer)
        return self

    def extend(self, layers):
        for layer in layers:
            self.append(layer)
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(self._layers[index])
        return self._layers[index]

    def __len__(self):
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)

    def forward(self, *args):
        raise TypeError("ModuleList is not callable: call its layers in your model's forward")


class ModuleDict(Layer):
    """Layers by name, found by parameters() and state_dict() (torch.nn.ModuleDict); keys are the child names."""

    def __init__(self, layers=None):
        super().__init__()
        self._layers = {}
        for name, layer in dict(layers or {}).items():
            self[name] = layer

    def children(self):
        return list(self._layers.items())

    def __setitem__(self, name, layer):
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"ModuleDict: keys must be non-empty strings without '.', got {name!r}")
        if not isinstance(layer, Layer):
            raise TypeError(f"ModuleDict[{name!r}]: expected a Layer, got {type(layer).__name__}")
        self._layers[name] = layer

    def __getitem__(self, name):
        return self._layers[name]

    def __contains__(self, name):
        return name in self._layers

    def __len__(self):
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)

    def keys(self):
        return self._layers.keys()

    def values(self):
        return self._layers.values()

    def items(self):
        return self._layers.items()

    def forward(self, *args):
        raise TypeError("ModuleDict is not callable: call its layers in your model's forward")
