"""PLACEHOLDER: being written."""

def dropout_forward(*args, **kwargs):
    raise NotImplementedError('dropout_forward')


def dropout_backward(*args, **kwargs):
    raise NotImplementedError('dropout_backward')


