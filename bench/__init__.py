"""Benchmarks that print figures against the targets in DESIGN.md.

Each ``bench/bench_<name>.py`` module exposes ``main()`` and prints its own figures; run them all
with ``python -m bench`` (``make bench``) or some with ``python -m bench store ui``. Benchmarks are
never part of the test suite: timings on a shared machine are figures to read, not assertions.
Generated data sets and other output go to ``bench/out/`` (ignored by git).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0.95 for p95) of ``values``, nearest-rank on sorted data."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: Sequence[float]) -> str:
    """``median … ms, p95 … ms, max … ms`` for timings in milliseconds."""
    return (
        f"median {statistics.median(values):.2f} ms, p95 {percentile(values, 0.95):.2f} ms,"
        f" max {max(values):.2f} ms"
    )


def verdict(value: float, target: float) -> str:
    """``ok`` or ``OVER TARGET``, for one figure against its DESIGN.md target."""
    return "ok" if value <= target else "OVER TARGET"
