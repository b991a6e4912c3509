"""The small guards every loader shares: capped YAML/JSON, escaped text, regular files only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from auditor.errors import AuditInputError, DataError
from auditor.load import safe_yaml
from auditor.load.hashing import TOO_LARGE, read_regular_file
from auditor.load.safe_yaml import load_json, load_yaml
from auditor.safe_text import escape_control, line_break_in


def test_plain_yaml_loads_as_safe_load_does() -> None:
    text = "a: &x [1, 2]\nb: *x\nc: {d: e}\n"
    assert load_yaml(text, source="t") == yaml.safe_load(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: " + "x" * (safe_yaml.MAX_YAML_BYTES + 1), "the YAML text is"),
        ("a: &x [*x]\n", "a YAML alias refers to the value that contains it"),
        ("a: &x 1\n" + "".join(f"b{i}: *x\n" for i in range(201)), "more than 200 YAML aliases"),
        ("a: " + "[" * 65 + "]" * 65, "YAML nested deeper than 64 levels"),
        ("a: " + "{b: " * 65 + "1" + "}" * 65, "YAML nested deeper than 64 levels"),
    ],
)
def test_yaml_caps(text: str, message: str) -> None:
    with pytest.raises(AuditInputError, match=message):
        load_yaml(text, source="s.yaml", error=AuditInputError)


def test_yaml_syntax_errors_stay_yaml_errors_for_the_caller() -> None:
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: [1, 2\n", source="s.yaml")


def test_json_caps() -> None:
    assert load_json('{"a": [1, {"b": 2}]}', source="j") == {"a": [1, {"b": 2}]}
    for text in ("[" * 65 + "]" * 65, "[" * 100_000 + "]" * 100_000):
        with pytest.raises(AuditInputError, match="JSON nested deeper than 64 levels"):
            load_json(text, source="j.json", error=AuditInputError)


def test_escape_control_shows_what_a_terminal_would_obey() -> None:
    assert escape_control("Dr A. Chen (CMIO) é ü 中") == "Dr A. Chen (CMIO) é ü 中"
    assert escape_control("a\nb\r\x1b[31mc\x7f\u202ed\u2028") == (
        "a\\nb\\r\\x1b[31mc\\x7f\\u202ed\\u2028"
    )
    assert line_break_in("a\u2028b") and line_break_in("a\rb") and not line_break_in("a\tb")


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(DataError, match="named pipe"):
        read_regular_file(tmp_path / "pipe", error=DataError)
    (tmp_path / "f").write_bytes(b"x" * 11)
    with pytest.raises(DataError) as caught:
        read_regular_file(tmp_path / "f", error=DataError, file="f", limit=10, setting="S")
    assert str(caught.value) == TOO_LARGE.format(file="f", limit=10, setting="S")
    assert read_regular_file(tmp_path / "f", limit=11) == b"x" * 11
