"""PLACEHOLDER: being written."""
from .module import Layer

class Linear(Layer):
    pass


class Flatten(Layer):
    pass


class Identity(Layer):
    pass


