"""The Streamlit dashboard: one module per view, a thin shell over the library.

``app`` draws the page; ``inputs`` picks what to audit; ``state`` caches the
loaded, scored and reduced inputs so a moved control re-measures only.
"""
