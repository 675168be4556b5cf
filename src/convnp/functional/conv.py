"""PLACEHOLDER: being written."""

def conv2d_forward(*args, **kwargs):
    raise NotImplementedError('conv2d_forward')


def conv2d_backward(*args, **kwargs):
    raise NotImplementedError('conv2d_backward')


def im2col(*args, **kwargs):
    raise NotImplementedError('im2col')


def col2im(*args, **kwargs):
    raise NotImplementedError('col2im')


def conv_output_size(*args, **kwargs):
    raise NotImplementedError('conv_output_size')


