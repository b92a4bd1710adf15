"""`complaints web`: the web pages and the HTTP API (uvicorn)."""

from __future__ import annotations

import argparse

from complaints.services import open_app


def cmd_web(args: argparse.Namespace) -> int:
    from api.app import serve
    from models.db import make_engine

    with open_app():
        pass  # migrate before serving
    engine = make_engine()
    try:
        serve(args.host, args.port, engine=engine)
    finally:
        engine.dispose()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("web", help="serve the web pages and the HTTP API (see docs/api.md)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(handler=cmd_web)
