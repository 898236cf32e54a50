"""Project commands: init, status, config."""

from __future__ import annotations

import json
from pathlib import Path

import click

from forge.cli.options import open_project, project_option


@click.command("init")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to create the project (default: ./NAME).",
)
@click.option(
    "--from",
    "from_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Import BACKGROUND.md, mission.md, system_prompt.md and dataset files from an older project.",
)
def init_cmd(name, directory, from_dir):
    """Scaffold a forge project (config, context files, datasets, git repo)."""
    from forge.project.scaffold import init_project

    target = directory or Path(name)
    written = init_project(name, target, from_dir)
    click.echo(f"created {target}/ with {len(written)} files and a first git commit")
    click.echo("next: write BACKGROUND.md and dataset/gold.jsonl, then `forge status`")


@click.command("status")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status_cmd(project_dir, as_json):
    """Best and last score, dataset sizes, iterations, heartbeat and LLM spend."""
    from forge.project import status

    data = status.collect(open_project(project_dir))
    click.echo(json.dumps(data, indent=2) if as_json else status.render(data))


@click.group("config")
def config_group():
    """Inspect forge.yaml."""


@config_group.command("docs")
def config_docs():
    """Print the forge.yaml reference (Markdown)."""
    from forge.config.render import render_markdown

    click.echo(render_markdown(), nl=False)


@config_group.command("show")
@project_option
def config_show(project_dir):
    """Print the effective config (defaults filled in) as YAML."""
    import dataclasses

    import yaml

    project = open_project(project_dir)
    click.echo(yaml.safe_dump(dataclasses.asdict(project.config), sort_keys=False), nl=False)


@config_group.command("check")
@project_option
def config_check(project_dir):
    """Validate forge.yaml and the dataset files."""
    from forge.data.datasets import load_numbered, user_text

    project = open_project(project_dir)
    schema = project.output_schema()  # a broken schema file is reported before the datasets
    paths = [project.seed_path, project.canonical_path, project.gold_path, project.sealed_path]
    loaded = {project.rel(p): load_numbered(p, project.rel(p), missing_ok=True) for p in paths if p}
    # Empty or whitespace-only inputs are legal (a router's "unknown" edge case); say how many there are.
    counts = {
        rel: f"{len(rows)} examples"
        + (f", {k} with an empty input" if (k := sum(not user_text(e).strip() for _, e in rows)) else "")
        for rel, rows in loaded.items()
    }
    gold_guard, canonical = project.gold_guard(), project.rel(project.canonical_path)
    gold_guard.check_training_path(project.canonical_path, canonical)
    click.echo("forge.yaml: ok")
    for rel, n in counts.items():
        click.echo(f"{rel}: ok ({n})")
    gold_guard.check_training_set(loaded[canonical], canonical)  # gold/sealed overlap fails the check
    _answer_room(project, loaded[canonical], canonical, schema)
    if schema:
        from forge.data.datasets import schema_violations as violations

        # gold outside the schema is an error in one of the two: a person decides, forge never edits gold
        bad = violations(schema, project.gold_path, project.rel(project.gold_path), project.config.eval.tool_choice)
        click.echo(
            f"{schema.display}: ok (hash {schema.hash})"
            if not bad
            else f"{schema.display}: {len(bad)} gold answers outside it (fix the gold or the schema):"
        )
        for line in bad[:20]:
            click.echo(f"  {line}")
        if bad:
            raise click.exceptions.Exit(1)


def _answer_room(project, numbered: list, display: str, schema) -> None:
    """A warning when eval.max_new_tokens cannot hold the longest training answer (with its end token) in the base
    model's tokens: answers that long would be cut short. Under a schema that bounds its answers, the bound and
    whether max_new_tokens holds it. Silent when the base is not a local model directory."""
    from pathlib import Path

    from forge.data.output_schema import longest_answer
    from forge.data.tool_calls import generation_text
    from forge.models.loading import load_tokenizer, resolve_base

    base = resolve_base(project.config.model.base, project.root)
    if not numbered or not Path(base).is_dir():
        return
    tok = load_tokenizer(str(base))
    texts = [generation_text(e["messages"][-1]) for _, e in numbered]
    lengths = [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]
    longest = max(range(len(lengths)), key=lengths.__getitem__)
    limit = project.config.eval.max_new_tokens
    if lengths[longest] + 1 > limit:
        click.echo(
            f"warning: eval.max_new_tokens {limit} is below the longest training answer ({display}:"
            f"{numbered[longest][0]}: {lengths[longest]} tokens and its end token): answers that long are cut "
            "short and scored wrong"
        )
    bound = longest_answer(schema.schema) if schema else None
    if bound:  # the schema itself caps the answer: say whether max_new_tokens holds the longest it allows
        most = len(tok(bound[0], add_special_tokens=False)["input_ids"]) + bound[1] + 1
        click.echo(
            f"warning: {schema.display} allows answers of up to about {most} tokens with the end token; "
            f"eval.max_new_tokens {limit} can cut them"
            if most > limit
            else f"eval.max_new_tokens: ok ({limit} holds the longest answer {schema.display} allows, about {most} "
            "tokens with the end token)"
        )


@click.command("report")
@project_option
def report_cmd(project_dir):
    """Write output/report.html (accuracy per iteration, per-cmd table, hypotheses, data and cost)."""
    from forge.project import report

    click.echo(f"report: {report.write(open_project(project_dir))}")


COMMANDS = [init_cmd, status_cmd, config_group, report_cmd]
