"""Turn a discovered cohort into a named group of the spec, so the audit measures it.

The new spec is the old one plus one ``named_groups`` entry whose conditions are the
cohort's; it is validated exactly as ``auditor audit`` would validate it (schema and
cross-field rules) before it is offered, so what the user saves is a valid spec.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from auditor.errors import SpecError
from reports.model import DiscoveredCohort

COHORT_NOT_NAMEABLE = (
    "cohort {id} ({cohort}) has a condition on a missing value, which a spec cannot "
    "name; add the group by hand with the conditions you mean"
)
_WORDS = (("≥", " ge "), ("<", " lt "), ("=", " "), (" and ", " "))


def suggest_name(cohort: DiscoveredCohort) -> str:
    """A valid attribute name from the cohort's words: ``age ge 80 site B``."""
    text = cohort.description
    for old, new in _WORDS:
        text = text.replace(old, new)
    text = re.sub(r"[^A-Za-z0-9_ .-]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if not text or not text[0].isalpha():
        text = f"cohort {text}".strip()
    return text[:64].rstrip()


def with_named_group(
    raw_spec: dict[str, Any],
    cohort: DiscoveredCohort,
    name: str,
    *,
    base_dir: Path,
    file: str = "the spec",
) -> dict[str, Any]:
    """The spec with the cohort added as ``named_groups[-1]``; SpecError if invalid."""
    from auditor.load.spec_loader import parse_spec

    if not cohort.conditions:
        raise SpecError(COHORT_NOT_NAMEABLE.format(id=cohort.id, cohort=cohort.description))
    new = copy.deepcopy(raw_spec)
    groups = list(new.get("named_groups") or [])
    groups.append(
        {"name": name, "description": cohort.description, "where": list(cohort.conditions)}
    )
    new["named_groups"] = groups
    parse_spec(new, base_dir=base_dir, file=file)
    return new
