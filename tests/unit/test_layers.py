"""The import graph points down the layers only (docs/architecture.md):

    domain ← settings ← models ← notifications ← services ← flows ← api / complaints

Every module's imports are parsed (ast; imports inside functions count too): a module may import
its own layer and the ones below, never one above; `api` does not import the CLI package
`complaints` (the CLI may start the web app). The pure core imports none of prefect, sqlmodel,
sqlalchemy, httpx, jinja2, fastapi.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS: dict[str, int] = {"domain": 0, "settings": 1, "models": 2, "notifications": 3, "services": 4, "flows": 5,
                          "api": 6, "complaints": 6}
PURE_BANNED = {"prefect", "sqlmodel", "sqlalchemy", "httpx", "jinja2", "fastapi"}
# Imports pointing up that belong to work in progress elsewhere. Each entry must still be needed:
# when the import is gone, the entry has to go too.
PENDING: set[tuple[str, str]] = set()


def _modules() -> Iterator[tuple[str, Path]]:
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def _imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node.lineno


def _layer(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in LAYERS else None


def _violations() -> tuple[list[str], set[tuple[str, str]]]:
    found: list[str] = []
    pending_seen: set[tuple[str, str]] = set()
    for name, path in _modules():
        own = _layer(name)
        assert own is not None
        for target, line in _imports(name, path):
            where = f"{path.relative_to(ROOT)}:{line}"
            top = target.split(".")[0]
            if own == "domain" and top in PURE_BANNED:
                found.append(f"{where}: domain imports {target} (the pure core imports no {top})")
                continue
            other = _layer(target)
            if other is None:
                continue
            upward = LAYERS[other] > LAYERS[own] or (own == "api" and other == "complaints")
            if not upward:
                continue
            if (name, target) in PENDING:
                pending_seen.add((name, target))
                continue
            found.append(f"{where}: {own} imports {target} ({other} is above {own})")
    return found, pending_seen


def test_no_import_points_up_the_layers() -> None:
    found, _ = _violations()
    assert not found, "imports pointing up the layers:\n  " + "\n  ".join(found)


def test_every_pending_exception_is_still_needed() -> None:
    _, seen = _violations()
    assert PENDING <= seen, f"no longer needed, remove from PENDING: {sorted(PENDING - seen)}"


def test_the_checker_sees_a_function_level_import_pointing_up(tmp_path: Path) -> None:
    """The checker itself: an import inside a function is read, and a relative import resolved."""
    path = tmp_path / "mod.py"
    path.write_text("def f():\n    from flows.intake import run_intake\n    from . import sibling\n", encoding="utf-8")
    assert list(_imports("models.mod", path)) == [("flows.intake", 2), ("models", 3)]


def _defined(path: Path) -> tuple[set[str], list[str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    texts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return functions, texts


def test_the_named_repeats_have_one_definition_each() -> None:
    """`local_text` is defined once (domain/deadlines.py), "待分拣" written once (domain/taxonomy.py:
    UNTRIAGED), the chain snapshot once (domain/org.py: chain_snapshot); the sensitive tags are
    domain/taxonomy.py's SENSITIVE_TAGS (no module spells the three codes out again)."""
    local_text: list[str] = []
    untriaged: list[str] = []
    chain_dicts: list[str] = []
    sensitive: list[str] = []
    for name, path in _modules():
        functions, texts = _defined(path)
        if "local_text" in functions:
            local_text.append(name)
        if "待分拣" in texts:
            untriaged.append(name)
        source = path.read_text(encoding="utf-8")
        if '"acting": m.acting' in source:
            chain_dicts.append(name)
        if "JUDICIAL" in source and "REGULATORY" in source or {"judicial", "regulatory"} <= set(texts):
            sensitive.append(name)
    assert local_text == ["domain.deadlines"]
    assert untriaged == ["domain.taxonomy"]
    assert chain_dicts == ["domain.org"]
    assert sensitive == ["domain.taxonomy"]
