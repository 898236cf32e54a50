"""`forge import`: bring a file of examples, in any format forge reads (forge.data.formats), into the training
set, validated, deduped and gold-guarded."""

from __future__ import annotations

from pathlib import Path

from forge.data.datasets import AppendResult, append_examples, example_problem, stamp
from forge.data.formats import read_file
from forge.data.tool_calls import bfcl_types
from forge.errors import DatasetError, ForgeError
from forge.project.project import Project


def import_file(project: Project, src: Path, source: str, fmt: str = "auto") -> tuple[str, AppendResult]:
    """Append a JSONL file's examples to the training set, converted from `fmt` (forge.data.formats),
    validated, deduped, gold-guarded. Returns (the format read, what happened)."""
    if source not in ("seed", "hand"):
        raise ForgeError(f"--source {source}: must be seed or hand")
    gold_guard = project.gold_guard()
    gold_guard.check_training_path(src, str(src))
    fmt, rows = read_file(src, str(src), fmt)
    examples, origins = [], []
    for n, example in rows:
        problem = example_problem(example)
        if problem:
            raise DatasetError(f"{src}:{n}: {problem}")
        examples.append(example)
        origins.append(f"{src}:{n}")
    # stamp leaves a None extra out: forge's own format goes unrecorded
    stamped = [stamp(e, source, format=fmt if fmt != "messages" else None) for e in examples]
    result = append_examples(
        project.canonical_path,
        stamped,
        gold_guard,
        schema=project.output_schema(),
        tool_choice=project.config.eval.tool_choice,
        display=project.rel(project.canonical_path),
        origins=origins,
    )
    result.tool_types = sorted(set().union(*(bfcl_types(e.get("tools")) for e in examples)))
    return fmt, result
