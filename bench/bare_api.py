"""The HTTP API benchmark's raw baseline: FastAPI on the same uvicorn, one route that does what every
request of ours does before the application's own work — a sync dependency (a thread hop), the JSON
body read and parsed, a 201 with a small JSON answer — and nothing else (no database, no checks).

    .venv/bin/python -m uvicorn --app-dir bench bare_api:app --port 8001
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, FastAPI, Request

app = FastAPI()


def principal() -> str:
    return "bench-desk"


@app.post("/api/complaints", status_code=201)
async def post_complaint(request: Request, who: str = Depends(principal)) -> Any:  # noqa: B008
    raw = json.loads(await request.body())
    return {"case_no": "DL-2026-000001", "created": True, "source": raw["source"], "by": who}


@app.get("/login")
def login() -> dict[str, str]:
    return {"ok": "yes"}
