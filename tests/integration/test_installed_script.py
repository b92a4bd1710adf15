"""The installed `complaints` script works from anywhere, as `./run` and a user call it.

The tests themselves import the packages from the repository root; the console script sees only what
the package's install makes importable (pyproject's `packages.find`), so a top-level package left out
of it fails here and nowhere else.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from complaints.cli import COMMAND_MODULES

SCRIPT = Path(sys.executable).parent / "complaints"


def test_the_installed_script_imports_every_command_from_outside_the_repository(tmp_path: Path) -> None:
    assert SCRIPT.exists(), f"{SCRIPT}: the package is not installed in this venv (./run installs it)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(SCRIPT), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    probe = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in COMMAND_MODULES)
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
