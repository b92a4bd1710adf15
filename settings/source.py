"""Read a YAML file keeping each node's line, and validate it, so every configuration error names the
file, the line and the field (``config/org.yaml:41: branches[1]...: unknown person 'zhou.x'``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
REPO_ROOT = Path(__file__).resolve().parent.parent


def config_dir() -> Path:
    """COMPLAINTS_CONFIG, else the repository's config/."""
    return Path(os.environ.get("COMPLAINTS_CONFIG", REPO_ROOT / "config"))


class ConfigError(ValueError):
    """One or more problems in the configuration; each line names file, line and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------- YAML with line numbers


def _walk(node: yaml.Node, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], int]]:
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield path + (key.value,), key.start_mark.line + 1
            yield from _walk(value, path + (key.value,))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _walk(item, path + (i,))


@dataclass
class _Source:
    path: Path
    data: Any
    lines: dict[tuple[Any, ...], int]

    def line_of(self, loc: tuple[Any, ...]) -> int:
        for cut in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:cut]))
            if line is not None:
                return line
        return 1

    def where(self, loc: tuple[Any, ...]) -> str:
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        return f"{self.path}:{self.line_of(loc)}: {field or '(top level)'}"


def read_yaml(path: Path) -> _Source:
    if not path.exists():
        raise ConfigError([f"{path}: file not found"])
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError([f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    lines = dict(_walk(node, ())) if node is not None else {}
    return _Source(path, data if data is not None else {}, lines)


def validate_yaml(model: type[M], src: _Source) -> M:
    try:
        return model.model_validate(src.data)
    except ValidationError as exc:
        raise ConfigError([f"{src.where(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]) from None


Source = _Source
