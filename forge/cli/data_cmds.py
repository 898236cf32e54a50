"""Data commands: generate, augment, patch, audit, clean, import."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import click

from forge.cli.options import CommandOutput, json_option, open_project, project_option, wait_option
from forge.data.formats import FORMATS


def _open_with_source(project_dir):
    """The project, after checking a generation source exists (so errors come before any progress bar)."""
    from forge.curation.generator_source import use_generator

    project = open_project(project_dir)
    use_generator(project)
    return project


@contextmanager
def _progress(label: str, total: int | None):
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _print_report(report, out: CommandOutput | None = None) -> None:
    out = out or CommandOutput(False)
    d = report.as_dict()
    out.add("source", d["source"])
    out.add("requested", d["requested"])
    out.add("kept", d["kept"])
    out.data["rejected"] = d["rejected"]
    for reason, n in d["rejected"].items():
        out.text(f"rejected_{reason}: {n}")
    out.data["failed_batches"] = d["failed_batches"]
    for failure in d["failed_batches"]:
        out.text(f"failed: {failure}")
    out.add("cost_usd", round(d["cost_usd"], 6), shown=f"{d['cost_usd']:.4f}")


@click.command("generate")
@project_option
@click.option("--n", "n", type=click.IntRange(1, 100000), default=500, show_default=True, help="Examples to request.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 200),
    default=50,
    show_default=True,
    help="Examples per LLM request (requests run concurrently, llm.concurrency at a time).",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write to this file instead of dataset.canonical (still gold-guarded).",
)
@click.option("--batch-api", is_flag=True, help="Use the Message Batches API (half price; may take up to an hour).")
@json_option
def generate_cmd(project_dir, n, batch_size, output, batch_api, as_json):
    """Generate training examples from BACKGROUND.md, mission.md and the system prompt."""
    from forge.curation import datagen
    from forge.curation.batch_api import generate_with_batches

    project = _open_with_source(project_dir)
    out = CommandOutput(as_json)
    target = output.resolve() if output else None
    if batch_api:
        report = generate_with_batches(project, n, batch_size=batch_size, echo=out.echo, target=target)
    else:
        with _progress("generating", n) as advance:
            report = datagen.generate(project, n, batch_size=batch_size, progress=advance, target=target)
    _print_report(report, out)
    out.done()


@click.command("augment")
@project_option
@click.option(
    "--n",
    "n",
    type=click.IntRange(1, 100000),
    default=None,
    help="Total examples (default: datagen.augment_per_failure per failure category).",
)
def augment_cmd(project_dir, n):
    """Generate examples targeting the categories of the latest eval failures."""
    from forge.curation.augment import augment

    project = _open_with_source(project_dir)
    with _progress("augmenting", None) as advance:
        reports, _ = augment(project, n, progress=advance)
    for focus, report in reports:
        click.echo(f"category: {focus}")
        _print_report(report)


@click.command("patch")
@click.argument("description")
@project_option
@click.option("--n", "n", type=click.IntRange(1, 10000), default=50, show_default=True)
def patch_cmd(description, project_dir, n):
    """One-shot targeted generation from a plain-English DESCRIPTION."""
    from forge.curation import datagen

    project = _open_with_source(project_dir)
    with _progress("patching", n) as advance:
        report = datagen.generate(project, n, focus=description, source="patch", progress=advance)
    _print_report(report)


@click.command("audit")
@wait_option
@project_option
@click.option("--fix", is_flag=True, help="Rewrite flagged examples in place (backup in output/backups/).")
@click.option(
    "--min-severity",
    type=click.Choice(["error", "warning", "info"]),
    default="warning",
    show_default=True,
    help="Lowest severity shown and fixed.",
)
def audit_cmd(project_dir, fix, min_severity):
    """LLM review of every training example: format, facts against BACKGROUND.md, quality."""
    from forge.curation.audit import SEVERITIES, apply_fixes, audit

    project = open_project(project_dir)
    with _progress("auditing", None) as advance:
        examples, findings = audit(project, progress=advance)
    fixed = apply_fixes(project, examples, findings, min_severity) if fix else 0
    floor = SEVERITIES.index(min_severity)
    click.echo(f"{'index':>5}  {'severity':<8}  issue  ->  suggested_fix")
    for f in findings:
        if SEVERITIES.index(f.severity) >= floor:
            fix_text = f.suggested_fix["assistant"] if f.suggested_fix else "-"
            note = f"  [{f.fixed}]" if f.fixed else ""
            click.echo(f"{f.index:>5}  {f.severity:<8}  {f.issue}  ->  {fix_text}{note}")
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
    click.echo("summary: " + ", ".join(f"{k}={v}" for k, v in counts.items()) + f", fixed={fixed}")


@click.command("clean")
@wait_option
@project_option
@click.option("--keep-seed", is_flag=True, help="Keep only the seed file's examples.")
@click.option(
    "--gold-overlap",
    is_flag=True,
    help="Instead: remove only the training examples that overlap the gold/sealed set (backup first).",
)
@click.option(
    "--schema",
    "outside_schema",
    is_flag=True,
    help="Instead: remove only the training examples whose answer is outside eval.output_schema (backup first).",
)
def clean_cmd(project_dir, keep_seed, gold_overlap, outside_schema):
    """Remove generated examples (by provenance), keeping seed and hand-written ones."""
    from forge.curation.cleaning import clean, remove_gold_overlap, remove_outside_schema

    if outside_schema or gold_overlap:  # the two targeted removals: a line each, a count, the backup
        project = open_project(project_dir)
        what, remove = (
            ("outside_schema", remove_outside_schema) if outside_schema else ("gold_overlap", remove_gold_overlap)
        )
        found, saved = remove(project)
        for line in found:
            click.echo(f"removed {line}")
        click.echo(f"removed_{what}: {len(found)}" + (f" (backup: {project.rel(saved)})" if saved else ""))
        return
    removed = clean(open_project(project_dir), keep_seed)
    if not removed:
        click.echo("removed: 0")
    for source, n in sorted(removed.items()):
        click.echo(f"removed_{source}: {n}")


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@project_option
@click.option("--source", type=click.Choice(["seed", "hand"]), default="hand", show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="FILE's format (auto: detected from its first example).",
)
def import_cmd(file, project_dir, source, fmt):
    """Append FILE's examples to the training set (converted to chat messages, validated, deduped,
    gold-guarded)."""
    from forge.curation.import_file import import_file

    fmt, r = import_file(open_project(project_dir), file, source, fmt)
    click.echo(f"format: {fmt}")
    if r.tool_types:
        click.echo(f"tool parameter types read as JSON Schema's (BFCL/Gorilla names): {', '.join(r.tool_types)}")
    for k, v in r.as_dict().items():
        if k == "schema_rules":
            for rule, n in v.items():
                click.echo(f"schema_rejected ({rule}): {n}")
        elif k == "gold_rules":
            for rule, n in v.items():
                click.echo(f"gold_rejected ({rule}): {n}")
        elif k == "gold_pairs":
            for pair in v:
                click.echo(f"gold: {pair}")
        else:
            click.echo(f"{k}: {v}")


@click.group("schema")
def schema_group():
    """The task's output contract (eval.output_schema)."""


@schema_group.command("infer")
@project_option
def schema_infer(project_dir):
    """Print a JSON Schema proposed from the training set's answers (never gold), for you to review and save."""
    import json

    from forge.data.schema_infer import infer_for_project

    project = open_project(project_dir)
    click.echo(json.dumps(infer_for_project(project), indent=2))
    click.echo("# review it, save it (e.g. > output_schema.json) and set eval.output_schema in forge.yaml", err=True)


COMMANDS = [generate_cmd, augment_cmd, patch_cmd, audit_cmd, clean_cmd, import_cmd, schema_group]
