"""ResultLine: one `key: value` result of a command or tool, as people read it and as --json writes it.

A typed result (an eval, a training run, a promotion) says its lines once; `forge <command>` prints them
(forge.cli.options.CommandOutput.add_lines) and the agent's tool sends the same text to the planner.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResultLine:
    """One result: `key` and its JSON `value` (what --json writes), `shown` as people read it (None: JSON only)."""

    key: str
    value: object
    shown: str | None


def fraction(x: float) -> str:
    """A rate in [0, 1] as every result line writes it."""
    return f"{x:.4f}"


def score_lines(key: str, accuracy: float, correct: int, total: int, ci95: list[float]) -> list[ResultLine]:
    """A score on a set as every result says it: `key` (accuracy, teacher_accuracy, ...), correct/total, the
    95% interval."""
    lo, hi = ci95
    return [
        ResultLine(key, accuracy, fraction(accuracy)),
        ResultLine("correct", correct, f"{correct}/{total}"),
        ResultLine("ci95", ci95, f"{fraction(lo)}-{fraction(hi)}"),
    ]


def as_text(lines: list[ResultLine], leave_out: frozenset[str] = frozenset()) -> str:
    """The lines people read, `key: shown` each, without the JSON-only ones and the keys in `leave_out`."""
    return "\n".join(f"{r.key}: {r.shown}" for r in lines if r.shown is not None and r.key not in leave_out)
