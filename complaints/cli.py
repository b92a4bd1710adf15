"""`complaints`: the command line for the desk, supervisors, operators and CI.

Each group of commands lives in its own module with a `register(subparsers)` function; this
module wires them together. Commands print JSON on stdout (for people and scripts alike) and
clear messages on stderr; a bad input exits with code 2 and stores nothing.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from settings.config import ConfigError

COMMAND_MODULES = (
    "complaints.cli_analytics",
    "complaints.cli_cases",
    "complaints.cli_casework",
    "complaints.cli_demo",
    "complaints.cli_outbox",
    "complaints.cli_escalation",
    "complaints.cli_governance",
    "complaints.cli_report",
    "complaints.cli_search",
    "complaints.cli_status",
    "complaints.cli_up",
    "complaints.cli_users",
    "complaints.cli_web",
)


class UsageError(Exception):
    """A bad argument or input: printed without a traceback, exit code 2."""


# argparse's own refusals, in Chinese (the option is named as typed, e.g. --status).
_ARGPARSE_CN: tuple[tuple[str, str], ...] = (
    (r"^argument (\S+): invalid choice: (.*) \(choose from (.*)\)$", r"参数 \1：\2 不是可选值之一（可选：\3）"),
    (r"^argument (\S+): invalid (\w+) value: (.*)$", r"参数 \1：\3 不是有效的数值"),
    (r"^argument (\S+): expected one argument$", r"参数 \1：缺少取值"),
    (r"^argument (\S+): (.*)$", r"参数 \1：\2"),
    (r"^the following arguments are required: (.*)$", r"缺少必填参数：\1"),
    (r"^unrecognized arguments: (.*)$", r"无法识别的参数：\1"),
    (r"^one of the arguments (.*) is required$", r"参数 \1 须给出其一"),
)


class ChineseParser(argparse.ArgumentParser):
    """An argument parser whose refusals are a UsageError in Chinese (exit code 2, no traceback)."""

    def error(self, message: str) -> NoReturn:
        named = re.match(r"^argument (\S+): (.*)$", message)
        if named and any(opt in named.group(2) for opt in named.group(1).split("/")):
            message = named.group(2)  # our own message names the option already
        for pattern, repl in _ARGPARSE_CN:
            if re.match(pattern, message):
                message = re.sub(pattern, repl, message)
                break
        command = self.prog.removeprefix("complaints").strip()
        raise UsageError(f"{command}：{message}" if command else message)


def int_arg(label: str, *, minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number within bounds; the refusal names the field in Chinese."""
    bounds = f"{minimum} 到 {maximum} 之间的整数" if maximum is not None else f"不小于 {minimum} 的整数"

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{label}须为 {bounds}，收到 {value!r}") from None
        if n < minimum or (maximum is not None and n > maximum):
            raise argparse.ArgumentTypeError(f"{label}须为 {bounds}，收到 {value}")
        return n

    return parse


def float_arg(label: str, *, above: float, maximum: float) -> Callable[[str], float]:
    """An argparse type: a number greater than `above` and at most `maximum`."""

    def parse(value: str) -> float:
        try:
            x = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{label}须为数字，收到 {value!r}") from None
        if not above < x <= maximum:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{label}须大于 {above:g} 且不超过 {maximum:g}，收到 {value}")
        return x

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = ChineseParser(prog="complaints", description="银行消费投诉处理 — complaint workflow")
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
    try:
        args = parser.parse_args(argv)
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
