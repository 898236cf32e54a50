"""`forge remote`: the machine of compute.remote (check it, stop a step) and the remote side of a step."""

from __future__ import annotations

from pathlib import Path

import click

from forge.cli.options import CommandOutput, json_option, open_project, project_option


@click.group("remote")
def remote_group():
    """The machine of compute.remote (ssh), where train, eval, pretrain and export run."""


@remote_group.command("check")
@project_option
@json_option
def remote_check(project_dir, as_json):
    """Print the remote's Python, forge version, GPU and free disk, and say what it lacks."""
    from forge.errors import ForgeError
    from forge.remote.check import check_remote

    out = CommandOutput(as_json)
    facts, missing = check_remote(open_project(project_dir))
    for key, value in facts.items():
        out.add(key, value)
    out.add("missing", missing, shown=", ".join(missing) or "nothing")
    out.done()
    if missing:
        raise ForgeError(f"the remote lacks: {', '.join(missing)}")


@remote_group.command("cancel")
@project_option
def remote_cancel(project_dir):
    """Stop the remote step this project is following (output/remote/step.json), or with compute.ray.address, the
    jobs of its unfinished sweeps."""
    project = open_project(project_dir)
    if project.config.compute.ray and project.config.compute.ray.address:
        from forge.sweep.sweep import cancel_jobs

        for line in cancel_jobs(project):
            click.echo(line)
        return
    from forge.remote.run import cancel_pending

    record = cancel_pending(project)
    click.echo(f"stopped remote step {record['id']} ({record['step']})")


@remote_group.command("step", hidden=True)
@click.argument("step_id")
def remote_step_cmd(step_id):
    """The remote side of a step: run .forge-remote/steps/STEP_ID/request.json in this project."""
    from forge.project.project import find_root
    from forge.remote.ssh import STEPS_DIR
    from forge.remote.steps import run_step

    root = find_root(Path.cwd())
    raise SystemExit(run_step(root, root / STEPS_DIR / step_id))


COMMANDS = [remote_group]
