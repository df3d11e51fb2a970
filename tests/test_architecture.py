"""The layout guards: import contracts (setup.cfg [importlinter]) and the package exports."""

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["pyhik", "pyhik.protocol", "pyhik.state", "pyhik.isapi", "pyhik.stream", "pyhik.sensors"]


def test_import_contracts_are_kept() -> None:
    exe = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or shutil.which("lint-imports")
    assert exe, "lint-imports not found: import-linter is in the test extra"
    run = subprocess.run([exe, "--config", str(ROOT / "setup.cfg"), "--no-cache"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:]


@pytest.mark.parametrize("package", PACKAGES)
def test_package_exports_resolve(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"


def test_pure_layers_import_without_requests() -> None:
    code = ("import sys; sys.modules['requests'] = None; "
            "import pyhik.protocol.multipart, pyhik.protocol.templates, pyhik.state.book")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
