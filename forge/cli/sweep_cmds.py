"""`forge sweep`: many train -> eval experiments at once on Ray (forge.sweep); `forge remote cancel` stops a
cluster's jobs."""

from __future__ import annotations

import click

from forge.cli.options import CommandOutput, json_option, open_project, project_option, wait_option


@click.command("sweep")
@wait_option
@project_option
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=V1,V2",
    help="A forge.yaml key and the values to try (YAML scalars, comma-separated); repeat for a grid, e.g. "
    "--set training.learning_rate=1e-4,2e-4 --set lora.r=16,32. Only training, lora, grpo and model keys.",
)
@click.option(
    "--seeds", type=click.IntRange(1, 64), default=1, help="Runs of each configuration, with training.seed, +1, +2..."
)
@click.option(
    "--random",
    "random_n",
    type=click.IntRange(1, 256),
    default=None,
    help="Run this many configurations drawn from the grid (a fixed draw) instead of all of it.",
)
@click.option(
    "--noise-floor",
    is_flag=True,
    help="Record the spread of this one configuration over --seeds (3 or more) as the noise floor: promotion then "
    "needs a larger gain, and McNemar's p <= 0.05.",
)
@json_option
def sweep_cmd(project_dir, sets, seeds, random_n, noise_floor, as_json):
    """Train and evaluate variants of forge.yaml in parallel on Ray, a private cluster on this machine or
    compute.ray.address; a row per variant in output/experiments.jsonl, the table, and the best variant
    installed as output/adapter for `forge promote`. Run the same command again to resume an interrupted sweep."""
    from forge.sweep.sweep import run_sweep
    from forge.sweep.variants import parse_set, plan

    project = open_project(project_dir)
    out = CommandOutput(as_json)
    variants = plan(project, [parse_set(s) for s in sets], seeds=seeds, random_n=random_n)
    result = run_sweep(project, variants, noise_floor=noise_floor, echo=out.echo)
    out.add_lines(result.lines())
    out.done()


COMMANDS = [sweep_cmd]
