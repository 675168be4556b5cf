"""PLACEHOLDER: being written."""
from .module import Layer

class BatchNorm1d(Layer):
    pass


class BatchNorm2d(Layer):
    pass


