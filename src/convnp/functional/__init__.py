"""Pure math, no state: each op is a ``*_forward(...) -> (out, cache)`` and ``*_backward(dout, cache)`` pair."""
from .columns import col2im, conv_output_size, im2col, resolve_padding
from .conv import conv2d_forward, conv2d_backward
from .pool import (adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward, avg_pool2d_backward,
                   avg_pool2d_forward, global_avg_pool2d_backward, global_avg_pool2d_forward,
                   max_pool2d_backward, max_pool2d_forward, pool_output_size)
from .linear import linear_forward, linear_backward
from .activation import erf, relu_forward, relu_backward, leaky_relu_forward, leaky_relu_backward, elu_forward, elu_backward, gelu_forward, gelu_backward, sigmoid_forward, sigmoid_backward, tanh_forward, tanh_backward, softmax_forward, softmax_backward, log_softmax_forward, log_softmax_backward
from .norm import batch_norm_forward, batch_norm_backward
from .sync_batch_norm import sync_batch_norm_forward, sync_batch_norm_backward
from .dropout import dropout_forward, dropout_backward
from .loss import cross_entropy_forward, cross_entropy_backward, mse_forward, mse_backward, nll_forward, nll_backward
