"""`forge augment`: targeted examples for the categories of the latest eval failures.

A category is (expected cmd, kind of failure, what the model said instead when it named a
cmd). The generator is told the category, never the gold inputs or outputs themselves, so no
gold text can leak into training data through the prompt; the gold guard still checks every
example written.
"""

from __future__ import annotations

import re
from collections import Counter

from forge.datagen import GenerationReport, generate
from forge.errors import ForgeError
from forge.eval_runner import FAILURES
from forge.project import Project
from forge.scorers import category, cmd_of


def _kind(reason: str | None) -> str:
    reason = reason or "wrong"
    return re.sub(r"\s*[:'(].*$", "", reason).strip() or "wrong"


def failure_categories(project: Project) -> Counter:
    """Counter of focus descriptions, one per failure category, from output/eval_failures.jsonl."""
    path = project.output / FAILURES
    if not path.exists():
        raise ForgeError("output/eval_failures.jsonl: not found (run `forge eval` first)")
    rows = project.read_jsonl_state(FAILURES)
    cats: Counter = Counter()
    for row in rows:
        expected = category(row.get("expected", ""))
        said = cmd_of(row.get("actual", ""))
        kind = _kind(row.get("reason"))
        text = f"inputs whose correct cmd is {expected!r}; the model failed with: {kind}"
        if said and said != expected:
            text += f" (it answered cmd {said!r} instead)"
        cats[text] += 1
    return cats


def augment(project: Project, n: int | None = None, *, iteration: int | None = None,
            progress=None) -> list[tuple[str, GenerationReport]]:
    """Generate per category (augment_per_failure each, or n split across categories)."""
    cats = failure_categories(project)
    if not cats:
        raise ForgeError("output/eval_failures.jsonl: no failures to augment on")
    ordered = [c for c, _ in cats.most_common()]
    if n is None:
        plan = {c: project.config.flywheel.augment_per_failure for c in ordered}
    else:
        base, extra = divmod(n, len(ordered))
        plan = {c: base + (1 if i < extra else 0) for i, c in enumerate(ordered)}
    reports = []
    for focus, k in plan.items():
        if k > 0:
            reports.append((focus, generate(project, k, focus=focus, source="augment", iteration=iteration,
                                            progress=progress)))
    return reports
