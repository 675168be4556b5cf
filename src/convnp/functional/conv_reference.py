"""The convolution written as its definition: the plain version the tuned ``conv.py`` is tested against.

No chunks, no workspace, no choice of path: one group at a time, the formulas of
docs/im2col.md and docs/conv_backward.md as they are written there.
    forward:              y = W.reshape(F, -1) @ im2col(x) + b
    backward, way one:    dW = dY @ X.T,  dx = col2im(W.T @ dY)          (docs/conv_backward.md, 3)
    backward, way two:    dx = dy, stride - 1 zeros between its entries, padded by D*(K - 1) and
                          correlated with the flipped kernel; dW = x correlated with that dy (4, 5)
Arguments as conv2d_forward's (stride, dilation: int or pair; padding: int, pair, 'valid', 'same').
"""
import numpy as np

from .. import checks
from .columns import col2im, im2col, resolve_padding, window_geometry


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, f, i, j] = b[f] + sum over c, p, q of W[f, c, p, q] * x_pad[n, g*C_g + c, i*S + p*D, j*S + q*D]."""
    (oh, ow) = window_geometry(x.shape, weight.shape[2:], stride, padding, dilation, "conv2d").out_size
    y = np.concatenate([w.reshape(len(w), -1) @ im2col(xg, w.shape[2:], stride, padding, dilation)
                        for xg, w in zip(np.split(x, groups, 1), np.split(weight, groups, 0))])
    y = y.reshape(len(weight), len(x), oh, ow).transpose(1, 0, 2, 3)  # (F, N*OH*OW) -> (N, F, OH, OW)
    return y if bias is None else y + bias.reshape(-1, 1, 1)


def conv2d_backward_col2im(dy, x, weight, stride=1, padding=0, dilation=1, groups=1):
    """(dx, dW, db), way one, per group: dW = dY @ X.T and dx = col2im(W.T @ dY), X = im2col(x)."""
    dxs, dws = [], []
    for xg, w, dyg in zip(np.split(x, groups, 1), np.split(weight, groups, 0), np.split(dy, groups, 1)):
        X = im2col(xg, w.shape[2:], stride, padding, dilation)   # (C_g*KH*KW, N*OH*OW)
        dY = dyg.transpose(1, 0, 2, 3).reshape(len(w), -1)        # (F_g, N*OH*OW), columns (n, i, j)
        dws.append((dY @ X.T).reshape(w.shape))
        dxs.append(col2im(w.reshape(len(w), -1).T @ dY, xg.shape, w.shape[2:], stride, padding, dilation))
    return np.concatenate(dxs, axis=1), np.concatenate(dws), dy.sum(axis=(0, 2, 3))


def conv2d_backward_full(dy, x, weight, stride=1, padding=0, dilation=1, groups=1):
    """(dx, dW, db), way two: the full convolution of the dilated dy with the flipped kernel."""
    f, c_g, kh, kw = weight.shape
    (sh, sw), (dh, dw) = checks.pair(stride, "stride", "conv2d"), checks.pair(dilation, "dilation", "conv2d")
    top, bottom, left, right = resolve_padding(padding, (kh, kw), (sh, sw), (dh, dw))
    x_pad = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    # dy back on the stride-1 grid: the size a stride-1 output would have, S - 1 zeros between entries
    dy_dil = np.zeros(dy.shape[:2] + (x_pad.shape[2] - dh * (kh - 1), x_pad.shape[3] - dw * (kw - 1)), dy.dtype)
    dy_dil[:, :, ::sh, ::sw] = dy
    # dx: flip the kernel and swap its in/out channels in each group, (C, F/groups, KH, KW)
    w_flip = weight.reshape(groups, f // groups, c_g, kh, kw)[..., ::-1, ::-1].transpose(0, 2, 1, 3, 4)
    dx_pad = conv2d(dy_dil, w_flip.reshape(-1, f // groups, kh, kw), None, 1, (dh * (kh - 1), dw * (kw - 1)),
                    (dh, dw), groups)
    # dW[f, c, p, q] = sum over n, h, w of dy_dil[n, f, h, w] * x_pad[n, c, h + p*D, w + q*D]: N is the summed axis
    dW = np.concatenate([conv2d(xg.transpose(1, 0, 2, 3), dg.transpose(1, 0, 2, 3), stride=(dh, dw))
                         for xg, dg in zip(np.split(x_pad, groups, 1), np.split(dy_dil, groups, 1))], axis=1)
    h, w = x.shape[2:]
    return dx_pad[:, :, top : top + h, left : left + w], dW.transpose(1, 0, 2, 3), dy.sum(axis=(0, 2, 3))


__all__ = ["conv2d", "conv2d_backward_col2im", "conv2d_backward_full"]
