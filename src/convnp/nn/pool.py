"""PLACEHOLDER: being written."""
from .module import Layer

class MaxPool2d(Layer):
    pass


class AvgPool2d(Layer):
    pass


class AdaptiveAvgPool2d(Layer):
    pass


