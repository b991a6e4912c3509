"""Alembic migrations of the audit registry, shipped inside the package (see ``db.py``)."""
