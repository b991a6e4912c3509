"""Cohorts found: browse the discovered cohorts and add one to the spec as a named group.

Every number comes from ``report.cohorts_found`` (confirmation half, privacy applied);
the view words it with :mod:`reports.cohorts` and builds the new spec with
:func:`auditor.discover.named.with_named_group`, which validates it as the CLI would.
The spec is offered as a download: the dashboard never writes the audited files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st
import yaml

from auditor.dashboard import display
from auditor.discover.named import suggest_name, with_named_group
from auditor.errors import SpecError
from reports.cohorts import cohort_rows, cohorts_summary

if TYPE_CHECKING:
    from auditor.dashboard.app import ViewContext

PICK_KEY = "cohort_pick"
NAME_KEY = "cohort_name"
SPEC_KEY = "cohort_spec"
ADD_LABEL = "Add to the spec as a named group"
ADDED = (
    "Added {name!r} to the spec as a named group (an attribute with the groups in and "
    "out). Save it beside the original spec and audit it: every table, rule and the "
    "privacy plan then treat it like a named attribute."
)
READ_ONLY = "A report read from a file has no spec to add the cohort to; open the spec."


def render(ctx: ViewContext) -> None:
    report = ctx.report
    st.subheader("Cohorts found")
    st.write(display.plain(cohorts_summary(report)))
    rows = cohort_rows(report)
    if not rows:
        return
    table = pd.DataFrame(
        [
            {
                "Cohort": f"{r.id}: {r.cohort}",
                "Size": r.size,
                "Metric": r.metric,
                "Value (95% CI)": r.value,
                "Difference from the rest": r.difference,
                "q": r.q_value,
                "How found": r.found_by,
            }
            for r in rows
        ]
    )
    st.dataframe(table, hide_index=True, width="stretch")
    found = report.cohorts_found
    assert found is not None
    ids = [c.id for c in found.cohorts]
    labels = {c.id: f"{c.id}: {c.description} ({c.metric})" for c in found.cohorts}
    pick = st.selectbox("Cohort", ids, format_func=labels.__getitem__, key=PICK_KEY)
    cohort = next(c for c in found.cohorts if c.id == pick)
    if ctx.source.read_only:
        st.info(READ_ONLY)
        return
    name = st.text_input("Name of the group", value=suggest_name(cohort), key=NAME_KEY)
    if st.button(ADD_LABEL):
        try:
            spec = with_named_group(
                report.provenance.spec,
                cohort,
                name,
                base_dir=ctx.source.path.parent,
                file=ctx.source.path.name,
            )
        except SpecError as exc:
            st.error(str(exc))
            return
        st.session_state[SPEC_KEY] = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
        st.success(ADDED.format(name=name))
    text = st.session_state.get(SPEC_KEY)
    if text:
        st.code(text, language="yaml")
        st.download_button(
            "Download the spec",
            text,
            file_name=f"{ctx.source.path.stem}-named-groups.yaml",
            mime="application/yaml",
        )
