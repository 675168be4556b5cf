"""One framework, one process: runs the cases run.py hands it and prints the figures as JSON.

    python benchmarks/_worker.py '{"framework": "convnp", "threads": 2, "seconds": 2.0,
                                   "data_dir": "sample", "cases": [...]}'

The last line of stdout is the result: {"framework", "info", "results": {case id: {...}},
"errors": {case id: traceback}, "loadavg"}. run.py starts one such process per framework
and group of cases, so neither framework sees the other's thread pools, allocator or imports.
``run(spec)`` does the same work in the calling process (the smoke test uses it).

Both frameworks do the same work on the same arrays: models come from convnp.models, and the
PyTorch side is a layer-for-layer twin (``torch_twin``) that starts from the same weights;
batches come from the same convnp DataLoader over the same uint8 images.
"""
import contextlib
import itertools
import json
import os
import sys
import time
import traceback

import numpy as np

from _measure import CpuClock, max_rss_mb, reset_peak_rss, rss_mb, timed

TWIN_LAYERS = ("Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "AdaptiveAvgPool2d", "Flatten", "Linear")
VGG_BATCHES = 4  # distinct random batches that vgg-train cycles through


# -- process-wide settings and facts ------------------------------------------------------------


@contextlib.contextmanager
def thread_limits(framework, threads):
    """Set ``threads`` for NumPy's BLAS (threadpoolctl) and for PyTorch, restored on exit."""
    if framework == "torch":
        import torch  # before threadpoolctl, so that it sees torch's OpenMP pool too

        old = torch.get_num_threads()
        torch.set_num_threads(threads)
    tpc = _threadpoolctl()
    try:
        with tpc.threadpool_limits(limits=threads) if tpc else contextlib.nullcontext():
            if framework == "convnp":
                import convnp

                if hasattr(convnp, "set_num_threads"):  # issue 12: convnp's own shards
                    convnp.set_num_threads(threads)
            yield
    finally:
        if framework == "torch":
            torch.set_num_threads(old)


def _threadpoolctl():
    try:
        import threadpoolctl
    except ImportError:  # the [bench] extra is missing: the environment variables still apply
        return None
    return threadpoolctl


def framework_info(framework):
    """Versions and thread pools as seen inside the limits (JSON-friendly)."""
    import convnp

    tpc = _threadpoolctl()
    info = {"numpy": np.__version__, "convnp": convnp.__version__,
            "threadpools": tpc.threadpool_info() if tpc else "threadpoolctl not installed"}
    if framework == "convnp" and hasattr(convnp, "get_num_threads"):
        info["convnp_threads"] = convnp.get_num_threads()
    if framework == "convnp":
        try:
            info["numpy_build"] = np.show_config(mode="dicts").get("Build Dependencies")
        except TypeError:  # NumPy < 1.25 only prints its config
            info["numpy_build"] = None
        return info
    import torch

    info.update(torch=torch.__version__, num_threads=torch.get_num_threads(),
                num_interop_threads=torch.get_num_interop_threads(),
                cpu_capability=getattr(torch.backends.cpu, "get_cpu_capability", lambda: None)(),
                mkldnn=torch.backends.mkldnn.is_available(), parallel_info=torch.__config__.parallel_info())
    return info


# -- data and models -----------------------------------------------------------------------------


def load_mnist(data_dir, train, images=None):
    """(uint8 images, int64 labels) of MNIST from ``data_dir`` ("sample": the bundled subset)."""
    from convnp import data

    ds = data.mnist_sample(train=train) if data_dir == "sample" else data.mnist(data_dir, train=train, download=False)
    if images is not None:
        return ds.images[:images], ds.labels[:images]
    return ds.images, ds.labels


def vgg_batches(batch):
    """VGG_BATCHES random (x float32 (B, 3, 32, 32), y int64 (B,)) pairs, the same in every process."""
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((batch, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, batch))
            for _ in range(VGG_BATCHES)]


def build_model(framework, name):
    """convnp.models.<name>(rng=0), or its PyTorch twin with the same weights."""
    from convnp import models

    model = models.get(name, rng=0)
    return model if framework == "convnp" else torch_twin(model)


def torch_twin(model):
    """A torch.nn.Sequential with the same layers (from each layer's config()) and the same weights.

    convnp keeps PyTorch's names, arguments and state_dict keys, so each layer maps to the
    torch.nn class of the same name and the state dict loads strictly.
    """
    import torch

    layers = []
    for layer in model:
        name = type(layer).__name__
        if name not in TWIN_LAYERS:
            raise ValueError(f"torch_twin: no PyTorch twin for {name}; expected one of {', '.join(TWIN_LAYERS)}")
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in layer.config().items()}
        layers.append(getattr(torch.nn, name)(**args))
    twin = torch.nn.Sequential(*layers)
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    return twin


def train_step(framework, model, optimizer):
    """``step(x, y) -> loss`` doing one training step (zero_grad, forward, loss, backward, update)."""
    if framework == "convnp":
        from convnp import nn, optim

        opt = (optim.Adam(model.parameters(), lr=1e-3) if optimizer == "adam"
               else optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
        loss_fn = nn.CrossEntropyLoss()
        model.train()

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            model.backward(loss_fn.backward(), input_grad=False)  # as PyTorch: x needs no grad
            opt.step()
            return loss

        return step
    import torch

    opt = (torch.optim.Adam(model.parameters(), lr=1e-3) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()
        return loss.detach()  # float() of the loss without autograd's warning

    return step


def predictor(framework, model):
    """``predict(x) -> logits`` in eval mode under no_grad (both frameworks), as one deploys a model."""
    model.eval()
    if framework == "convnp":
        import convnp

        def predict_convnp(x):
            with convnp.no_grad():   # no caches kept, as torch.no_grad
                return model(x)

        return predict_convnp
    import torch

    def predict(x):
        with torch.no_grad():
            return model(torch.from_numpy(x))

    return predict


# -- the cases -------------------------------------------------------------------------------------


def run_conv(framework, case, spec):
    """Conv2d forward + backward (dx, dW, db) on float32 data; the layer accumulates its gradients."""
    from convnp import nn

    n, c, f, size, k, p = case["shape"]
    out = size + 2 * p - k + 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, size, size), dtype=np.float32)
    dy = rng.standard_normal((n, f, out, out), dtype=np.float32)
    layer = nn.Conv2d(c, f, k, padding=p, rng=0)
    if framework == "convnp":
        def step():
            layer(x)
            layer.backward(dy)
    else:
        import torch

        conv = torch.nn.Conv2d(c, f, k, padding=p)
        conv.load_state_dict({key: torch.from_numpy(v) for key, v in layer.state_dict().items()})
        xt, dyt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)  # convnp always gives dx

        def step():
            conv(xt).backward(dyt)
    return timed(step, spec["seconds"], lambda s: 1e3 * s)


def run_gemm(framework, case, spec):
    """(M, K) @ (K, P) float32 into a preallocated output: the BLAS ceiling of an im2col conv."""
    m, k, p = case["dims"]
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, p), dtype=np.float32)
    out = np.empty((m, p), dtype=np.float32)
    if framework == "convnp":
        def step():
            np.matmul(a, b, out=out)
    else:
        import torch

        at, bt, outt = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)

        def step():
            torch.mm(at, bt, out=outt)
    return timed(step, spec["seconds"], lambda s: 1e3 * s)


def run_lenet_train(framework, case, spec):
    """One whole epoch of LeNet-5 with Adam (lr 1e-3) after a few warm-up steps: images/s."""
    from convnp.data import DataLoader

    images, labels = load_mnist(spec["data_dir"], True, case["images"])
    loader = DataLoader((images, labels), batch_size=case["batch"], shuffle=True, rng=0)
    step = train_step(framework, build_model(framework, "lenet5"), "adam")
    warm = _forever(loader)  # cycles, should the epoch be shorter than the warm-up
    first_loss = float(step(*next(warm)))
    for _ in range(case["warmup"] - 1):
        step(*next(warm))
    with CpuClock() as clock:
        t0 = time.perf_counter()
        for x, y in loader:  # a fresh shuffle: the whole epoch, batch conversion included
            step(x, y)
        seconds = time.perf_counter() - t0
    return {"value": len(images) / seconds, "epoch_s": seconds, "images": len(images),
            "batches": len(loader), "first_loss": first_loss, "cpu_per_wall": clock.cpu_per_wall}


def run_vgg_train(framework, case, spec):
    """``steps`` SGD (momentum 0.9) steps of vgg_small on random 32x32x3 batches: images/s."""
    batches = vgg_batches(case["batch"])
    step = train_step(framework, build_model(framework, "vgg_small"), "sgd")
    first_loss = float(step(*batches[0]))
    for i in range(1, case["warmup"]):
        step(*batches[i % VGG_BATCHES])
    times = []
    with CpuClock() as clock:
        for i in range(case["steps"]):
            t0 = time.perf_counter()
            step(*batches[i % VGG_BATCHES])
            times.append(time.perf_counter() - t0)
    return {"value": case["batch"] * len(times) / sum(times), "step_times": times, "first_loss": first_loss,
            "cpu_per_wall": clock.cpu_per_wall}


def run_infer(framework, case, spec):
    """LeNet-5 forward in eval mode on MNIST test images: batch 1 cycles over 64 images."""
    images, _ = load_mnist(spec["data_dir"], False, max(case["batch"], 64))
    x = images.astype(np.float32) / np.float32(255)
    predict = predictor(framework, build_model(framework, "lenet5"))
    batch = case["batch"]
    if batch == 1:
        singles = itertools.cycle([x[i:i + 1] for i in range(64)])
        return timed(lambda: predict(next(singles)), spec["seconds"], lambda s: 1e3 * s, min_calls=20)
    xb = x[:batch]
    return timed(lambda: predict(xb), spec["seconds"], lambda s: batch / s)


def run_memory(framework, case, spec):
    """Peak RSS of the process (ru_maxrss) through a few training steps, and the training's own rise.

    ``value`` is the peak of the whole process: imports (PyTorch's libraries alone hold about
    200 MB), the data (loading it can be the peak) and training. ``increase_mb`` is the peak
    during training alone above the RSS held just before the model was built; on Linux the
    kernel's peak counter is reset at that point (so the data loading's peak does not count).
    """
    if case["model"] == "lenet5":
        from convnp.data import DataLoader

        loader = DataLoader(load_mnist(spec["data_dir"], True, case["images"]), batch_size=case["batch"],
                            shuffle=True, rng=0)
        batches = (b for _, b in zip(range(case["steps"]), _forever(loader)))
        optimizer = "adam"
    else:
        data = vgg_batches(case["batch"])
        batches = (data[i % VGG_BATCHES] for i in range(case["steps"]))
        optimizer = "sgd"
    peak_before, baseline = max_rss_mb(), rss_mb()
    reset = reset_peak_rss()
    step = train_step(framework, build_model(framework, case["model"]), optimizer)
    for x, y in batches:
        step(x, y)
    peak_training = max_rss_mb()
    return {"value": max(peak_before, peak_training), "baseline_mb": baseline,
            "increase_mb": max(peak_training - baseline, 0.0), "increase_exact": reset}


def _forever(loader):
    while True:
        yield from loader


RUNNERS = {"conv": run_conv, "gemm": run_gemm, "lenet5-train": run_lenet_train, "vgg-train": run_vgg_train,
           "lenet5-infer": run_infer, "memory": run_memory}


def run(spec):
    """Run ``spec["cases"]`` for ``spec["framework"]`` under the thread limits; return the record."""
    framework = spec["framework"]
    results, errors = {}, {}
    with thread_limits(framework, spec["threads"]):
        info = framework_info(framework)
        for case in spec["cases"]:
            try:
                results[case["id"]] = RUNNERS[case["kind"]](framework, case, spec)
            except Exception:  # report it and go on: one broken case should not hide the others
                errors[case["id"]] = traceback.format_exc()
    return {"framework": framework, "info": info, "results": results, "errors": errors,
            "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(argv[0])
    print(json.dumps(run(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
