"""Turn the workers' raw records into table rows, a text/Markdown table and a bar chart.

A row's figure for one framework is the median: over every timed call of every round for
the timed cases (conv, gemm, inference), over the rounds for the others (an epoch's
throughput, a peak RSS). ``ratio`` is always convnp's figure divided by PyTorch's, in the
row's own metric: below 1 is better for convnp where lower is better (ms, MB), above 1 where
higher is better (images/s).
"""
import statistics

from workloads import TARGETS

FRAMEWORKS = ("convnp", "torch")
LOSS_TOLERANCE = 1e-3  # relative: both frameworks start from the same weights and batch


def figure(case, rounds):
    """One framework's summary of a case over its rounds."""
    fig = {"rounds": [r["value"] for r in rounds]}
    if "times" in rounds[0]:
        times = [t for r in rounds for t in r["times"]]
        median = statistics.median(times)
        per_call = 1e3 * median if case["metric"].startswith("ms") else case["batch"] / median
        fig.update(value=per_call, median_s=median, min_s=min(times), calls=len(times))
    else:
        fig["value"] = statistics.median(fig["rounds"])
    for key in ("baseline_mb", "increase_mb", "cpu_per_wall"):
        if key in rounds[0]:
            fig[key] = statistics.median(r[key] for r in rounds)
    if "first_loss" in rounds[0]:
        fig["first_loss"] = rounds[0]["first_loss"]
    return fig


def summarize(cases, raw):
    """Table rows (dicts) from ``raw[case id][framework] = [per-round result, ...]``."""
    rows = []
    for case in cases:
        if case.get("hidden"):
            continue
        row = {k: case[k] for k in ("id", "workload", "label", "metric", "better")}
        for fw in FRAMEWORKS:
            rounds = raw.get(case["id"], {}).get(fw)
            row[fw] = figure(case, rounds) if rounds else None
            if row[fw] and "baseline" in case:
                row[fw] = _speedup(row[fw], raw.get(case["baseline"], {}).get(fw))
        both = row["convnp"] and row["torch"]
        row["ratio"] = row["convnp"]["value"] / row["torch"]["value"] if both else None
        if "gflop" in case:
            row["gflop"] = case["gflop"]
            row["gflops"] = {fw: case["gflop"] / row[fw]["median_s"] for fw in FRAMEWORKS if row[fw]}
        rows.append(row)
    _add_ceilings(rows, cases)
    for row in rows:
        row["target"] = _target(row)
        row["losses_agree"] = _losses_agree(row)
        row["notes"] = _notes(row)
    return rows


def _speedup(fig, baseline_rounds):
    """A scaling figure: this case's figure over its baseline's (1 thread), round by round; None without one."""
    if not baseline_rounds:
        return None
    base = [r["value"] for r in baseline_rounds]
    ratios = [n / b for n, b in zip(fig["rounds"], base)]
    return {"rounds": ratios, "value": statistics.median(ratios), "threads_value": fig["value"],
            "one_thread_value": statistics.median(base), "cpu_per_wall": fig.get("cpu_per_wall")}


def _losses_agree(row):
    """Whether both frameworks' first training loss is the same (None: not a training row).

    Both start from the same weights on the same first batch, so a disagreement means the
    two sides are not training the same model, and the comparison means nothing.
    """
    if not (row["convnp"] and row["torch"] and "first_loss" in row["convnp"]):
        return None
    a, b = row["convnp"]["first_loss"], row["torch"]["first_loss"]
    return abs(a - b) <= LOSS_TOLERANCE * max(1.0, abs(b))


def _add_ceilings(rows, cases):
    """Each conv's GFLOP/s as a fraction of NumPy's matmul of its im2col size (gemm row)."""
    by_id = {row["id"]: row for row in rows}
    for case in cases:
        if case["workload"] != "gemm":
            continue
        gemm = by_id[case["id"]]
        conv = by_id.get(case.get("conv"))
        if conv is None or "convnp" not in gemm.get("gflops", {}):
            continue
        ceiling = gemm["gflops"]["convnp"]
        conv["ceiling_gflops"] = ceiling
        conv["fraction_of_ceiling"] = {fw: g / ceiling for fw, g in conv.get("gflops", {}).items()}


def _target(row):
    """Issue 4's target for this row, with whether this run met it (None: not measurable here)."""
    if row["id"] not in TARGETS:
        return None
    check, threshold, text = TARGETS[row["id"]]
    if check == "ceiling>=":
        value = row.get("fraction_of_ceiling", {}).get("convnp")
    else:
        value = row["ratio"]
    met = None if value is None else (value <= threshold if check.endswith("<=") else value >= threshold)
    return {"text": text, "met": met}


def _notes(row):
    parts = []
    gflops, frac = row.get("gflops", {}), row.get("fraction_of_ceiling", {})
    for fw, name in (("convnp", "convnp" if row["workload"] != "gemm" else "NumPy"), ("torch", "PyTorch")):
        if fw in gflops:
            share = f" ({100 * frac[fw]:.0f}% of GEMM)" if fw in frac else ""
            parts.append(f"{name} {gflops[fw]:.1f} GFLOP/s{share}")
    for fw, name in (("convnp", "convnp"), ("torch", "PyTorch")):
        if row[fw] and "one_thread_value" in row[fw]:
            parts.append(f"{name} {number(row[fw]['one_thread_value'])} -> {number(row[fw]['threads_value'])} images/s")
    mem = [f"+{row[fw]['increase_mb']:.0f}" for fw in FRAMEWORKS if row[fw] and "increase_mb" in row[fw]]
    if mem:
        parts.append(f"training's own rise: {' / '.join(mem)} MB")
    if row["losses_agree"] is not None:
        a, b = row["convnp"]["first_loss"], row["torch"]["first_loss"]
        parts.append(f"first loss {a:.4f} / {b:.4f}" + ("" if row["losses_agree"] else " DIFFER"))
    return "; ".join(parts)


# -- tables ------------------------------------------------------------------------------------------


def number(value):
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def table_cells(rows):
    header = ["workload", "metric", "convnp", "PyTorch", "convnp/PyTorch", "target", "notes"]
    body = []
    for row in rows:
        target = row["target"]
        tcell = "" if target is None else target["text"] + (
            "" if target["met"] is None else (" met" if target["met"] else " NOT met"))
        body.append([row["label"], row["metric"], number(row["convnp"] and row["convnp"]["value"]),
                     number(row["torch"] and row["torch"]["value"]),
                     "-" if row["ratio"] is None else f"{row['ratio']:.2f}", tcell, row["notes"]])
    return header, body


def text_table(rows):
    header, body = table_cells(rows)
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    right = {2, 3, 4}
    lines = []
    for cells in [header, None] + body:
        if cells is None:
            lines.append("  ".join("-" * w for w in widths))
            continue
        lines.append("  ".join(c.rjust(w) if i in right else c.ljust(w)
                               for i, (c, w) in enumerate(zip(cells, widths))).rstrip())
    return "\n".join(lines)


def markdown_table(rows):
    header, body = table_cells(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", "---", "--:", "--:", "--:", "---", "---"]) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


# -- chart ---------------------------------------------------------------------------------------------


def chart(rows, path, title):
    """Bar chart PNG: convnp relative to PyTorch per row, and conv GFLOP/s against the GEMM ceiling.

    Returns the path written, or None (matplotlib missing, or nothing to draw).
    """
    try:
        from matplotlib.figure import Figure  # no pyplot: no backend to pick, no global state
    except ImportError:
        return None
    compared = [r for r in rows if r["ratio"]]
    convs = [r for r in rows if r.get("gflops") and r["workload"] == "conv"]
    panels = [p for p, rs in (("ratio", compared), ("gflops", convs)) if rs]
    if not panels:
        return None
    fig = Figure(figsize=(7.5 * len(panels), 0.45 * max(len(compared), 6) + 2))
    axes = fig.subplots(1, len(panels), squeeze=False, gridspec_kw={"width_ratios": [1.5, 1][:len(panels)]})
    for ax, panel in zip(axes[0], panels):
        if panel == "ratio":
            _ratio_panel(ax, compared)
        else:
            _gflops_panel(ax, convs)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # "tight": long row labels stay inside
    return path


def _ratio_panel(ax, rows):
    # One direction for every bar (> 1: convnp better), unlike the table's ratio column,
    # so that a chart of mixed metrics reads at a glance.
    speed = [r["ratio"] if r["better"] == "higher" else 1 / r["ratio"] for r in rows]
    labels = [f"{r['label']} [{r['metric']}]" for r in rows]
    colors = ["tab:green" if s >= 1 else "tab:red" for s in speed]
    ax.barh(range(len(rows)), [s - 1 for s in speed], left=1, color=colors)  # bars grow from 1
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log", base=2)  # 2x faster and 2x slower lie equally far from 1
    low = min(0.5, min(speed) / 1.3)
    high = max(2.0, max(speed) * 1.3)
    ax.set_xlim(low, high)
    ticks = [2.0 ** k for k in range(-12, 13) if low <= 2.0 ** k <= high]
    ax.set_xticks(ticks, [f"{t:g}" if t >= 1 else f"1/{1 / t:g}" for t in ticks])
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("convnp relative to PyTorch (> 1: convnp faster / leaner; log scale)")


def _gflops_panel(ax, rows):
    width = 0.27
    series = [("convnp", lambda r: r["gflops"].get("convnp")), ("PyTorch", lambda r: r["gflops"].get("torch")),
              ("NumPy GEMM ceiling", lambda r: r.get("ceiling_gflops"))]
    for i, (name, get) in enumerate(series):
        values = [get(r) or 0 for r in rows]
        ax.bar([k + (i - 1) * width for k in range(len(rows))], values, width, label=name)
    ax.set_xticks(range(len(rows)), [r["label"].replace(", batch", "\nbatch") for r in rows], fontsize=7)
    ax.set_ylabel("GFLOP/s (forward + backward = 3 GEMM-sized products)")
    ax.legend(fontsize=7)
