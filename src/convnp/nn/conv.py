"""PLACEHOLDER: being written."""
from .module import Layer

class Conv2d(Layer):
    pass


