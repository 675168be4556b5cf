"""Constant folding of the small shape computations exporters write around a node.

PyTorch's exporter, for example, computes a Pad's pads with ConstantOfShape, Concat, Reshape,
Slice, Transpose and Cast on constants. A node of FOLDABLE whose inputs are all constants is
evaluated once, when the file is read, by onnx's reference implementation of that operator
(``onnx.reference``; an operator of convnp's list, never code from the file), and its output
becomes a constant. Sizes are bounded before evaluating; arithmetic folds on integers only, so
that weights stay initializers (parameters once imported).
"""
import math

import numpy as np

FOLDABLE = {"Cast", "Concat", "ConstantOfShape", "Gather", "Reshape", "Slice", "Squeeze", "Transpose",
            "Unsqueeze", "Add", "Sub", "Mul", "Div", "Neg"}
ARITHMETIC = {"Add", "Sub", "Mul", "Div", "Neg"}
MAX_VALUES = 65_536


def fold(node, inputs, opset):
    """The outputs of ``node`` on the constant arrays ``inputs`` (None for an absent input), or None
    when it is not folded (not in FOLDABLE, too large, or float arithmetic)."""
    present = [a for a in inputs if a is not None]
    if node.op_type not in FOLDABLE or any(a.size > MAX_VALUES for a in present):
        return None
    if node.op_type in ARITHMETIC and any(a.dtype.kind not in "iu" for a in present):
        return None
    if node.op_type == "ConstantOfShape" and math.prod(int(d) for d in present[0].ravel()) > MAX_VALUES:
        return None
    from onnx.reference import ReferenceEvaluator

    feeds = {name: array for name, array in zip(node.input, inputs) if name}
    outputs = ReferenceEvaluator(node, opsets={"": opset}).run(None, feeds)
    return [np.asarray(o) for o in outputs]
