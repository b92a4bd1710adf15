"""`complaints`: the command line for the desk, supervisors, operators and CI.

Each group of commands lives in its own module with a `register(subparsers)` function; this
module wires them together. Commands print JSON on stdout (for people and scripts alike) and
clear messages on stderr; a bad input exits with code 2 and stores nothing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from complaints.config import ConfigError

COMMAND_MODULES = (
    "complaints.cli_cases",
    "complaints.cli_outbox",
    "complaints.cli_escalation",
    "complaints.cli_report",
    "complaints.cli_up",
    "complaints.cli_users",
    "complaints.cli_web",
)


class UsageError(Exception):
    """A bad argument or input: printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="complaints", description="银行消费投诉处理 — complaint workflow")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
    except (UsageError, ConfigError) as exc:
        print(f"complaints: {exc}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    # `python -m complaints.cli`: run the imported module's main, so that the UsageError the
    # command modules raise (complaints.cli.UsageError) is the one caught here.
    from complaints.cli import main as _main

    sys.exit(_main())
