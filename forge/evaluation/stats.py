"""Small statistics for trustworthy numbers: Wilson intervals and the exact McNemar test."""

from __future__ import annotations

import math


def wilson_interval(correct: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (sensible at 0/n and n/n, unlike the normal one)."""
    if total == 0:
        return (0.0, 1.0)
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar_exact(only_old: int, only_new: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs (binomial test at 1/2)."""
    n = only_old + only_new
    if n == 0:
        return 1.0
    k = min(only_old, only_new)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired_comparison(old: dict[str, bool], new: dict[str, bool]) -> dict:
    """Compare two evals on the gold examples they share (keyed by example id)."""
    shared = sorted(set(old) & set(new))
    only_old = sum(1 for k in shared if old[k] and not new[k])
    only_new = sum(1 for k in shared if new[k] and not old[k])
    return {"shared": len(shared), "only_previous_correct": only_old, "only_new_correct": only_new,
            "p_value": round(mcnemar_exact(only_old, only_new), 6)}
