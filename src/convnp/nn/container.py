"""Containers: Sequential (a chain of layers) and Residual (y = block(x) + shortcut(x))."""
from .module import Layer


class Sequential(Layer):
    """Layers applied one after another; backward runs them in reverse.

    Children are named "0", "1", ... as in torch.nn.Sequential, so state_dict keys
    ("0.weight", "3.running_mean") match PyTorch's.
    """

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: argument {i} is not a Layer, got {type(layer).__name__}")
        self.layers = list(layers)

    def children(self):
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, dy, input_grad=True):
        """Each layer's backward in reverse order; returns dx, or None when ``input_grad`` is False.

        input_grad=False says that the caller has no use for dx, as in a training step: the
        first layer then skips computing it where it can (a first Conv2d or Linear: no input
        gradient product, no col2im; for LeNet-5 a sixth of the training step).
        """
        if not self.layers:
            return dy if input_grad else None
        for layer in reversed(self.layers[1:]):
            dy = layer.backward(dy)
        dx = self.layers[0].backward(dy, input_grad=input_grad)
        return dx if input_grad else None

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def append(self, layer):
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.append: expected a Layer, got {type(layer).__name__}")
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

    def summary(self, input_shape, file=None):
        """Print (and return) a Keras-style table: layer, output shape, parameter count.

        ``input_shape`` is one sample's shape, e.g. (1, 28, 28); N is shown as None.
        """
        from .summary import summary_table

        text = summary_table(self, input_shape)
        print(text, file=file)
        return text


class Residual(Layer):
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

    def forward(self, x):
        y = self.block(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if y.shape != s.shape:
            raise ValueError(
                f"Residual: block output {tuple(y.shape)} and shortcut output {tuple(s.shape)} differ;"
                " give a shortcut that maps the input to the block's output shape"
            )
        self._cache = True
        return y + s

    def backward(self, dy, input_grad=True):
        self.take_cache()
        dx = self.block.backward(dy, input_grad=input_grad)
        ds = dy if self.shortcut is None else self.shortcut.backward(dy, input_grad=input_grad)
        return dx + ds if input_grad else None

    def output_shape(self, input_shape):
        return self.block.output_shape(input_shape)
