"""`forge augment`: targeted examples for the categories of the latest eval failures.

Categories come from forge.project.records.failure_categories (expected cmd, kind of failure, what the
model said instead). The generator is told the category, never the gold inputs or outputs
themselves, so no gold text can leak into training data through the prompt; the gold guard
still checks every example written.
"""

from __future__ import annotations

import time

from forge.curation.datagen import GenerationReport, generate
from forge.errors import ForgeError
from forge.project.project import Project
from forge.project.records import FAILURES, failure_categories


def plan(project: Project, n: int | None = None) -> dict[str, int]:
    """Examples per category: augment_per_failure each, or n split across the categories."""
    cats = failure_categories(project)
    if not cats:
        raise ForgeError(f"output/{FAILURES}: no failures to augment on")
    ordered = [c for c, _ in cats.most_common()]
    if n is None:
        return {c: project.config.datagen.augment_per_failure for c in ordered}
    base, extra = divmod(n, len(ordered))
    return {c: base + (1 if i < extra else 0) for i, c in enumerate(ordered)}


def augment(
    project: Project,
    n: int | None = None,
    *,
    iteration: int | None = None,
    progress=None,
    deadline: float | None = None,
) -> tuple[list[tuple[str, GenerationReport]], bool]:
    """(reports per category, stopped early). Past `deadline` (time.monotonic()) no new category is
    started; the examples already written stay."""
    reports: list[tuple[str, GenerationReport]] = []
    for focus, k in plan(project, n).items():
        if deadline is not None and time.monotonic() >= deadline:
            return reports, True
        if k > 0:
            reports.append(
                (focus, generate(project, k, focus=focus, source="augment", iteration=iteration, progress=progress))
            )
    return reports, False
