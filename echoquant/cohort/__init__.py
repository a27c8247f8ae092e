"""Cohort comparison: blinded join of measurements to groups, statistics, report."""

from __future__ import annotations

from echoquant.cohort.compare import STATS_COLUMNS, CohortReport, compare
from echoquant.cohort.design import CohortInputError, assign_subjects, blind_groups, read_groups

__all__ = ["STATS_COLUMNS", "CohortInputError", "CohortReport", "assign_subjects", "blind_groups", "compare",
           "read_groups"]
