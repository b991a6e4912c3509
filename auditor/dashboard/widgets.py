"""Small drawing helpers shared by the views."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from auditor.dashboard.display import Table, plain

ROW_PX = 35


def table_height(rows: int) -> int:
    """Pixels that show every row of a dataframe without an inner scroll bar."""
    return ROW_PX * (rows + 1) + 3


WORD_JOINER = "\u2060"
"""Invisible: forbids a line break next to the dash of an interval."""


def keep_interval_whole(text: str) -> str:
    """``0.196 (0.182–0.212)`` may wrap before the interval, never inside it."""
    return text.replace("–", f"{WORD_JOINER}–{WORD_JOINER}")


def static_table(frame: pd.DataFrame) -> None:
    """A table whose cells wrap to the page width, so no column is cut off at 1280 px.

    The interactive grid (``st.dataframe``) keeps every cell on one line and hides the
    columns that do not fit behind a scroll bar; long messages and estimates with
    intervals read better wrapped. The first column becomes the row header.
    """
    shown = frame.fillna("").astype(str).map(keep_interval_whole)
    if len(shown.columns) > 1:
        shown = shown.set_index(shown.columns[0])
    st.table(shown)


def show_table(
    table: Table,
    *,
    notes_title: str = "Why some cells are empty",
    full: bool = False,
    static: bool = False,
) -> None:
    """A report table, with the reasons for its empty cells folded underneath."""
    if static:
        static_table(table.frame)
    elif full:
        st.dataframe(
            table.frame, hide_index=True, width="stretch", height=table_height(len(table.frame))
        )
    else:
        st.dataframe(table.frame, hide_index=True, width="stretch")
    if table.notes:
        with st.expander(f"{notes_title} ({len(table.notes)})"):
            for line in table.notes:
                st.markdown(f"- {plain(line)}")
