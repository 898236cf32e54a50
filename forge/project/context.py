"""AGENT_CONTEXT.md, the planner's view of the project's history: rebuilt from the records after every eval.

Scores by iteration (each with how its model started: fresh, warm or GRPO, and its contract), the best,
the gap to the teacher, the last eval's wrong fields and failure categories, and what worked; its most
recent CONTEXT_CHARS characters are kept.
"""

from __future__ import annotations

from forge.atomic import write_text_atomic
from forge.project.gap import gap, gap_text
from forge.project.records import (
    CONTEXT_CHARS,
    CONTEXT_FILE,
    best,
    experiments,
    failure_categories,
    is_baseline,
    start_text,
)


def _contract_note(row: dict) -> str:
    """' (schema-valid 100%, free 61.1%)' for a row scored under an output schema; '' otherwise."""
    if row.get("schema_valid") is None:
        return ""
    free = row.get("free")
    return (
        f" (schema-valid {100 * row['schema_valid']:.0f}%"
        + (f", free decoding {100 * free['accuracy']:.1f}%" if free else "")
        + ("" if row.get("constrained") else ", decoded free")
        + ")"
    )


def update_context(project) -> str:
    """Rewrite AGENT_CONTEXT.md from the experiment history; returns its (truncated) text."""
    rows, top = experiments(project, baseline=True), best(project)
    lines = ["# Agent context", "", "## Scores by iteration", ""]
    prev = None
    for r in rows:
        delta = "" if prev is None else f" ({100 * (r['accuracy'] - prev):+.1f} pts)"
        contract = _contract_note(r)
        warm = f" ({start_text(r)})" if r.get("warm_start") or r.get("grpo") else ""
        if is_baseline(r):
            lines.append(f"- base model, zero-shot (not promotable): {100 * r['accuracy']:.1f}%{contract}")
        else:
            lines.append(
                f"- iter {r['iteration']}: {100 * r['accuracy']:.1f}%{delta}{contract}, {r['train_size']} "
                f"training examples{warm}: {r['hypothesis']}"
            )
        prev = r["accuracy"]
    if top:
        lines += ["", f"Best: {100 * top['accuracy']:.1f}% (iter {top.get('iteration')}), {top.get('path')}"]
    closure = gap_text(gap(project))
    if closure:
        lines += ["", f"Teacher gap: {closure}"]
    if rows and rows[-1].get("per_field"):
        lines += ["", "## Wrong fields (last eval)", ""] + [f"- {k}: {n}" for k, n in rows[-1]["per_field"].items()]
    cats = failure_categories(project, missing_ok=True)
    if cats:
        lines += ["", "## Failure categories (last eval)", ""] + [f"- {k}: {n}" for k, n in cats.most_common()]
    worked = [r for i, r in enumerate(rows) if i and r["accuracy"] > rows[i - 1]["accuracy"]]
    if worked:
        lines += ["", "## What worked", ""] + [f"- iter {r['iteration']}: {r['hypothesis']}" for r in worked]
    text = ("\n".join(lines) + "\n")[-CONTEXT_CHARS:]
    write_text_atomic(project.root / CONTEXT_FILE, text)
    return text
