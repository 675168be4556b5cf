"""The summary of a run says how many tests skipped because PyTorch is absent, and how to run them."""
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = '''
import pytest

def test_needs_torch():
    pytest.importorskip("torch")

def test_torch_fixture(torch):
    pass

def test_skipped_for_another_reason():
    pytest.skip("not today")

def test_runs():
    pass
'''


def test_summary_counts_the_tests_that_pytorch_absence_skipped(tmp_path):
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_some.py").write_text(TESTS)
    shadow = tmp_path / "shadow" / "torch"     # a torch that cannot be imported, first on the path
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={"PYTHONPATH": str(tmp_path / "shadow"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "2 tests skipped because PyTorch is not installed (the reference they compare against); to run them:" \
           " pip install torch (the CPU build is enough: pip install torch --index-url" \
           " https://download.pytorch.org/whl/cpu), then run pytest again" in lines, done.stdout
    assert any("1 passed, 3 skipped" in line for line in lines), done.stdout
