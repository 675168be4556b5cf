"""Arrays as compact JSON for the page: uint8 values in base64 with the scale that maps them back.

A feature map is sent as bytes 0..255 (its own minimum to its own maximum) plus that minimum
and maximum, so the page can colour it and still say what the values were; a kernel as bytes
centred on 128 (zero) with the layer's largest |weight|. 28x28 maps of 6 channels are 4.7 kB.
"""
import base64

import numpy as np

MAX_CHANNELS = 64         # feature maps sent per layer (the payload says how many exist)
MAX_VECTOR = 4096         # values sent of a layer whose output is a vector
MAX_FILTERS, MAX_FILTER_INPUTS = 64, 16


def b64(array):
    """uint8 array -> base64 text of its bytes in C order."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).decode("ascii")


def to_bytes(values, lo, hi):
    """``values`` mapped linearly from [lo, hi] to 0..255 (0 where hi == lo; non-finite as lo)."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=lo, posinf=hi, neginf=lo)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.rint(np.clip((values - lo) / span, 0, 1) * 255).astype(np.uint8)


def pixels_json(pixels, inverted):
    """The input as the network sees it: uint8 (C, H, W)."""
    return {"shape": list(pixels.shape), "data": b64(pixels), "inverted": bool(inverted)}


def layer_json(index, name, layer, out):
    """One layer's output for one image: a grid of channel maps (C, H, W), or a vector."""
    row = {"index": index, "name": name, "type": type(layer).__name__, "shape": list(out.shape)}
    if out.ndim == 3:
        shown = out[:MAX_CHANNELS].astype(np.float64)
        lo = np.nan_to_num(shown.min(axis=(1, 2)))
        hi = np.nan_to_num(shown.max(axis=(1, 2)))
        data = to_bytes(shown, lo[:, None, None], hi[:, None, None])
        return {**row, "kind": "maps", "shown": int(shown.shape[0]), "data": b64(data),
                "min": lo.tolist(), "max": hi.tolist()}
    flat = out.reshape(-1)[:MAX_VECTOR].astype(np.float64)
    lo, hi = float(np.nan_to_num(flat.min())), float(np.nan_to_num(flat.max()))
    return {**row, "kind": "vector", "shown": int(flat.size), "data": b64(to_bytes(flat, lo, hi)),
            "min": lo, "max": hi}


def saliency_json(sal):
    """A saliency map (H, W) as bytes from 0 to its maximum."""
    hi = float(np.nan_to_num(np.max(sal)))
    return {"shape": list(sal.shape), "data": b64(to_bytes(sal, 0.0, hi)), "max": hi}


def filters_json(conv, weights):
    """A conv layer's kernels (F, C, KH, KW), at most MAX_FILTERS x MAX_FILTER_INPUTS of them,
    as bytes with 128 for zero and 0 / 255 for -vmax / +vmax (vmax the largest |weight|)."""
    shown = weights[:MAX_FILTERS, :MAX_FILTER_INPUTS].astype(np.float64)
    vmax = float(np.nan_to_num(np.abs(weights).max())) if weights.size else 0.0
    vmax = vmax or 1.0                    # all zero: every kernel at 128, white
    return {"repr": repr(conv), "shape": list(weights.shape), "shown": list(shown.shape),
            "data": b64(to_bytes(shown, -vmax, vmax)), "vmax": vmax}
