"""PLACEHOLDER: being written."""
from .module import Layer

class Dropout(Layer):
    pass


