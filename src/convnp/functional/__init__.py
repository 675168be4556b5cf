"""Pure math, no state: each op is a ``*_forward(...) -> (out, cache)`` and ``*_backward(dout, cache)`` pair."""
from .columns import col2im, conv_output_size, im2col, resolve_padding
from .conv import conv2d_forward, conv2d_backward
from .conv_transpose import conv_transpose2d_forward, conv_transpose2d_backward
from .padding import pad, pad_forward, pad_backward
from .resize import (interpolate, interpolate_forward, interpolate_backward, pixel_shuffle_forward,
                     pixel_shuffle_backward, pixel_unshuffle_forward, pixel_unshuffle_backward)
from .pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward, pool_output_size
from .pool_adaptive import (adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward, adaptive_max_pool2d_backward,
                            adaptive_max_pool2d_forward, global_avg_pool2d_backward, global_avg_pool2d_forward)
from .unpool import max_unpool2d_forward, max_unpool2d_backward
from .linear import linear_forward, linear_backward
from .erf import erf
from .activation import relu_forward, relu_backward, leaky_relu_forward, leaky_relu_backward, elu_forward, elu_backward, gelu_forward, gelu_backward, sigmoid_forward, sigmoid_backward, tanh_forward, tanh_backward
from .activation_hard import (hardsigmoid_backward, hardsigmoid_forward, hardswish_backward, hardswish_forward,
                              hardtanh_backward, hardtanh_forward, prelu_backward, prelu_forward, relu6_backward,
                              relu6_forward)
from .activation_smooth import (celu_backward, celu_forward, logsigmoid_backward, logsigmoid_forward, mish_backward,
                                mish_forward, selu_backward, selu_forward, silu_backward, silu_forward,
                                softplus_backward, softplus_forward, softsign_backward, softsign_forward)
from .softmax import softmax_forward, softmax_backward, log_softmax_forward, log_softmax_backward
from .norm import batch_norm_forward, batch_norm_backward
from .sync_batch_norm import sync_batch_norm_forward, sync_batch_norm_backward
from .layer_norm import group_norm_backward, group_norm_forward, layer_norm_backward, layer_norm_forward
from .instance_norm import instance_norm_backward, instance_norm_forward
from .local_response_norm import local_response_norm_backward, local_response_norm_forward
from .dropout import dropout_forward, dropout_backward, dropout2d_forward, dropout2d_backward
from .reduction import check_reduction
from .cross_entropy import cross_entropy_forward, cross_entropy_backward, nll_forward, nll_backward
from .binary_cross_entropy import (binary_cross_entropy_backward, binary_cross_entropy_forward,
                                   binary_cross_entropy_with_logits_backward, binary_cross_entropy_with_logits_forward)
from .regression_loss import (huber_backward, huber_forward, l1_backward, l1_forward, mse_backward, mse_forward,
                              smooth_l1_backward, smooth_l1_forward)
from .kl_div import kl_div_backward, kl_div_forward
