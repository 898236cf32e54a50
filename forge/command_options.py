"""Click options shared by the commands of forge/cli and forge.agent (so the agent needs nothing from forge.cli)."""

from __future__ import annotations

from pathlib import Path

import click


def project_option(fn):
    return click.option("-p", "--project", "project_dir", type=click.Path(path_type=Path), default=None,
                        help="Project directory (default: nearest forge.yaml above the cwd).")(fn)


def open_project(project_dir):
    from forge.project import Project

    return Project.open(project_dir)
