"""Smoke tests of the benchmark suite (benchmarks/run.py): every workload runs once at --quick size.

No timings are asserted (they depend on the machine and its load); these tests check that each
workload runs for both frameworks, that the JSON has its keys, that the thread count reaches
both frameworks, and that the PyTorch side trains the same model as convnp.
"""
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_matches, to_numpy

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
ROW_KEYS = {"id", "workload", "label", "metric", "better", "convnp", "torch", "ratio", "target", "notes",
            "losses_agree"}
TOP_KEYS = {"schema", "created", "command", "settings", "machine", "frameworks", "rows", "raw", "errors"}
# --threads 1: on a shared machine a second BLAS/OpenMP thread can wait a whole time slice.
QUICK = ["--quick", "--rounds", "1", "--threads", "1", "--data-dir", "sample"]


@pytest.fixture(scope="module")
def bench():
    """The suite's modules (run, workloads, _worker), imported from benchmarks/."""
    sys.path.insert(0, str(BENCH))
    try:
        yield {name: importlib.import_module(name) for name in ("run", "workloads", "_worker")}
    finally:
        sys.path.remove(str(BENCH))


def run_script(args, tmp_path):
    done = subprocess.run([sys.executable, str(BENCH / "run.py"), *args, "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, json.loads((tmp_path / "results.json").read_text())


def expected_ids(bench):
    return bench["workloads"].row_ids(bench["workloads"].make_cases(bench["workloads"].WORKLOADS, quick=True))


def check_results(results, ids, frameworks):
    assert TOP_KEYS <= set(results)
    assert results["errors"] == []
    assert results["settings"]["frameworks"] == frameworks
    assert {"cpu_model", "cpu_vendor", "cpu_flags", "blas_kernel", "logical_cpus", "usable_cpus", "loadavg_start",
            "loadavg_end"} <= set(results["machine"])
    assert set(results["frameworks"]) == set(frameworks)
    assert "numpy" in results["frameworks"]["convnp"]
    assert [row["id"] for row in results["rows"]] == ids
    for row in results["rows"]:
        assert ROW_KEYS <= set(row), row["id"]
        assert row["convnp"]["value"] > 0, row["id"]
        assert len(row["convnp"]["rounds"]) == 1
        if "torch" in frameworks:
            assert row["torch"]["value"] > 0 and row["ratio"] > 0, row["id"]
        else:
            assert row["torch"] is None and row["ratio"] is None
    return {row["id"]: row for row in results["rows"]}


def test_every_workload_without_torch(bench, tmp_path):
    stdout, results = run_script(QUICK + ["--no-torch"], tmp_path)
    rows = check_results(results, expected_ids(bench), ["convnp"])
    assert "left out (--no-torch)" in stdout
    assert "convnp/PyTorch" in stdout  # the table was printed
    assert "gflops" in rows["conv-1"] and 0 < rows["conv-1"]["fraction_of_ceiling"]["convnp"]
    assert rows["memory-vgg"]["convnp"]["value"] >= rows["memory-vgg"]["convnp"]["baseline_mb"]
    assert (tmp_path / "results.md").read_text().count("\n|") == len(rows) + 2  # header, rule, rows
    pytest.importorskip("matplotlib")
    assert (tmp_path / "results.png").stat().st_size > 0


def in_process(bench, spec):
    """The worker's work without a subprocess (one torch import instead of one per workload)."""
    return json.loads(json.dumps(bench["_worker"].run(spec)))  # what the JSON round trip would give


def test_every_workload_with_torch_in_process(bench, tmp_path):
    pytest.importorskip("torch")
    code = bench["run"].main(QUICK + ["--out", str(tmp_path)], runner=lambda spec: in_process(bench, spec))
    assert code == 0
    rows = check_results(json.loads((tmp_path / "results.json").read_text()), expected_ids(bench),
                         ["convnp", "torch"])
    # Same weights, same first batch: the same loss, or the comparison is not of the same model.
    assert rows["lenet5-train"]["losses_agree"] and rows["vgg-train"]["losses_agree"]


def test_torch_worker_subprocess_gets_the_thread_count(bench, tmp_path):
    pytest.importorskip("torch")
    _, results = run_script(QUICK + ["--workloads", "conv"], tmp_path)
    check_results(results, ["conv-1", "conv-2"], ["convnp", "torch"])
    torch_info = results["frameworks"]["torch"]
    assert torch_info["num_threads"] == 1
    assert results["frameworks"]["convnp"]["convnp_threads"] == 1  # convnp.set_num_threads (issue 12)
    for info in results["frameworks"].values():  # threadpoolctl is optional ([bench] extra)
        if isinstance(info["threadpools"], list):
            assert all(pool["num_threads"] == 1 for pool in info["threadpools"]), info["threadpools"]


@pytest.mark.parametrize("name", ["lenet5", "vgg_small"])
def test_torch_twin_is_the_same_network(bench, name):
    torch = pytest.importorskip("torch")
    from convnp import models

    model = models.get(name, rng=3)
    twin = bench["_worker"].torch_twin(model)
    size, channels = (28, 1) if name == "lenet5" else (32, 3)
    x = np.random.default_rng(0).standard_normal((2, channels, size, size), dtype=np.float32)
    for mode in ("train", "eval"):
        getattr(model, mode)()
        getattr(twin, mode)()
        assert_matches(model(x), to_numpy(twin(torch.from_numpy(x))), np.float32, f"{name} {mode}")


def test_scaling_row_runs_one_thread_and_the_given_threads(bench, tmp_path):
    seen = []

    def runner(spec):
        seen.append((spec["cases"][0]["id"], spec["threads"]))
        return in_process(bench, spec)

    code = bench["run"].main(["--quick", "--no-torch", "--threads", "2", "--workloads", "scaling", "--data-dir",
                              "sample", "--out", str(tmp_path)], runner=runner)
    assert code == 0
    assert seen == [("scaling-vgg-1", 1), ("scaling-vgg", 2)]
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    fig = row["convnp"]
    assert row["id"] == "scaling-vgg" and fig["value"] == fig["threads_value"] / fig["one_thread_value"]
    assert "convnp " in row["notes"] and "images/s" in row["notes"]


def test_flop_counts(bench):
    w = bench["workloads"]
    shape = (32, 16, 32, 28, 3, 1)
    assert w.gemm_dims(shape) == (32, 16 * 9, 32 * 28 * 28)
    assert w.conv_flop(shape) == 3 * 2 * 32 * 32 * 16 * 3 * 3 * 28 * 28


def test_unknown_workload_is_refused(bench, capsys):
    with pytest.raises(SystemExit) as info:
        bench["run"].parse_args(["--workloads", "conv,nope"])
    assert info.value.code == 2
    assert "--workloads: unknown nope; choose from conv, gemm" in capsys.readouterr().err


def test_missing_data_dir_is_refused(bench, capsys, tmp_path):
    with pytest.raises(SystemExit):
        bench["run"].parse_args(["--data-dir", os.fspath(tmp_path / "absent")])
    assert "--data-dir: no folder" in capsys.readouterr().err
