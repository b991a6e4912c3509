"""Reduce: rows to mergeable per-cell statistics, once."""
