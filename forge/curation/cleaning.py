"""`forge clean`: remove generated examples by provenance, gold overlap or answers outside the output schema, with
a backup of what was there."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

from forge.data.datasets import (
    assistant_text,
    load_examples,
    load_numbered,
    normalize,
    provenance,
    rewrite_examples,
    user_text,
)
from forge.data.output_schema import schema_for
from forge.errors import ForgeError
from forge.locks import file_lock
from forge.project.project import Project
from forge.project.run_lock import holds_run_lock

GENERATED = {"generate", "augment", "patch", "audit-fix"}


@holds_run_lock("clean")
def clean(project: Project, keep_seed_only: bool = False) -> Counter:
    """Drop generated examples (or, with keep_seed_only, everything not from the seed file).

    Returns the removed count per provenance source. Nothing else in the file changes.
    """
    path, rel = project.canonical_path, project.rel(project.canonical_path)
    with file_lock(path):  # an import waiting on the lock lands after the rewrite, not under it
        return _clean(project, path, rel, keep_seed_only)


def _clean(project: Project, path: Path, rel: str, keep_seed_only: bool) -> Counter:
    examples = load_examples(path, rel, missing_ok=True)
    seed_texts = {
        normalize(user_text(e))
        for e in load_examples(project.seed_path, project.rel(project.seed_path), missing_ok=True)
    }

    def keep(e: dict) -> bool:
        source = provenance(e)["source"]
        if keep_seed_only:
            return source == "seed" or normalize(user_text(e)) in seed_texts
        return source not in GENERATED

    kept = [e for e in examples if keep(e)]
    removed = Counter(provenance(e)["source"] for e in examples if not keep(e))
    if removed:
        rewrite_examples(path, kept)
    return removed


def backup(project: Project) -> Path:
    """A copy of the training set in output/backups/, taken before it is rewritten."""
    dest = project.output / "backups" / f"canonical-{time.strftime('%Y%m%dT%H%M%S')}.jsonl"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(project.canonical_path, dest)
    return dest


@holds_run_lock("clean --gold-overlap")
def remove_gold_overlap(project: Project) -> tuple[list[str], Path | None]:
    """Drop training examples that are gold/sealed-like (after a backup): (the pairs removed, the backup)."""
    path, rel = project.canonical_path, project.rel(project.canonical_path)
    with file_lock(path):
        numbered = load_numbered(path, rel, missing_ok=True)
        found = project.gold_guard().overlapping(numbered)
        if not found:
            return [], None
        saved = backup(project)
        rewrite_examples(path, [e for line, e in numbered if line not in found])
    return [f"{rel}:{line} ~ {where}" for line, where in found.items()], saved


@holds_run_lock("clean --schema")
def remove_outside_schema(project: Project) -> tuple[list[str], Path | None]:
    """Drop training examples whose answer is outside its contract, eval.output_schema or the example's own
    tools (after a backup): (`file:line: reason` of each, the backup)."""
    schema = project.output_schema()
    path, rel = project.canonical_path, project.rel(project.canonical_path)
    with file_lock(path):
        return _remove_outside(project, schema, path, rel)


def _remove_outside(project: Project, schema, path: Path, rel: str) -> tuple[list[str], Path | None]:
    numbered = load_numbered(path, rel, missing_ok=True)
    if schema is None and not any(e.get("tools") for _, e in numbered):
        raise ForgeError("clean --schema needs eval.output_schema (a JSON Schema file) or examples with tools")
    outside = {
        line: why
        for line, e in numbered
        if (own := schema_for(e, schema, project.config.eval.tool_choice)) and (why := own.violation(assistant_text(e)))
    }
    if not outside:
        return [], None
    saved = backup(project)
    rewrite_examples(path, [e for line, e in numbered if line not in outside])
    return [f"{rel}:{line}: {why}" for line, why in outside.items()], saved
