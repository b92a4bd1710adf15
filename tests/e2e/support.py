"""What the browser tests share: Debian's Chromium, its headless flags, the test users' password."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "counter-pass-1"


def login(page: Any, name: str) -> None:
    """Sign in on the login form the browser was sent to (the password every test user has)."""
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
