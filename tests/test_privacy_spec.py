"""The privacy block of the spec, identifier-like attributes, and the internal stamp."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from load_helpers import make_cohort, write_cohort, write_spec

from auditor.audit import prepare, run_audit
from auditor.errors import DataError, SpecError
from auditor.load.identifiers import MOSTLY_SMALL_GROUPS, TOO_MANY_GROUPS, refuse_identifier_like
from auditor.load.spec import display_path
from auditor.load.spec_loader import MIN_CELL_SIZE_TWICE, load_spec
from auditor.privacy.suppression import INTERNAL_STAMP
from reports.render import render


def _cohort_with(tmp_path: Path, column: np.ndarray, n: int) -> Path:
    frame = make_cohort(n, seed=1)
    frame["patient"] = column
    write_cohort(tmp_path, frame)
    return write_spec(tmp_path, sensitive=["race", "patient"])


def test_identifier_column_is_refused_before_scoring(tmp_path: Path) -> None:
    n = 100_000
    spec = load_spec(_cohort_with(tmp_path, np.arange(n), n))
    with pytest.raises(DataError) as err:
        prepare(spec)
    assert str(err.value) == TOO_MANY_GROUPS.format(
        file=display_path(spec.data), column="patient", count=n, limit=50
    )
    assert "'patient' has 100,000 distinct values" in str(err.value)


def test_the_check_itself_is_bounded_and_fast() -> None:
    column = pd.Series(np.arange(100_000).astype(str))
    start = time.perf_counter()
    with pytest.raises(DataError):
        refuse_identifier_like({"patient": column}, min_cell_size=11, file="data.csv")
    elapsed = time.perf_counter() - start
    # reported, not asserted (tests never assert on wall time)
    print(f"identifier check at 100,000 distinct values: {elapsed:.3f} s")


def test_mostly_small_groups_are_refused() -> None:
    column = pd.Series([f"g{i}" for i in range(40) for _ in range(5)] + ["big"] * 100)
    with pytest.raises(DataError) as err:
        refuse_identifier_like({"ward": column}, min_cell_size=11, file="data.csv")
    assert str(err.value) == MOSTLY_SMALL_GROUPS.format(
        file="data.csv", column="ward", count=41, small=200, rows=300, share=200 / 300, m=11
    )


def test_max_groups_is_configurable(tmp_path: Path) -> None:
    n = 1200
    values = np.repeat(np.arange(60), 20)
    path = _cohort_with(tmp_path, values, n)
    with pytest.raises(DataError):
        prepare(load_spec(path))
    spec = write_spec(
        tmp_path, "wide.yaml", sensitive=["race", "patient"], privacy={"max_groups": 60}
    )
    prepared = prepare(load_spec(spec))
    assert prepared.stats.attributes == ("race", "patient")


def test_privacy_block_and_top_level_min_cell_size(tmp_path: Path) -> None:
    write_cohort(tmp_path, make_cohort(300))
    block = load_spec(write_spec(tmp_path, "a.yaml", privacy={"min_cell_size": 15}))
    assert block.min_cell_size == 15 and block.privacy.min_cell_size == 15
    top = load_spec(write_spec(tmp_path, "b.yaml", min_cell_size=12))
    assert top.min_cell_size == 12 and top.privacy.min_cell_size == 12
    assert top.privacy.complementary is True and top.privacy.rounding == 3
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(tmp_path, "c.yaml", min_cell_size=12, privacy={"min_cell_size": 15}))
    assert str(err.value).endswith(
        "$.privacy.min_cell_size: " + MIN_CELL_SIZE_TWICE.format(top=12, block=15)
    )
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(tmp_path, "d.yaml", privacy={"complementary": "no"}))
    assert "$.privacy.complementary" in str(err.value)


def test_complementary_off_stamps_every_file(tmp_path: Path) -> None:
    write_cohort(tmp_path, make_cohort(400))
    spec = load_spec(
        write_spec(tmp_path, privacy={"complementary": False}, bootstrap=0, threshold=0.3)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_audit(spec)
    report = result.report
    assert report.privacy_notice == INTERNAL_STAMP
    out = tmp_path / "out"
    out.mkdir()
    paths = render(report, out, ["json", "html", "md", "junit", "pdf"])
    for kind in ("json", "html", "md", "junit"):
        assert INTERNAL_STAMP in Path(paths[kind]).read_text(encoding="utf-8"), kind
    from pypdf import PdfReader

    pages = PdfReader(str(paths["pdf"])).pages
    assert len(pages) > 1
    assert all(INTERNAL_STAMP in " ".join(p.extract_text().split()) for p in pages)
    default = run_audit(load_spec(write_spec(tmp_path, "on.yaml", bootstrap=0, threshold=0.3)))
    assert default.report.privacy_notice is None


def test_the_notebook_api_refuses_an_identifier_too() -> None:
    from auditor.measure.frame import subgroup_metrics

    frame = make_cohort(300)
    frame["patient"] = np.arange(300)
    with pytest.raises(DataError) as err:
        subgroup_metrics(frame, label="died", scores="risk", sensitive=["patient"])
    assert str(err.value) == TOO_MANY_GROUPS.format(
        file="data", column="patient", count=300, limit=50
    )


def test_cli_refuses_an_identifier_with_exit_2(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    n = 100_000
    path = _cohort_with(tmp_path, np.arange(n), n)
    result = subprocess.run(
        [sys.executable, "-m", "auditor", "audit", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=600,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "sensitive attribute 'patient' has 100,000 distinct values" in result.stderr
    assert not (tmp_path / "out").exists()
