"""The ``convnp`` command line: argparse only; it parses, calls the library, returns an exit code.

    convnp train [--model lenet5] [--dataset mnist-sample] [--epochs N] ...
    convnp evaluate MODEL [--dataset ...]
    convnp predict MODEL IMAGE...
    convnp summary MODEL | --model NAME
    convnp visualize MODEL [IMAGE] [--layer N|all] [--filters] [--saliency] [--out FILE]
    convnp serve [MODEL ...] [--host 127.0.0.1] [--port 8000] [--runs DIR]

User mistakes (a missing file, an unknown model, a dataset that is not there offline) print
one line on stderr and return a non-zero code; they never print a traceback.
"""
import argparse
import os
import sys
import time

import numpy as np

DATASETS = ("mnist-sample", "mnist", "fashion-mnist", "cifar10", "cifar100", "folder:PATH")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
DEFAULT_EPOCHS = 6   # LeNet-5, Adam lr 2e-3, cosine: 98.05% on the sample's test split (seed 0), ~1.5 s an epoch on 2 idle cores
SCHEDULES = ("cosine", "constant")


class CLIError(Exception):
    """A user mistake: printed as one line, exit code 2."""


def main(argv=None):
    """Run the command line on ``argv`` (default: sys.argv[1:]); returns the exit code.

    0 on success, 2 for a user mistake (CLIError) or bad arguments, 1 when the library
    refuses a value or a file, 130 when interrupted.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from .train import TrainingError

    try:
        return args.run(args)
    except CLIError as e:
        print(f"convnp: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `convnp summary ... | head` stopped reading: not an error to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 1
    except (ValueError, TypeError, OSError, TrainingError) as e:
        print(f"convnp: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("convnp: interrupted", file=sys.stderr)
        return 130


def _parser():
    from . import __version__

    p = argparse.ArgumentParser(prog="convnp", description="Convolutional networks in plain NumPy.")
    p.add_argument("--version", action="version", version=f"convnp {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model (default: LeNet-5 on the bundled MNIST sample)")
    t.add_argument("--model", default=None, help="lenet5 (default), simple_cnn, mnist_cnn, vgg_small, resnet_small")
    _dataset_args(t)
    t.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--optimizer", default=None, choices=OPTIMIZERS, help="default: adam")
    t.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: 2e-3 for adam, 1e-3 for adamw, 0.05 for sgd, 1e-2 otherwise)")
    t.add_argument("--schedule", default=None, choices=SCHEDULES,
                   help="cosine (default: the lr falls to 0 over --epochs) or constant")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default=None, help="output folder (default runs/<timestamp>)")
    t.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue a run from its last.npz (its model and optimizer) up to --epochs in all")
    t.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    t.set_defaults(run=cmd_train)

    e = sub.add_parser("evaluate", help="test accuracy and per-class report of a saved model")
    e.add_argument("model", metavar="MODEL")
    _dataset_args(e, default=None)
    e.set_defaults(run=cmd_evaluate)

    pr = sub.add_parser("predict", help="class and probability for each image file")
    pr.add_argument("model", metavar="MODEL")
    pr.add_argument("images", metavar="IMAGE", nargs="+")
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
    v.set_defaults(run=cmd_visualize)

    sv = sub.add_parser("serve", help="a local web page: draw a digit, see the prediction and every layer")
    sv.add_argument("models", metavar="MODEL", nargs="*", help="model files (default: runs/*/model.npz)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free port")
    sv.add_argument("--runs", default=None, metavar="DIR", help="also offer DIR/*/model.npz; the page's train"
                    " button writes there (default: runs, when no MODEL is given)")
    sv.set_defaults(run=cmd_serve)
    return p


def _dataset_args(p, default="mnist-sample"):
    p.add_argument("--dataset", default=default, help=" | ".join(DATASETS))
    p.add_argument("--data-dir", default=None, help="folder holding the dataset's files (no download)")


# -- commands ------------------------------------------------------------------------------
def cmd_train(args):
    from . import io, metrics, nn, optim, train

    if args.epochs < 1 or args.batch_size < 1:
        raise CLIError(f"--epochs and --batch-size must be >= 1, got {args.epochs} and {args.batch_size}")
    train_set, test_set = load_dataset(args.dataset, args.data_dir)
    if args.resume:
        resume, model, opt, scheduler = _resume(args)
        what = f"resuming {args.resume} (epoch {resume.epoch}) on {train_set.name}"
    else:
        resume = None
        args.model, args.optimizer = args.model or "lenet5", args.optimizer or "adam"
        model = _build_model(args.model, train_set, args.seed)
        opt = _optimizer(args.optimizer, model, args.lr)
        scheduler = optim.CosineAnnealingLR(opt, T_max=args.epochs) if args.schedule != "constant" else None
        what = f"training {args.model} on {train_set.name}"
    out = args.out or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    last = os.path.join(out, "last.npz")
    schedule = f", {type(scheduler).__name__}" if scheduler is not None else ""
    print(f"{what}: {len(train_set)} train / {len(test_set)} test images, {args.epochs} epochs,"
          f" {type(opt).__name__} lr={opt.param_groups[0]['lr']:g}{schedule}, output in {out}")
    history = train.fit(model, train_set, epochs=args.epochs, optimizer=opt, loss=nn.CrossEntropyLoss(),
                        batch_size=args.batch_size, val=test_set, scheduler=scheduler, seed=args.seed,
                        progress=not args.quiet, checkpoint=last, resume=resume)
    if history.stop_reason == "interrupted":
        if os.path.exists(last):
            print(f"interrupted; epoch {len(history)} is saved: continue with --resume {last}")
        else:
            print("interrupted before the first epoch finished; nothing was saved")
        return 130
    meta = {"dataset": args.dataset, "classes": list(train_set.classes),
            "input_shape": list(train_set.images.shape[1:])}
    if args.model:
        meta["model_name"] = args.model
    model_path = os.path.join(out, "model.npz")
    io.save(model_path, model, metadata=meta)
    history.to_csv(os.path.join(out, "history.csv"))
    history.to_json(os.path.join(out, "history.json"))
    _plot_history(history, os.path.join(out, "curves.png"))
    y_pred = train.predict_classes(model, test_set.images)
    print(f"test accuracy: {metrics.accuracy(test_set.labels, y_pred):.4f}")
    print(metrics.classification_report(test_set.labels, y_pred, class_names=[str(c) for c in test_set.classes]))
    print(f"saved {model_path}")
    return 0


def _resume(args):
    """(checkpoint, model, optimizer, scheduler or None) to continue a run: the checkpoint's own.

    The scheduler is rebuilt from its saved class and arguments; fit(resume=...) then loads
    its state, so the schedule continues where it stopped.
    """
    from . import io, optim

    flags = (("--model", args.model), ("--optimizer", args.optimizer), ("--lr", args.lr), ("--schedule", args.schedule))
    given = [flag for flag, value in flags if value is not None]
    if given:
        raise CLIError(f"--resume continues the checkpoint's own model, optimizer and schedule;"
                       f" leave out {', '.join(given)}")
    if not os.path.exists(args.resume):
        raise CLIError(f"no such checkpoint file: {args.resume}")
    resume = io.load(args.resume, with_optimizer=True)
    if resume.optimizer_state is None:
        raise CLIError(f"{args.resume} holds no optimizer state; resume from a run's last.npz, not its model.npz")
    opt = io.build_optimizer(resume)
    saved = (resume.metadata or {}).get("scheduler")
    scheduler = None
    if saved is not None:
        cls = getattr(optim, str(saved.get("class")), None)
        if not (isinstance(cls, type) and issubclass(cls, optim.LRScheduler)):
            raise CLIError(f"{args.resume}: unknown learning-rate scheduler {saved.get('class')!r}")
        scheduler = cls(opt, **{name: saved["state"][name] for name in cls.hyperparameters})
    return resume, resume.model, opt, scheduler


def cmd_evaluate(args):
    from . import metrics, train

    model, meta = _load_model(args.model)
    name = args.dataset or _dataset_from_meta(meta, args.model)
    _, test_set = load_dataset(name, args.data_dir)
    y_pred = train.predict_classes(model, test_set.images)
    print(f"{args.model} on {test_set.name} ({len(test_set)} images)")
    print(f"test accuracy: {metrics.accuracy(test_set.labels, y_pred):.4f}")
    print(metrics.classification_report(test_set.labels, y_pred, class_names=[str(c) for c in test_set.classes]))
    return 0


def cmd_predict(args):
    from . import train

    model, meta = _load_model(args.model)
    shape = meta.get("input_shape")
    if not shape:
        raise CLIError(f"{args.model} does not record its input shape; it was not saved by `convnp train`")
    classes = meta.get("classes") or []
    x = np.stack([load_image(path, shape) for path in args.images])
    probs = train.predict(model, x)
    for path, p in zip(args.images, probs):
        k = int(p.argmax())
        label = classes[k] if k < len(classes) else k
        print(f"{path}: {label} ({p[k]:.3f})")
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
        shape = (3, 32, 32) if args.name in ("vgg_small", "resnet_small") else (1, 28, 28)
    else:
        model, meta = _load_model(args.model)
        shape = tuple(meta.get("input_shape") or (1, 28, 28))
    if args.input_shape:
        shape = _shape(args.input_shape)
    print(summary_table(model, shape))
    return 0


def cmd_visualize(args):
    from . import viz

    model, meta = _load_model(args.model)
    if args.filters and args.saliency:
        raise CLIError("choose one of --filters and --saliency")
    kind = "filters" if args.filters else "saliency" if args.saliency else "feature_maps"
    layer = _layer_arg(args.layer)
    out = args.out or f"{kind}.png"
    if args.filters and args.image:
        raise CLIError("--filters draws the model's kernels and takes no IMAGE")
    if not args.filters:
        if not args.image:
            raise CLIError(f"{kind.replace('_', ' ')} need an IMAGE")
        shape = meta.get("input_shape")
        if not shape:
            raise CLIError(f"{args.model} does not record its input shape; it was not saved by `convnp train`")
        x = load_image(args.image, shape, who="visualize")
    try:  # matplotlib is optional: the viz functions say how to install it
        if args.filters:
            viz.filters(model, path=out)
        elif args.saliency:
            viz.saliency(model, x, target=args.target, path=out)
        else:
            viz.feature_maps(model, x, layer=layer, path=out)
    except ImportError as e:
        raise CLIError(str(e)) from None
    print(f"wrote {out}")
    return 0


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
    random 20% as the test split.
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
    except OSError as e:  # missing folder or file, every mirror unreachable
        hint = "" if "--data-dir" in str(e) else (" (use --data-dir DIR for local files, or --dataset mnist-sample,"
                                                   " which is bundled)")
        raise CLIError(f"{e}{hint}") from None


def _split(dataset, test_fraction):
    """(train, test) subsets of ``dataset``, the test one a fixed random ``test_fraction``."""
    order = np.random.default_rng(0).permutation(len(dataset))
    n_test = max(1, int(round(len(dataset) * test_fraction)))
    return dataset.subset(np.sort(order[n_test:])), dataset.subset(np.sort(order[:n_test]))


def load_image(path, shape, who="predict"):
    """An image file as uint8 (C, H, W) of ``shape`` = (C, H, W): grayscale or RGB, resized."""
    from .data import load_image as read

    channels, height, width = shape
    try:
        return read(path, size=(height, width), mode="L" if channels == 1 else "RGB", who=who)
    except ImportError as e:
        raise CLIError(str(e)) from None


def _load_model(path):
    from . import io

    if not os.path.exists(path):
        raise CLIError(f"no such model file: {path}")
    ckpt = io.load(path, with_optimizer=True)
    return ckpt.model, ckpt.metadata or {}


def _dataset_from_meta(meta, path):
    """The --dataset value recorded by `convnp train` (mnist-sample for a file that has none)."""
    name = meta.get("dataset", "mnist-sample")
    if name not in DATASETS and not str(name).startswith("folder:"):
        raise CLIError(f"{path} was trained on {name!r}, which is not a --dataset value; give --dataset")
    return name


def _build_model(name, train_set, seed):
    from . import models

    c, h, w = train_set.images.shape[1:]
    kwargs = {"num_classes": len(train_set.classes), "in_channels": c, "rng": seed}
    try:
        model = models.get(name, **kwargs)
    except ValueError as e:
        raise CLIError(str(e)) from None
    try:
        model.output_shape((1, c, h, w))
    except ValueError as e:
        raise CLIError(f"{name} does not fit {train_set.name}'s {c}x{h}x{w} images: {e}") from None
    return model


def _optimizer(name, model, lr):
    from . import optim

    classes = {"adam": optim.Adam, "adamw": optim.AdamW, "sgd": optim.SGD,
               "rmsprop": optim.RMSprop, "adagrad": optim.Adagrad}
    default_lr = {"adam": 2e-3, "adamw": 1e-3, "sgd": 0.05}.get(name, 1e-2)
    kwargs = {"momentum": 0.9} if name == "sgd" else {}
    return classes[name](model.parameters(), lr=default_lr if lr is None else lr, **kwargs)


def _plot_history(history, path):
    try:
        from .viz import training_curves
    except ImportError:
        return
    try:
        fig = training_curves(history)
    except ImportError:  # matplotlib is optional
        return
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
