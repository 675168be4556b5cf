"""What the suite measures: the workloads of issues 4 and 12 as plain data, shared by run.py and _worker.py.

A *case* is one measured figure (one table row): a dict with an ``id``, the ``workload`` it
belongs to, a ``kind`` (which function of _worker.py runs it), its sizes, the ``metric``
reported and whether ``lower`` or ``higher`` is better. Cases of one workload that can share a
process share one (``group``); the memory cases each get a fresh process, since peak RSS is a
property of the whole process. A case may fix its ``threads`` (else --threads applies); the
scaling row divides one case's figure by its ``baseline`` case's (a ``hidden`` one: no row).

Nothing here imports NumPy or PyTorch: the parent process stays light.
"""

WORKLOADS = ("conv", "gemm", "lenet5-train", "vgg-train", "lenet5-infer", "memory", "scaling")

# (batch N, in channels C, out channels F, height = width, kernel, padding): issue 4, workload 1.
CONV_SHAPES = [(32, 16, 32, 28, 3, 1), (64, 64, 64, 32, 3, 1)]
CONV_SHAPES_QUICK = [(4, 3, 4, 8, 3, 1), (2, 4, 8, 10, 3, 1)]

# The full sizes of the other workloads, and the --quick ones (tiny: a smoke test, not a figure).
FULL = dict(train_batch=64, vgg_batch=64, vgg_steps=20, infer_batch=1000,
            memory_lenet_steps=50, memory_vgg_steps=5, warmup_steps=3)
QUICK = dict(train_batch=64, vgg_batch=4, vgg_steps=2, infer_batch=100,
             memory_lenet_steps=2, memory_vgg_steps=1, warmup_steps=1, train_images=256)

# The targets of issues 4 and 12 (12's where both set one): (kind of check, threshold, text).
TARGETS = {
    "conv-1": ("ratio<=", 1.2, "<= 1.2"),
    "conv-2": ("ceiling>=", 0.5, ">= 50% of GEMM"),
    "lenet5-train": ("ratio>=", 1.0, ">= 1.0"),
    "vgg-train": ("ratio>=", 0.8, ">= 0.8"),
    "lenet5-infer-b1": ("ratio<=", 1.0, "<= 1.0"),
    "lenet5-infer-b1000": ("ratio>=", 1.0, ">= 1.0"),
    "memory-lenet5": ("ratio<=", 1.5, "<= 1.5"),
    "memory-vgg": ("ratio<=", 1.5, "<= 1.5"),
}


def conv_output_size(size, kernel, padding):
    return size + 2 * padding - kernel + 1


def gemm_dims(shape):
    """(M, K, P) of the im2col product (F, C*KH*KW) @ (C*KH*KW, N*OH*OW) of a conv shape."""
    n, c, f, size, k, p = shape
    out = conv_output_size(size, k, p)
    return f, c * k * k, n * out * out


def gemm_flop(m, k, p):
    """FLOPs of an (M, K) @ (K, P) product: one multiply and one add per term."""
    return 2 * m * k * p


def conv_flop(shape):
    """FLOPs of forward + backward: three products the size of the im2col GEMM.

    forward y = W @ cols, backward dW = dy @ cols.T and dcols = W.T @ dy, each
    2*N*F*C*KH*KW*OH*OW (the backward products have the same terms, reordered).
    """
    return 3 * gemm_flop(*gemm_dims(shape))


def conv_label(shape):
    n, c, f, size, k, p = shape
    return f"Conv2d {c}->{f}, {size}x{size}, {k}x{k} pad {p}, batch {n}"


def make_cases(workloads, quick=False, train_images=None):
    """The cases for the chosen workloads, in the order of WORKLOADS, as a list of dicts."""
    sizes = QUICK if quick else FULL
    shapes = CONV_SHAPES_QUICK if quick else CONV_SHAPES
    if train_images is None:
        train_images = sizes.get("train_images")  # None: the whole training set
    cases = []
    if "conv" in workloads:
        for i, shape in enumerate(shapes, 1):
            cases.append(dict(id=f"conv-{i}", workload="conv", kind="conv", group="conv", shape=list(shape),
                              label=conv_label(shape), metric="ms fwd+bwd", better="lower",
                              gflop=conv_flop(shape) / 1e9))
    if "gemm" in workloads:
        for i, shape in enumerate(shapes, 1):
            m, k, p = gemm_dims(shape)
            cases.append(dict(id=f"gemm-{i}", workload="gemm", kind="gemm", group="gemm", dims=[m, k, p],
                              label=f"matmul ({m}, {k}) @ ({k}, {p}) float32", metric="ms", better="lower",
                              gflop=gemm_flop(m, k, p) / 1e9, conv=f"conv-{i}"))
    if "lenet5-train" in workloads:
        cases.append(dict(id="lenet5-train", workload="lenet5-train", kind="lenet5-train", group="lenet5-train",
                          batch=sizes["train_batch"], images=train_images, warmup=sizes["warmup_steps"],
                          label=f"LeNet-5 train, MNIST epoch, batch {sizes['train_batch']}, Adam",
                          metric="images/s", better="higher"))
    if "vgg-train" in workloads:
        cases.append(dict(id="vgg-train", workload="vgg-train", kind="vgg-train", group="vgg-train",
                          batch=sizes["vgg_batch"], steps=sizes["vgg_steps"], warmup=sizes["warmup_steps"],
                          label=f"vgg_small train, 32x32x3, batch {sizes['vgg_batch']}, SGD momentum",
                          metric="images/s", better="higher"))
    if "lenet5-infer" in workloads:
        cases.append(dict(id="lenet5-infer-b1", workload="lenet5-infer", kind="lenet5-infer", group="lenet5-infer",
                          batch=1, label="LeNet-5 inference, batch 1 latency", metric="ms", better="lower"))
        b = sizes["infer_batch"]
        cases.append(dict(id=f"lenet5-infer-b{b}", workload="lenet5-infer", kind="lenet5-infer",
                          group="lenet5-infer", batch=b, label=f"LeNet-5 inference, batch {b}",
                          metric="images/s", better="higher"))
    if "memory" in workloads:
        cases.append(dict(id="memory-lenet5", workload="memory", kind="memory", group="memory-lenet5",
                          model="lenet5", batch=sizes["train_batch"], steps=sizes["memory_lenet_steps"],
                          images=train_images, label="peak RSS, LeNet-5 training (MNIST)",
                          metric="MB", better="lower"))
        cases.append(dict(id="memory-vgg", workload="memory", kind="memory", group="memory-vgg",
                          model="vgg_small", batch=sizes["vgg_batch"], steps=sizes["memory_vgg_steps"],
                          label="peak RSS, vgg_small training", metric="MB", better="lower"))
    if "scaling" in workloads:
        vgg = dict(workload="scaling", kind="vgg-train", batch=sizes["vgg_batch"], steps=sizes["vgg_steps"],
                   warmup=sizes["warmup_steps"], metric="images/s", better="higher")
        cases.append(dict(vgg, id="scaling-vgg-1", group="scaling-1", threads=1, hidden=True,
                          label="vgg_small train on 1 thread"))
        cases.append(dict(vgg, id="scaling-vgg", group="scaling-n", baseline="scaling-vgg-1", metric="x speedup",
                          label=f"vgg_small train, --threads over 1 thread, batch {sizes['vgg_batch']}"))
    return cases


def row_ids(cases):
    """The table's rows: every case but the hidden ones (a scaling row's baseline)."""
    return [case["id"] for case in cases if not case.get("hidden")]


def groups(cases):
    """Cases grouped by process, in first-seen order: [(group name, [case, ...]), ...]."""
    out = {}
    for case in cases:
        out.setdefault(case["group"], []).append(case)
    return list(out.items())
