"""Report folders are written all or nothing, and never over the user's inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import OutputError
from auditor.output import check_output_dir, write_atomically


def _write(files: dict[str, str]):  # type: ignore[no-untyped-def]
    def write(folder: Path) -> None:
        for name, text in files.items():
            (folder / name).write_text(text)

    return write


def test_new_folder_is_published(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    write_atomically(out, _write({"report.json": "{}"}))
    assert [p.name for p in out.iterdir()] == ["report.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]


def test_failed_write_keeps_the_old_folder(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    write_atomically(out, _write({"report.json": "old"}))

    def crash(folder: Path) -> None:
        (folder / "report.json").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(out, crash)
    assert (out / "report.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]


def test_replacement_swaps_the_whole_folder(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    write_atomically(out, _write({"a.txt": "1", "b.txt": "2"}))
    write_atomically(out, _write({"a.txt": "3"}))
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a.txt": "3"}


def test_non_empty_folder_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    check_output_dir(out, force=False)  # empty is fine
    (out / "x").write_text("x")
    with pytest.raises(OutputError) as err:
        check_output_dir(out, force=False)
    assert str(err.value) == (
        f"{out}: the output folder exists and is not empty; choose another --out or pass "
        "--force to replace it"
    )
    check_output_dir(out, force=True)


def test_folder_holding_an_input_is_refused_even_with_force(tmp_path: Path) -> None:
    data = tmp_path / "cohort.csv"
    data.write_text("a\n1\n")
    with pytest.raises(OutputError, match=r"contains an input of this audit \(cohort\.csv\)"):
        check_output_dir(tmp_path, force=True, inputs=[data])


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "report"
    target.write_text("x")
    with pytest.raises(OutputError, match="exists and is a file"):
        check_output_dir(target, force=True)
