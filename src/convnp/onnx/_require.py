"""The optional ``onnx`` and ``onnxruntime`` packages, imported only where a function needs them."""


def onnx_package(who):
    """The ``onnx`` module, or ImportError saying how to install it (``who`` names the caller)."""
    try:
        import onnx
    except ImportError:
        raise ImportError(f"{who} needs the onnx package: pip install 'convnp[onnx]'") from None
    return onnx


def onnxruntime_package(who):
    """The ``onnxruntime`` module, or ImportError saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(f"{who} needs ONNX Runtime: pip install 'convnp[onnx]'") from None
    return onnxruntime
