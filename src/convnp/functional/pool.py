"""PLACEHOLDER: being written."""

def max_pool2d_forward(*args, **kwargs):
    raise NotImplementedError('max_pool2d_forward')


def max_pool2d_backward(*args, **kwargs):
    raise NotImplementedError('max_pool2d_backward')


def avg_pool2d_forward(*args, **kwargs):
    raise NotImplementedError('avg_pool2d_forward')


def avg_pool2d_backward(*args, **kwargs):
    raise NotImplementedError('avg_pool2d_backward')


def global_avg_pool2d_forward(*args, **kwargs):
    raise NotImplementedError('global_avg_pool2d_forward')


def global_avg_pool2d_backward(*args, **kwargs):
    raise NotImplementedError('global_avg_pool2d_backward')


def pool_output_size(*args, **kwargs):
    raise NotImplementedError('pool_output_size')


