"""Fuzzed DICOM input: every mutant gives a typed error or a valid loop, within a
time limit, without absurd allocations (children run under a 3 GiB address-space
limit, so a header-driven allocation would surface as a MemoryError)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.fuzz import run_campaign


def _check(results: list[dict]) -> Counter:
    bad = [r for r in results if r["outcome"] not in ("valid", "typed_error") or r["detail"].startswith("invalid")]
    assert not bad, bad[:5]
    return Counter(r["outcome"] for r in results)


def test_fuzz_quick(tmp_path) -> None:
    counts = _check(run_campaign(tmp_path, 40, seed=1))
    assert counts["typed_error"] > 0 and counts["valid"] > 0


@pytest.mark.slow
def test_fuzz_500_cases(tmp_path) -> None:
    results = run_campaign(tmp_path, 500, seed=0)
    counts = _check(results)
    assert sum(counts.values()) == 500
    assert max(r["seconds"] for r in results) < 30
