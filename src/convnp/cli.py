"""The ``convnp`` command line: argparse only; it parses, calls the library, returns an exit code.

    convnp train [--model lenet5] [--dataset mnist-sample] [--epochs N] [--out DIR] ...
    convnp train --resume DIR/last.npz             # continue a run in its folder, as planned
    convnp evaluate MODEL [--dataset ...]
    convnp predict MODEL IMAGE... [--invert auto|yes|no]
    convnp summary MODEL | --model NAME
    convnp visualize MODEL [IMAGE] [--layer N|all] [--filters] [--saliency] [--out FILE]
    convnp serve [MODEL ...] [--host 127.0.0.1] [--port 8000] [--runs DIR]

Every mistake (a missing file, an unknown model, a model that does not fit the data, a
folder that holds another run, a full disk) prints one line ``convnp: error: ...`` on
stderr and returns 2; never a traceback. The train command lives in cli_train.py.
"""
import argparse
import os
import sys

import numpy as np

DATASETS = ("mnist-sample", "mnist", "fashion-mnist", "cifar10", "cifar100", "folder:PATH")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
SCHEDULES = ("cosine", "constant")
INVERT = ("auto", "yes", "no")


class CLIError(Exception):
    """A user mistake: printed as one line, exit code 2."""


def main(argv=None):
    """Run the command line on ``argv`` (default: sys.argv[1:]); returns the exit code.

    0 on success, 2 for any error (a user mistake, bad arguments, a value, file or disk
    the library refuses, a training run that diverged), 130 when interrupted.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from .train import TrainingError

    try:
        return args.run(args)
    except BrokenPipeError:  # `convnp summary ... | head` stopped reading: not an error to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 1
    except (CLIError, ValueError, TypeError, OSError, ImportError, TrainingError) as e:
        print(f"convnp: error: {_message(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("convnp: interrupted", file=sys.stderr)
        return 130


def _message(e):
    """``e`` as one line; an OSError as "strerror: filename" rather than "[Errno 28] ..."."""
    text = str(e)
    if isinstance(e, OSError) and e.strerror and text.startswith("[Errno"):
        text = e.strerror + (f": {e.filename}" if e.filename else "")
    return " ".join(text.split())


def _parser():
    from . import __version__, onnx
    from .cli_train import add_train_parser

    p = argparse.ArgumentParser(prog="convnp", description="Convolutional networks in plain NumPy.")
    p.add_argument("--version", action="version", version=f"convnp {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    add_train_parser(sub)

    e = sub.add_parser("evaluate", help="test accuracy and per-class report of a saved model")
    e.add_argument("model", metavar="MODEL")
    dataset_args(e, default=None)
    e.set_defaults(run=cmd_evaluate)

    pr = sub.add_parser("predict", help="class and probability for each image file")
    pr.add_argument("model", metavar="MODEL")
    pr.add_argument("images", metavar="IMAGE", nargs="+")
    _invert_arg(pr)
    pr.set_defaults(run=cmd_predict)

    s = sub.add_parser("summary", help="layer table of a saved model or a named architecture")
    s.add_argument("model", metavar="MODEL", nargs="?")
    s.add_argument("--model", dest="name", default=None, help="an architecture name instead of a file")
    s.add_argument("--input-shape", default=None, help="C,H,W (default: from the file, or 1,28,28 / 3,32,32)")
    s.set_defaults(run=cmd_summary)

    v = sub.add_parser("visualize", help="feature maps of an image, a conv layer's filters, or a saliency map")
    v.add_argument("model", metavar="MODEL")
    v.add_argument("image", metavar="IMAGE", nargs="?", help="an image file (needed for maps and saliency)")
    v.add_argument("--layer", default="all", help="feature maps of layer N of the model, or all (default)")
    v.add_argument("--filters", action="store_true", help="draw the first conv layer's kernels (no IMAGE)")
    v.add_argument("--saliency", action="store_true", help="where the image moves the predicted class's score")
    v.add_argument("--target", type=int, default=None, help="with --saliency: the class (default: predicted)")
    v.add_argument("--out", default=None, help="PNG file to write (default: <kind>.png here)")
    _invert_arg(v)
    v.set_defaults(run=cmd_visualize)

    sv = sub.add_parser("serve", help="a local web page: draw a digit, see the prediction and every layer")
    sv.add_argument("models", metavar="MODEL", nargs="*", help="model files (default: runs/*/model.npz)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free port")
    sv.add_argument("--runs", default=None, metavar="DIR", help="also offer DIR/*/model.npz; the page's train"
                    " button writes there (default: runs, when no MODEL is given)")
    sv.set_defaults(run=cmd_serve)
    onnx.command.add_export(sub)       # convnp export MODEL --onnx OUT.onnx [--check]
    return p


def dataset_args(p, default="mnist-sample"):
    p.add_argument("--dataset", default=default, help=" | ".join(DATASETS))
    p.add_argument("--data-dir", default=None, help="folder holding the dataset's files (no download)")


def _invert_arg(p):
    p.add_argument("--invert", default="auto", choices=INVERT,
                   help="invert grey images: auto (default) when the image's border is light and the model's"
                        " training images had a dark one (MNIST digits are white on black), yes, or no")


# -- commands ------------------------------------------------------------------------------
def cmd_evaluate(args):
    from . import metrics, train

    model, meta = _load_model(args.model)
    name = args.dataset or _dataset_from_meta(meta, args.model)
    data_dir = args.data_dir or ((meta.get("plan") or {}).get("data_dir") if args.dataset is None else None)
    _, test_set = load_dataset(name, data_dir)
    check_fits(model, meta, test_set, args.model)
    y_pred = train.predict_classes(model, test_set.images)
    print(f"{args.model} on {test_set.name} ({len(test_set)} images)")
    print(f"test accuracy: {metrics.accuracy(test_set.labels, y_pred):.4f}")
    print(metrics.classification_report(test_set.labels, y_pred, class_names=test_set.classes))
    return 0


def cmd_predict(args):
    from . import train

    model, meta = _load_model(args.model)
    shape = _input_shape(meta, args.model)
    classes = meta.get("classes") or []
    images = [load_image(path, shape, meta, args.invert) for path in args.images]
    probs = train.predict(model, np.stack([x for x, _ in images]))
    for path, (_, inverted), p in zip(args.images, images, probs):
        k = int(p.argmax())
        label = classes[k] if k < len(classes) else k
        print(f"{path}: {label} ({p[k]:.3f}{', inverted' if inverted else ''})")
    return 0


def cmd_summary(args):
    from . import models
    from .nn.summary import summary_table

    if (args.model is None) == (args.name is None):
        raise CLIError("give either a model file or --model NAME")
    if args.name:
        try:
            model = models.get(args.name)
        except ValueError as e:
            raise CLIError(str(e)) from None
        shape = models.INPUT_SHAPES[args.name]
    else:
        model, meta = _load_model(args.model, finite=False)   # the layers of a diverged model are still worth seeing
        shape = tuple(meta.get("input_shape") or (1, 28, 28))
    if args.input_shape:
        shape = _shape(args.input_shape)
    print(summary_table(model, shape))
    return 0


def cmd_visualize(args):
    from . import viz
    from .atomic import atomic_write

    if args.filters and args.saliency:
        raise CLIError("choose one of --filters and --saliency")
    kind = "filters" if args.filters else "saliency" if args.saliency else "feature_maps"
    layer = _layer_arg(args.layer)
    if args.filters and args.image:
        raise CLIError("--filters draws the model's kernels and takes no IMAGE")
    if not args.filters and not args.image:
        raise CLIError(f"{kind.replace('_', ' ')} need an IMAGE")
    out = args.out or f"{kind}.png"
    _check_picture_path(out, args)
    model, meta = _load_model(args.model)
    x = None if args.filters else load_image(args.image, _input_shape(meta, args.model), meta, args.invert,
                                             who="visualize")[0]
    try:  # matplotlib is optional: the viz functions say how to install it
        if args.filters:
            fig = viz.filters(model)
        elif args.saliency:
            fig = viz.saliency(model, x, target=args.target)
        else:
            fig = viz.feature_maps(model, x, layer=layer)
    except ImportError as e:
        raise CLIError(str(e)) from None
    with atomic_write(out) as f:   # a failed write leaves an older picture as it was
        fig.savefig(f, format=os.path.splitext(out)[1][1:] or "png", dpi=fig.dpi)
    _close(fig)
    print(f"wrote {out}")
    return 0


def _check_picture_path(out, args):
    """Refuse an --out that would overwrite the command's own model or image, or a model file."""
    for given in (args.model, args.image):
        if given and os.path.exists(out) and os.path.exists(given) and os.path.samefile(out, given):
            raise CLIError(f"--out {out} is the command's own input {given}; choose another --out")
    if out.lower().endswith(".npz"):
        raise CLIError(f"--out {out} names a model file; give a picture's name, e.g. maps.png")


def _close(fig):
    import matplotlib.pyplot as plt

    plt.close(fig)


def cmd_serve(args):
    try:
        from .serve import serve
    except ImportError as e:
        raise CLIError(str(e)) from None
    return serve(args.models, host=args.host, port=args.port, runs=args.runs)


def _layer_arg(text):
    if text == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        raise CLIError(f"--layer must be a layer index or all, got {text!r}") from None


def _shape(text):
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise CLIError(f"--input-shape must be C,H,W with positive integers, e.g. 1,28,28; got {text!r}")
    return shape


# -- helpers -------------------------------------------------------------------------------
def load_dataset(name, data_dir=None):
    """(train, test) Datasets for a --dataset value; raises CLIError with a hint when absent.

    ``folder:PATH`` reads PATH/<class>/<image> as 28x28 grayscale and holds out a fixed
    random 20% as the test split; it needs at least 2 classes.
    """
    from . import data

    try:
        if name == "mnist-sample":
            return data.mnist_sample(train=True), data.mnist_sample(train=False)
        if name.startswith("folder:"):
            return _split(data.image_folder(name[len("folder:"):], size=(28, 28)), 0.2)
        loaders = {"mnist": data.mnist, "fashion-mnist": data.fashion_mnist,
                   "cifar10": data.cifar10, "cifar100": data.cifar100}
        if name not in loaders:
            raise CLIError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
        load = loaders[name]
        return load(data_dir, train=True), load(data_dir, train=False)
    except ImportError as e:   # Pillow, for folder:PATH
        raise CLIError(str(e)) from None
    except OSError as e:  # missing folder or file, every mirror unreachable
        hint = "" if "--data-dir" in str(e) else (" (use --data-dir DIR for local files, or --dataset mnist-sample,"
                                                   " which is bundled)")
        raise CLIError(f"{e}{hint}") from None


def _split(dataset, test_fraction):
    """(train, test) subsets of ``dataset``, the test one a fixed random ``test_fraction``."""
    if len(dataset.classes) < 2:
        raise CLIError(f"{dataset.name} has one class ({dataset.classes[0]}); a classifier needs at least 2:"
                       " one sub-folder per class")
    order = np.random.default_rng(0).permutation(len(dataset))
    n_test = max(1, int(round(len(dataset) * test_fraction)))
    return dataset.subset(np.sort(order[n_test:])), dataset.subset(np.sort(order[:n_test]))


def load_image(path, shape, meta, invert="auto", who="predict"):
    """(pixels, inverted): an image file as uint8 (C, H, W) of ``shape``, maybe inverted.

    Grey or RGB as the model takes, resized. ``invert`` "yes" inverts; "auto" inverts a grey
    image whose border is light (mean > 127.5) when the model's training images had a dark
    border ("border_mean" in its metadata; MNIST's when there is none), and the other way round.
    """
    from .data import load_image as read

    channels, height, width = shape
    try:
        x = read(path, size=(height, width), mode="L" if channels == 1 else "RGB", who=who)
    except ImportError as e:
        raise CLIError(str(e)) from None
    light = border_mean(x) > 127.5
    trained_light = meta.get("border_mean", 0.0) > 127.5
    flip = invert == "yes" or (invert == "auto" and channels == 1 and light != trained_light)
    return (255 - x if flip else x), flip


def border_mean(images):
    """The mean of the outermost rows and columns of uint8 images (..., H, W)."""
    images = np.asarray(images)
    edges = [images[..., 0, :], images[..., -1, :], images[..., 1:-1, 0], images[..., 1:-1, -1]]
    return float(sum(e.sum(dtype=np.float64) for e in edges) / sum(e.size for e in edges))


def _load_model(path, finite=True):
    """(model, metadata) of a model file (.npz, or .onnx: convnp.onnx); with ``finite``, refuse
    NaN or infinite weights in an .npz."""
    from . import io, onnx

    if not os.path.exists(path):
        raise CLIError(f"no such model file: {path}")
    if str(path).lower().endswith(".onnx"):
        return onnx.command.load(path)
    ckpt = io.load(path, with_optimizer=True)
    if finite:
        state = ckpt.model.state_dict()
        bad = [k for k, v in state.items() if np.asarray(v).dtype.kind == "f" and not np.isfinite(v).all()]
        if bad:
            more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            raise CLIError(f"{path}: the weights {', '.join(bad[:3])}{more} hold NaN or infinite values, so every"
                           " answer would be meaningless (did its training diverge?)")
    return ckpt.model, ckpt.metadata if isinstance(ckpt.metadata, dict) else {}


def check_fits(model, meta, dataset, path):
    """CLIError unless ``model`` takes the dataset's images and has one output per class."""
    c, h, w = dataset.images.shape[1:]
    try:
        out = tuple(model.output_shape((None, c, h, w)))
    except ValueError as e:
        raise CLIError(f"{path} does not fit {dataset.name}'s {c}x{h}x{w} images: {e}") from None
    k = len(dataset.classes)
    if out != (None, k):
        raise CLIError(f"{path} has {out[-1]} outputs but {dataset.name} has {k} classes; give the --dataset"
                       " it was trained on")
    saved = meta.get("classes")
    if saved is not None and [str(c) for c in saved] != list(dataset.classes):
        raise CLIError(f"{path} was trained on the classes {_names(saved)} but {dataset.name} has"
                       f" {_names(dataset.classes)}; give the --dataset it was trained on")


def _names(classes, limit=5):
    shown = ", ".join(str(c) for c in classes[:limit])
    return f"[{shown}{', ...' if len(classes) > limit else ''}]"


def _input_shape(meta, path):
    shape = meta.get("input_shape")
    if not shape:
        raise CLIError(f"{path} does not record its input shape (metadata 'input_shape', which `convnp train`"
                       " writes into model.npz and last.npz)")
    return shape


def _dataset_from_meta(meta, path):
    """The --dataset value recorded by `convnp train` (mnist-sample for a file that has none)."""
    name = meta.get("dataset", "mnist-sample")
    if name not in DATASETS and not str(name).startswith("folder:"):
        raise CLIError(f"{path} was trained on {name!r}, which is not a --dataset value; give --dataset")
    return name


if __name__ == "__main__":
    sys.exit(main())
