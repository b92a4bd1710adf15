"""Configuration errors name the file, the line and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from complaints.config import REPO_ROOT, ConfigError, load_config


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", target)
    return target


def test_example_config_loads() -> None:
    """The shipped example org has four branches and routes every category somewhere."""
    cfg = load_config(REPO_ROOT / "config")
    assert set(cfg.org.branches) == {"dl", "dl-zs", "dl-xg", "dl-jz"}
    assert cfg.policy.intake.batch_size == 500


def test_unknown_person_names_file_line_and_field(tmp_path: Path) -> None:
    """A holder who is not in `people` is reported with its line and dotted path."""
    cfg = _copy(tmp_path)
    org = cfg / "org.yaml"
    lines = org.read_text(encoding="utf-8").splitlines()
    idx = next(i for i, line in enumerate(lines) if "holder: zhou.qiang" in line)
    lines[idx] = lines[idx].replace("zhou.qiang", "nobody.here")
    org.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    msg = str(exc.value)
    assert f"org.yaml:{idx + 1}: branches[0].departments[1].head.holder: unknown person 'nobody.here'" in msg


def test_type_error_names_the_field(tmp_path: Path) -> None:
    """A wrong type in policy.yaml names the field and its line."""
    cfg = _copy(tmp_path)
    policy = cfg / "policy.yaml"
    text = policy.read_text(encoding="utf-8").replace("batch_size: 500", "batch_size: lots")
    policy.write_text(text, encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "batch_size" in t)
    with pytest.raises(ConfigError, match=rf"policy.yaml:{line}: intake.batch_size: Input should be a valid integer"):
        load_config(cfg)


def test_unknown_category_code_in_routing(tmp_path: Path) -> None:
    """A routing rule naming a category that is not B01..B14 is refused."""
    cfg = _copy(tmp_path)
    routing = cfg / "routing.yaml"
    routing.write_text(routing.read_text(encoding="utf-8").replace("[B03]", "[B99]"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"routing.yaml:\d+: rules\[3\].categories\[0\]: 'B99' is not a JR/T 0169 B code"):
        load_config(cfg)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    """A missing file and broken YAML are named with the path (and line)."""
    cfg = _copy(tmp_path)
    (cfg / "routing.yaml").unlink()
    with pytest.raises(ConfigError, match="routing.yaml: file not found"):
        load_config(cfg)
    (cfg / "routing.yaml").write_text("rules: [\n  {department: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"routing.yaml:\d+: not valid YAML"):
        load_config(cfg)
