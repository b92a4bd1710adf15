"""Run the `complaints` CLI in this process and read its JSON output."""

from __future__ import annotations

import json
from typing import Any

import pytest

from complaints.cli import main


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    """Exit code, parsed stdout (None when empty) and stderr of one CLI call."""
    code = main(list(args))
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err
