"""Click options shared by the commands of forge/cli and forge.agent (so the agent needs nothing from forge.cli)."""

from __future__ import annotations

from pathlib import Path

import click


def project_option(fn):
    return click.option(
        "-p",
        "--project",
        "project_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Project directory (default: nearest forge.yaml above the cwd).",
    )(fn)


def open_project(project_dir):
    from forge.project.project import Project

    return Project.open(project_dir)


def _wait(_ctx, _param, value: bool) -> None:
    if value:
        from forge.project.run_lock import wait_for_holder

        wait_for_holder.set(True)


def wait_option(fn):
    """--wait: when another command holds the project (forge.project.run_lock), wait for it instead of refusing."""
    return click.option(
        "--wait",
        is_flag=True,
        expose_value=False,
        callback=_wait,
        help="If another forge command holds the project (an agent run, train, eval, ...), wait "
        "for it to end instead of refusing.",
    )(fn)


def json_option(fn):
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print the result as one JSON object on standard output (progress goes to stderr).",
    )(fn)


class CommandOutput:
    """A command's `key: value` result lines, or with --json the same keys as one JSON object; progress and
    tables are for people, so with --json they go to stderr or are left out."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.data: dict[str, object] = {}

    def echo(self, message: str) -> None:
        click.echo(message, err=self.as_json)

    def add(self, key: str, value, shown=None) -> None:
        self.data[key] = value
        if not self.as_json:
            click.echo(f"{key}: {value if shown is None else shown}")

    def add_lines(self, lines) -> None:
        """Add a typed result's lines (forge.evaluation.result.ResultLine); a line shown as None is JSON only."""
        for line in lines:
            if line.shown is None:
                self.data[line.key] = line.value
            else:
                self.add(line.key, line.value, shown=line.shown)

    def text(self, block: str) -> None:
        if not self.as_json:
            click.echo(block)

    def done(self) -> None:
        if self.as_json:
            import json

            click.echo(json.dumps(self.data, ensure_ascii=False))
