"""``convnp train``: a new run, or ``--resume`` of one, in a run folder that nothing else overwrites.

Under ``mpiexec -n K convnp train ...`` each of the K processes trains on its share of every
batch (convnp.distributed); only rank 0 prints, checks and writes the output folder.

A run records its plan (the dataset, epochs, batch size, seed, data folder) in the metadata
of last.npz and model.npz, beside the classes and input shape, so that

    convnp train --resume runs/x/last.npz

continues run x in its own folder, on its own data, up to its planned epochs, with its own
model, optimizer and learning-rate schedule (the cosine schedule continues where it stopped),
exactly as if it had not been stopped. Flags given with --resume override the plan (more
epochs are refused where the schedule would end first). runs.py keeps run folders safe.
"""
import os
import shlex

import numpy as np

from .cli import OPTIMIZERS, SCHEDULES, CLIError, check_fits, dataset_args, load_dataset

# LeNet-5, Adam lr 2e-3, cosine: 98.05% on the sample's test split (seed 0); the 6 epochs took
# 5.9 s of CPU time with one BLAS thread (12 s wall on a shared 2-core machine)
DEFAULT_EPOCHS = 6
DEFAULT_BATCH_SIZE = 64


def add_train_parser(sub):
    t = sub.add_parser("train", help="train a model (default: LeNet-5 on the bundled MNIST sample)")
    t.add_argument("--model", default=None, help="lenet5 (default), simple_cnn, mnist_cnn, vgg_small, resnet_small")
    dataset_args(t, default=None)
    t.add_argument("--epochs", type=int, default=None, help=f"epochs in all (default {DEFAULT_EPOCHS})")
    t.add_argument("--batch-size", type=int, default=None, help=f"default {DEFAULT_BATCH_SIZE}")
    t.add_argument("--optimizer", default=None, choices=OPTIMIZERS, help="default: adam")
    t.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: 2e-3 for adam, 1e-3 for adamw, 0.05 for sgd, 1e-2 otherwise)")
    t.add_argument("--schedule", default=None, choices=SCHEDULES,
                   help="cosine (default: the lr falls to 0 over --epochs) or constant")
    t.add_argument("--seed", type=int, default=None, help="default 0")
    t.add_argument("--out", default=None,
                   help="output folder (default runs/<timestamp>; with --resume, the checkpoint's own)")
    t.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue the run of this last.npz in its folder, with its data, model, optimizer and"
                        " schedule, up to its planned epochs")
    t.add_argument("--force", action="store_true", help="replace the run that --out holds")
    t.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    t.set_defaults(run=cmd_train)


def cmd_train(args):
    from . import distributed

    world = distributed.init() if distributed.launched() else None   # mpiexec -n K: one of K processes
    expected = distributed.EXPECTED + (CLIError, ImportError)   # reported in one line, no traceback
    with distributed.abort_on_error(world, "convnp train", expected=expected):
        return _train(args, world)


def _train(args, world):
    from . import nn, train
    from .atomic import remove_empty

    root = world is None or world.rank == 0   # the process that prints and writes files
    ckpt = _load_checkpoint(args) if args.resume else None
    plan, dataset = _plan(args, ckpt)
    train_set, test_set = load_dataset(dataset, plan["data_dir"])
    model, opt, scheduler, what = (_resumed(args, ckpt, plan, train_set) if ckpt is not None
                                   else _new(args, plan, train_set))
    out, created = _output_folder(args) if root else (args.out or os.curdir, [])
    model_name = args.model if ckpt is None else (ckpt.metadata or {}).get("model_name")
    meta = _metadata(dataset, plan, train_set, model_name)
    last = os.path.join(out, "last.npz")
    schedule = f", {type(scheduler).__name__}" if scheduler is not None else ""
    if root:
        print(f"{what}: {len(train_set)} train / {len(test_set)} test images, {plan['epochs']} epochs,"
              f" {type(opt).__name__} lr={opt.param_groups[0]['lr']:g}{schedule}, output in {out}")
    try:   # overflow warnings would bury the one line that fit's TrainingError gives instead
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            history = train.fit(model, train_set, epochs=plan["epochs"], optimizer=opt, loss=nn.CrossEntropyLoss(),
                                batch_size=plan["batch_size"], val=test_set, scheduler=scheduler, seed=plan["seed"],
                                progress=not args.quiet, checkpoint=last, resume=ckpt, checkpoint_metadata=meta,
                                distributed=world or False)
    except BaseException:
        remove_empty(created)   # a run that saved nothing leaves no empty folder
        raise
    if not root:
        return 0
    if history.stop_reason == "interrupted":
        remove_empty(created)
        print(_interrupted(last, history, plan["epochs"]))
        return 130
    _finish(out, model, meta, history, test_set)
    return 0


def _output_folder(args):
    """runs.output_folder for this run, its refusals as CLIError."""
    from . import runs

    try:
        return runs.output_folder(args.out, args.resume, args.force)
    except runs.FolderError as e:
        raise CLIError(str(e)) from None


def _load_checkpoint(args):
    from . import io

    flags = (("--model", args.model), ("--optimizer", args.optimizer), ("--lr", args.lr), ("--schedule", args.schedule))
    given = [flag for flag, value in flags if value is not None]
    if given:
        raise CLIError(f"--resume continues the checkpoint's own model, optimizer and schedule;"
                       f" leave out {', '.join(given)}")
    if not os.path.exists(args.resume):
        raise CLIError(f"no such checkpoint file: {args.resume}")
    ckpt = io.load(args.resume, with_optimizer=True)
    if ckpt.optimizer_state is None:
        raise CLIError(f"{args.resume} holds no optimizer state; resume from a run's last.npz, not its model.npz")
    return ckpt


def _plan(args, ckpt):
    """({"epochs", "batch_size", "seed", "data_dir"}, dataset): the flags, else the checkpoint's plan."""
    meta = (ckpt.metadata or {}) if ckpt is not None else {}
    saved = meta.get("plan") or {}
    same_data = args.dataset is None
    dataset = args.dataset or meta.get("dataset") or "mnist-sample"
    if dataset.startswith("folder:"):   # recorded as an absolute path: resume and evaluate work from anywhere
        dataset = "folder:" + os.path.abspath(dataset[len("folder:"):])
    data_dir = args.data_dir or (saved.get("data_dir") if same_data else None)
    plan = {"epochs": _first(args.epochs, saved.get("epochs"), _schedule_end(meta), DEFAULT_EPOCHS),
            "batch_size": _first(args.batch_size, saved.get("batch_size"), DEFAULT_BATCH_SIZE),
            "seed": _first(args.seed, saved.get("seed"), 0),
            "data_dir": None if data_dir is None else os.path.abspath(data_dir)}
    for flag, key, low in (("--epochs", "epochs", 1), ("--batch-size", "batch_size", 1), ("--seed", "seed", 0)):
        if plan[key] < low:
            raise CLIError(f"{flag} must be >= {low}, got {plan[key]}")
    return plan, dataset


def _first(*values):
    return next((v for v in values if v is not None), None)


def _schedule_end(meta):
    """T_max of a checkpoint's cosine schedule (the planned epochs of a file with no plan), else None."""
    saved = meta.get("scheduler") or {}
    return saved["state"].get("T_max") if saved.get("class") == "CosineAnnealingLR" else None


def _new(args, plan, train_set):
    """(model, optimizer, scheduler, what) of a new run."""
    from . import optim

    args.model, name = args.model or "lenet5", args.optimizer or "adam"
    model = _build_model(args.model, train_set, plan["seed"])
    opt = _optimizer(name, model, args.lr)
    scheduler = optim.CosineAnnealingLR(opt, T_max=plan["epochs"]) if args.schedule != "constant" else None
    return model, opt, scheduler, f"training {args.model} on {train_set.name}"


def _resumed(args, ckpt, plan, train_set):
    """(model, optimizer, scheduler, what) of a resumed run: the checkpoint's own, checked against the data."""
    from . import io, optim

    check_fits(ckpt.model, ckpt.metadata or {}, train_set, args.resume)
    opt = io.build_optimizer(ckpt)
    scheduler = _scheduler(ckpt, opt, args.resume)
    epochs = plan["epochs"]
    if epochs < (ckpt.epoch or 0):
        raise CLIError(f"--epochs {epochs}: {args.resume} has already trained {ckpt.epoch} epochs")
    end = scheduler.T_max if isinstance(scheduler, optim.CosineAnnealingLR) else None
    if end is not None and epochs > end:
        raise CLIError(f"--epochs {epochs} runs past the end of {args.resume}'s cosine schedule ({end} epochs,"
                       f" where the learning rate reaches its minimum); give at most --epochs {end}")
    return ckpt.model, opt, scheduler, f"resuming {args.resume} (epoch {ckpt.epoch}) on {train_set.name}"


def _scheduler(ckpt, opt, path):
    """The checkpoint's learning-rate scheduler rebuilt over ``opt`` (fit then loads its state), or None."""
    from . import optim

    saved = (ckpt.metadata or {}).get("scheduler")
    if saved is None:
        return None
    cls = getattr(optim, saved["class"], None)
    if not (isinstance(cls, type) and issubclass(cls, optim.LRScheduler)):
        raise CLIError(f"{path}: unknown learning-rate scheduler {saved['class']!r}")
    missing = [name for name in cls.hyperparameters if name not in saved["state"]]
    if missing:
        raise CLIError(f"{path}: the {saved['class']} state lacks {', '.join(missing)}")
    return cls(opt, **{name: saved["state"][name] for name in cls.hyperparameters})


def _metadata(dataset, plan, train_set, model_name):
    """What model.npz and every last.npz record: enough for evaluate, predict and --resume."""
    from .cli import border_mean

    meta = {"dataset": dataset, "classes": list(train_set.classes), "input_shape": list(train_set.images.shape[1:]),
            "border_mean": round(border_mean(train_set.images), 3), "plan": dict(plan)}
    if model_name:
        meta["model_name"] = model_name
    return meta


def _interrupted(last, history, epochs):
    if not os.path.exists(last) or not len(history):
        return "interrupted before the first epoch finished; nothing was saved"
    return (f"interrupted; epoch {len(history)} of {epochs} is saved in {last}; continue the run with:"
            f" convnp train --resume {shlex.quote(last)}")


def _finish(out, model, meta, history, test_set):
    """Write model.npz, the history and curves.png into ``out``; print the test report."""
    from . import io, metrics, train

    model_path = os.path.join(out, "model.npz")
    io.save(model_path, model, metadata=meta)
    history.to_csv(os.path.join(out, "history.csv"))
    history.to_json(os.path.join(out, "history.json"))
    _plot_history(history, os.path.join(out, "curves.png"))
    y_pred = train.predict_classes(model, test_set.images)
    print(f"test accuracy: {metrics.accuracy(test_set.labels, y_pred):.4f}")
    print(metrics.classification_report(test_set.labels, y_pred, class_names=test_set.classes))
    print(f"saved {model_path}")


def _plot_history(history, path):
    from .atomic import atomic_write
    from .viz import training_curves

    try:
        fig = training_curves(history)
    except ImportError as e:  # matplotlib is optional: say what was skipped and why
        print(f"{os.path.basename(path)} skipped: {e}")
        return
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)


def _build_model(name, train_set, seed):
    from . import models

    c, h, w = train_set.images.shape[1:]
    kwargs = {"num_classes": len(train_set.classes), "in_channels": c, "rng": seed}
    try:
        model = models.get(name, **kwargs)
    except ValueError as e:
        raise CLIError(str(e)) from None
    except TypeError:   # autoencoder, dcgan_*: no num_classes
        raise CLIError(f"{name} is not a classifier; convnp train trains classifiers") from None
    try:
        out = model.output_shape((1, c, h, w))
    except ValueError as e:
        raise CLIError(f"{name} does not fit {train_set.name}'s {c}x{h}x{w} images: {e}") from None
    if out != (1, kwargs["num_classes"]):
        raise CLIError(f"{name} is not a classifier (its output for one image is {out[1:]});"
                       " convnp train trains classifiers")
    return model


def _optimizer(name, model, lr):
    from . import optim

    classes = {"adam": optim.Adam, "adamw": optim.AdamW, "sgd": optim.SGD,
               "rmsprop": optim.RMSprop, "adagrad": optim.Adagrad}
    default_lr = {"adam": 2e-3, "adamw": 1e-3, "sgd": 0.05}.get(name, 1e-2)
    kwargs = {"momentum": 0.9} if name == "sgd" else {}
    return classes[name](model.parameters(), lr=default_lr if lr is None else lr, **kwargs)

