"""Small statistics for trustworthy numbers: Wilson intervals, the exact McNemar test, Cohen's kappa."""

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
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_comparison(old: dict[str, bool], new: dict[str, bool]) -> dict:
    """Compare two evals on the gold examples they share (keyed by example id)."""
    shared = sorted(set(old) & set(new))
    only_old = sum(1 for k in shared if old[k] and not new[k])
    only_new = sum(1 for k in shared if new[k] and not old[k])
    return {
        "shared": len(shared),
        "only_previous_correct": only_old,
        "only_new_correct": only_new,
        "p_value": round(mcnemar_exact(only_old, only_new), 6),
    }


def cohen_kappa(pairs: list[tuple[bool, bool]]) -> float | None:
    """Cohen's kappa of two raters' yes/no labels: agreement beyond chance, 1 perfect, 0 chance level; None when
    chance agreement is already 1 (both raters gave one label throughout)."""
    n = len(pairs)
    if not n:
        return None
    observed = sum(a == b for a, b in pairs) / n
    yes_a, yes_b = sum(a for a, _ in pairs) / n, sum(b for _, b in pairs) / n
    chance = yes_a * yes_b + (1 - yes_a) * (1 - yes_b)
    return None if chance == 1 else (observed - chance) / (1 - chance)
