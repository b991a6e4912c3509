"""Discovery of underperforming cohorts nobody named, with false discoveries controlled.

``discover(...)`` searches one seeded half of the rows, confirms on the other and
controls the false discovery rate (see :mod:`auditor.discover.search`).
"""

from auditor.discover.conditions import Condition, cohort_text
from auditor.discover.search import THRESHOLD_METRICS, Discovery, discover, split_halves

__all__ = ["THRESHOLD_METRICS", "Condition", "Discovery", "cohort_text", "discover", "split_halves"]
