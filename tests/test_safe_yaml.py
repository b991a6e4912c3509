"""YAML limits: every YAML the tool reads (specs and policies from the CLI too) is bounded."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from auditor import cli
from auditor.errors import AuditInputError, PolicyError, SpecError
from auditor.judge.policy import load_policy_text
from auditor.load.safe_yaml import (
    MAX_YAML_ALIASES,
    MAX_YAML_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    YAML_RECURSIVE,
    YAML_TOO_DEEP,
    YAML_TOO_LARGE,
    YAML_TOO_MANY_ALIASES,
    YAML_TOO_MANY_NODES,
    load_yaml,
)


def laughs(levels: int = 9, width: int = 9) -> str:
    """A billion-laughs document: each level repeats the previous one ``width`` times."""
    lines = ["a0: &a0 [" + ",".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_ordinary_yaml_reads_as_safe_load_does() -> None:
    text = "a: [1, 2, {b: c}]\nanchor: &x {k: v}\nagain: *x\n"
    assert load_yaml(text, source="t.yaml") == yaml.safe_load(text)


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    with pytest.raises(SpecError) as err:
        load_yaml(laughs(), source="spec.yaml", error=SpecError)
    assert str(err.value) == YAML_TOO_MANY_NODES.format(source="spec.yaml", limit=MAX_YAML_NODES)


def test_too_many_aliases_are_refused() -> None:
    text = "a: &a 1\nb: [" + ",".join(["*a"] * (MAX_YAML_ALIASES + 1)) + "]\n"
    with pytest.raises(AuditInputError) as err:
        load_yaml(text, source="x.yaml")
    assert str(err.value) == YAML_TOO_MANY_ALIASES.format(
        source="x.yaml", line=2, limit=MAX_YAML_ALIASES
    )


def test_deep_nesting_is_refused() -> None:
    text = "[" * (MAX_YAML_DEPTH + 5) + "]" * (MAX_YAML_DEPTH + 5)
    with pytest.raises(PolicyError) as err:
        load_yaml(text, source="p.yaml", error=PolicyError)
    assert str(err.value) == YAML_TOO_DEEP.format(source="p.yaml", line=1, limit=MAX_YAML_DEPTH)


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(AuditInputError) as err:
        load_yaml("a: &a [1, *a]\n", source="r.yaml")
    assert str(err.value) == YAML_RECURSIVE.format(source="r.yaml", line=1)


def test_a_huge_text_is_refused_unread() -> None:
    text = "a: " + "x" * MAX_YAML_BYTES
    with pytest.raises(AuditInputError) as err:
        load_yaml(text, source="big.yaml")
    assert str(err.value) == YAML_TOO_LARGE.format(
        source="big.yaml", size=len(text), limit=MAX_YAML_BYTES
    )


def test_syntax_errors_stay_the_callers_to_word() -> None:
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: [1, 2\n", source="s.yaml")


def test_policy_text_with_a_bomb_is_a_policy_error() -> None:
    with pytest.raises(PolicyError) as err:
        load_policy_text(laughs(), name="policy editor")
    assert str(err.value) == YAML_TOO_MANY_NODES.format(
        source="policy editor", limit=MAX_YAML_NODES
    )


def test_the_cli_refuses_a_bomb_spec_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(laughs())
    code = cli.main(["audit", str(spec), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.endswith(YAML_TOO_MANY_NODES.format(source="", limit=MAX_YAML_NODES)[2:])
    assert "spec.yaml" in err and "Traceback" not in err


def test_an_mlflow_folder_with_a_bomb_in_mlmodel_is_a_model_error(tmp_path: Path) -> None:
    from dataclasses import replace

    from auditor.errors import ModelError
    from auditor.load.examples import EXAMPLE_DIR
    from auditor.load.scorers import load_scorer
    from auditor.load.spec_loader import load_spec

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text(laughs())
    spec = load_spec(EXAMPLE_DIR / "spec.yaml")
    spec = replace(spec, model=replace(spec.model, path=folder))
    with pytest.raises(ModelError) as err:
        load_scorer(spec)
    assert str(err.value).endswith(YAML_TOO_MANY_NODES.format(source="", limit=MAX_YAML_NODES)[2:])
