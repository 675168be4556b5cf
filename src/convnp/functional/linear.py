"""PLACEHOLDER: being written."""

def linear_forward(*args, **kwargs):
    raise NotImplementedError('linear_forward')


def linear_backward(*args, **kwargs):
    raise NotImplementedError('linear_backward')


