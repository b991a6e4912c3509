"""Small drawing helpers shared by the views."""

from __future__ import annotations

import streamlit as st

from auditor.dashboard.display import Table, plain

ROW_PX = 35


def table_height(rows: int) -> int:
    """Pixels that show every row of a dataframe without an inner scroll bar."""
    return ROW_PX * (rows + 1) + 3


def show_table(
    table: Table, *, notes_title: str = "Why some cells are empty", full: bool = False
) -> None:
    """A report table, with the reasons for its empty cells folded underneath."""
    if full:
        st.dataframe(
            table.frame, hide_index=True, width="stretch", height=table_height(len(table.frame))
        )
    else:
        st.dataframe(table.frame, hide_index=True, width="stretch")
    if table.notes:
        with st.expander(f"{notes_title} ({len(table.notes)})"):
            for line in table.notes:
                st.markdown(f"- {plain(line)}")
