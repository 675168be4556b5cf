"""PLACEHOLDER: being written."""
from .module import Layer

class ReLU(Layer):
    pass


class LeakyReLU(Layer):
    pass


class ELU(Layer):
    pass


class GELU(Layer):
    pass


class Sigmoid(Layer):
    pass


class Tanh(Layer):
    pass


class Softmax(Layer):
    pass


class LogSoftmax(Layer):
    pass


