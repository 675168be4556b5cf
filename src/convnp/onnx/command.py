"""The command line's ONNX parts: ``convnp export MODEL --onnx OUT.onnx [--check]``, and .onnx model files.

    convnp export runs/<ts>/model.npz --onnx lenet5.onnx --check
    convnp predict lenet5.onnx digit.png          # an .onnx file wherever a model file is taken

Kept here so that cli.py only registers the command and hands .onnx paths over.
"""
import os


def add_export(sub):
    """Add the ``export`` command to the command line's sub-parsers."""
    e = sub.add_parser("export", help="write a model file (.npz or .onnx) as ONNX, optionally checked by ONNX Runtime")
    e.add_argument("model", metavar="MODEL")
    e.add_argument("--onnx", required=True, metavar="OUT", help="the .onnx file to write")
    e.add_argument("--check", action="store_true",
                   help="run OUT in ONNX Runtime on a random batch and print the largest difference from convnp")
    e.add_argument("--input-shape", default=None, help="C,H,W of one sample (default: recorded in MODEL)")
    e.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    e.add_argument("--static-batch", action="store_true", help="batch size 1 instead of any (the symbol N)")
    e.set_defaults(run=cmd_export)


def cmd_export(args):
    from .. import cli
    from . import export
    from .runtime import check

    model, meta = cli._load_model(args.model)
    shape = cli._shape(args.input_shape) if args.input_shape else meta.get("input_shape")
    if not shape and hasattr(model, "graph"):             # an imported model saved as .npz
        shape = model.input_shape()
    if not shape:
        raise cli.CLIError(f"{args.model} does not record its input shape; give --input-shape C,H,W")
    shape = tuple(int(d) for d in shape)
    try:
        proto = export(model, args.onnx, shape, opset=args.opset, dynamic_batch=not args.static_batch)
        print(f"wrote {args.onnx}: {len(proto.graph.node)} nodes, opset {args.opset},"
              f" input {'N' if not args.static_batch else 1}x{'x'.join(map(str, shape))}")
        if args.check:
            batch = 1 if args.static_batch else 5
            difference = check(model, args.onnx, shape, batch_size=batch)
            print(f"ONNX Runtime agrees with convnp: largest difference {difference:.3g} on a random batch of {batch}")
    except ImportError as e:   # onnx or onnxruntime missing: the message says what to install
        raise cli.CLIError(str(e)) from None
    return 0


def load(path):
    """(model, metadata) for an .onnx file given as MODEL: an OnnxModel, its input shape if fixed."""
    from .. import cli
    from .reader import load as load_onnx

    try:
        model = load_onnx(os.fspath(path))
    except ImportError as e:
        raise cli.CLIError(str(e)) from None
    shape = model.input_shape()
    return model, ({"input_shape": list(shape)} if shape else {})
