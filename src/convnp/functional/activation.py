"""PLACEHOLDER: being written."""

def relu_forward(*args, **kwargs):
    raise NotImplementedError('relu_forward')


def relu_backward(*args, **kwargs):
    raise NotImplementedError('relu_backward')


def leaky_relu_forward(*args, **kwargs):
    raise NotImplementedError('leaky_relu_forward')


def leaky_relu_backward(*args, **kwargs):
    raise NotImplementedError('leaky_relu_backward')


def elu_forward(*args, **kwargs):
    raise NotImplementedError('elu_forward')


def elu_backward(*args, **kwargs):
    raise NotImplementedError('elu_backward')


def gelu_forward(*args, **kwargs):
    raise NotImplementedError('gelu_forward')


def gelu_backward(*args, **kwargs):
    raise NotImplementedError('gelu_backward')


def sigmoid_forward(*args, **kwargs):
    raise NotImplementedError('sigmoid_forward')


def sigmoid_backward(*args, **kwargs):
    raise NotImplementedError('sigmoid_backward')


def tanh_forward(*args, **kwargs):
    raise NotImplementedError('tanh_forward')


def tanh_backward(*args, **kwargs):
    raise NotImplementedError('tanh_backward')


def softmax_forward(*args, **kwargs):
    raise NotImplementedError('softmax_forward')


def softmax_backward(*args, **kwargs):
    raise NotImplementedError('softmax_backward')


def log_softmax_forward(*args, **kwargs):
    raise NotImplementedError('log_softmax_forward')


def log_softmax_backward(*args, **kwargs):
    raise NotImplementedError('log_softmax_backward')


