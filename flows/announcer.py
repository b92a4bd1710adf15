"""The Prefect announcer the CLI and the web give their Runtime (services/announce.py decides what is sent).

Importing this module imports no Prefect: only an announcement with PREFECT_API_URL set loads
flows/events.py (and Prefect with it), so a CLI command that announces nothing starts fast.
"""

from __future__ import annotations

from typing import Any

from services.announce import announce, api_url_set


def prefect_announcer(event: str, out: dict[str, Any]) -> None:
    if not api_url_set():
        return
    from flows.events import emit, emit_submitted

    announce(event, out, emit=emit, emit_submitted=emit_submitted)
