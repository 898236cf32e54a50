"""`forge agent run|log|replay`, `forge tool list|describe|run|session` and `forge flywheel`.

Registered lazily by forge.cli (its LAZY table); nothing here imports forge.cli.
"""

from __future__ import annotations

import json
import time

import click

from forge.cli.options import open_project, project_option, wait_option


def _budgets(project, **limits):
    from forge.agent.budgets import Budgets

    return Budgets.from_config(project.config.agent, **limits)


def _choose_planner(project, requested: str | None):
    """The planner, announced with why it was chosen when the user did not name one."""
    from forge.agent import lifecycle

    chosen = lifecycle.choose_planner(project, requested, warn=lambda m: click.echo(m, err=True))
    why = "" if requested else (" (API key found)" if chosen.name == "claude" else " (no API key: offline heuristic)")
    click.echo(f"planner: {chosen.name}{why}")
    return chosen


def _finish(outcome, transcript, project) -> None:
    from forge.agent.log_view import cache_summary
    from forge.agent.transcript import read_events
    from forge.project import status

    click.echo(f"run: {transcript.run_id} {outcome.status} ({outcome.reason})")
    summary = cache_summary(read_events(transcript.path))
    if summary:
        click.echo(summary)
    click.echo(f"transcript: {project.rel(transcript.path)} (read it with `forge agent log`)")
    click.echo(status.render(status.collect(project)))
    if outcome.status == "error":
        raise click.exceptions.Exit(1)


@click.group("agent")
def agent_group():
    """The planner agent: run, read and replay runs."""


@agent_group.command("run")
@wait_option
@project_option
@click.option("--goal", required=False, help="What the agent should achieve (required unless --resume).")
@click.option(
    "--planner",
    type=click.Choice(["claude", "heuristic"]),
    default=None,
    help="Default: claude when ANTHROPIC_API_KEY (or a base_url) is set, else heuristic.",
)
@click.option("--max-iterations", type=click.IntRange(0), default=None, help="Default: agent.max_iterations.")
@click.option(
    "--budget-usd", "max_cost_usd", type=click.FloatRange(0), default=None, help="Default: agent.max_cost_usd."
)
@click.option("--max-minutes", type=click.FloatRange(0), default=None, help="Default: agent.max_minutes.")
@click.option("--max-tool-calls", type=click.IntRange(0), default=None, help="Default: agent.max_tool_calls.")
@click.option(
    "--resume",
    "resume_run",
    is_flag=False,
    flag_value="latest",
    default=None,
    help="Continue a stopped or killed run (RUN id, or the latest) from its transcript, with its own "
    "budgets unless named here; cut-off train/eval/augment calls are redone.",
)
@click.option(
    "--baseline",
    is_flag=True,
    help="On the project's first run, score the base model zero-shot first (iteration 0; `forge flywheel` "
    "always does).",
)
@click.option(
    "--teacher",
    is_flag=True,
    help="First score the teacher (datagen.model) on the gold set, once per gold set, model and prompt, "
    "for gap closure and agent.stop_at_gap_closure; its cost counts in the run's budget.",
)
def agent_run(project_dir, goal, planner, resume_run, baseline, teacher, **limits):
    """Run the planner until the goal is met or a budget is spent."""
    # limits: the budget flags, under the names of the limits they set (max_cost_usd for --budget-usd); None: not named
    from forge.agent import lifecycle

    project = open_project(project_dir)
    if not goal and not resume_run:
        raise click.UsageError("--goal is required (or --resume RUN)")
    chosen = _choose_planner(project, planner)
    if resume_run:
        if teacher:
            raise click.UsageError("--teacher starts a run; a resumed run keeps what it started with")
        outcome, transcript = lifecycle.resume(project, resume_run, chosen, limits, echo=click.echo)
    else:
        outcome, transcript = lifecycle.start(
            project, goal, chosen, _budgets(project, **limits), echo=click.echo, baseline=baseline, teacher=teacher
        )
    _finish(outcome, transcript, project)


@agent_group.command("log")
@click.argument("run", required=False, default="latest")
@project_option
@click.option("--follow", is_flag=True, help="Keep printing new events until the run ends.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSONL events.")
def agent_log(run, project_dir, follow, as_json):
    """Show a run's transcript: RUN id, `latest` (agent run) or `manual` (the newest manual tool session)."""
    from forge.agent.log_view import cache_summary, render_event
    from forge.agent.transcript import find_run, read_events

    path = find_run(open_project(project_dir), run)
    shown = 0
    while True:
        events = read_events(path)
        for e in events[shown:]:
            if as_json:
                click.echo(json.dumps(e, ensure_ascii=False))
            else:
                for line in render_event(e):
                    click.echo(line)
        shown = len(events)
        if not follow or (events and events[-1]["event"] == "run_end"):
            break
        time.sleep(1.0)
    summary = None if as_json else cache_summary(events)
    if summary:
        click.echo(summary)


@agent_group.command("replay")
@click.argument("run")
@project_option
def agent_replay(run, project_dir):
    """Re-execute a recorded run's decisions and report where results diverge."""
    from forge.agent import lifecycle
    from forge.agent.budgets import LIMITS

    project = open_project(project_dir)
    unlimited = {p.name: 0 for p in agent_run.params if p.name in LIMITS}  # off: each limit `agent run` can set
    outcome, transcript, diffs = lifecycle.replay(project, run, _budgets(project, **unlimited), echo=click.echo)
    click.echo(f"replay: {transcript.run_id} {outcome.status}")
    click.echo(f"divergences: {len(diffs)}")
    for d in diffs:
        click.echo(f"- {d}")


@click.group("tool")
def tool_group():
    """The agent's tools by hand: same schemas, same guards, a session that counts."""


@tool_group.command("list")
def tool_list():
    """List the tools."""
    from forge.tools import registry

    for tool in registry().values():
        click.echo(f"{tool.name:<18} {tool.description.split('. ')[0]}")


@tool_group.command("describe")
@click.argument("name")
def tool_describe(name):
    """Print a tool's description and input schema."""
    from forge.tools import registry

    tools = registry()
    if name not in tools:
        raise click.BadParameter(f"unknown tool {name!r}; available: {', '.join(tools)}", param_hint="NAME")
    click.echo(tools[name].description)
    click.echo(json.dumps(tools[name].input_schema, indent=2))


@tool_group.command("run")
@wait_option
@click.argument("name")
@click.argument("pairs", nargs=-1)
@project_option
@click.option("--json", "raw", default=None, help="The input as a JSON object.")
def tool_run(name, pairs, project_dir, raw):
    """Run tool NAME with --json '{...}' and/or key=value pairs (values parsed as JSON when they can be).

    Calls add up in a manual session (output/runs/manual-*): its run state and budgets, so
    train -> eval -> promote -> commit records the iteration as a planner run does."""
    from forge.agent import manual

    try:
        data = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc.msg} (column {exc.colno})", param_hint="--json") from None
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: expected key=value", param_hint="PAIRS")
        try:
            data[key] = json.loads(value)
        except json.JSONDecodeError:
            data[key] = value
    result, transcript = manual.call(open_project(project_dir), name, data, echo=click.echo)
    click.echo(result.content)
    if result.data.get("refused") and result.data.get("budget"):
        click.echo(f"(session {transcript.run_id}: `forge tool session end` starts a fresh one)")
    if result.is_error:
        raise click.exceptions.Exit(1)


@tool_group.group("session")
def tool_session():
    """The manual session that `forge tool run` calls add up in."""


@tool_session.command("show")
@project_option
def tool_session_show(project_dir):
    """The open session's run state and budgets."""
    from forge.agent import manual
    from forge.project.status import budgets_text

    info = manual.show(open_project(project_dir))
    st = info["state"]
    click.echo(f"session: {info['session']} ({info['transcript']})")
    click.echo(
        f"iteration: {st['iteration']} (trained, not evaluated: {st['trained_since_eval']}; evaluated, "
        f"not committed: {st['evaluated_since_commit']})"
    )
    click.echo(f"budgets: {budgets_text(info['budgets'], minutes=False)}")


@tool_session.command("end")
@project_option
def tool_session_end(project_dir):
    """End the open session (the next `forge tool run` starts a new one)."""
    from forge.agent import manual

    click.echo(f"ended session {manual.end(open_project(project_dir))}")


@click.command("flywheel")
@wait_option
@project_option
@click.option("--iters", type=click.IntRange(1), default=None, help="Iterations (default: agent.max_iterations).")
@click.option("--skip-train", is_flag=True, help="Start by evaluating the existing adapter.")
@click.option("--planner", type=click.Choice(["claude", "heuristic"]), default=None)
@click.option(
    "--teacher",
    is_flag=True,
    help="First score the teacher (datagen.model) on the gold set, once per gold set, model and prompt, "
    "for gap closure and agent.stop_at_gap_closure; its cost counts in the run's budget.",
)
def flywheel(project_dir, iters, skip_train, planner, teacher):
    """The agent with the goal "reach eval.target_accuracy", until the target or the iteration budget. A
    project's first run starts by scoring the base model zero-shot (iteration 0, not promotable)."""
    from forge.agent import lifecycle

    project = open_project(project_dir)
    chosen = _choose_planner(project, planner)
    if skip_train and hasattr(chosen, "skip_train"):
        chosen.skip_train = True
    goal = f"reach eval.target_accuracy ({project.config.eval.target_accuracy:.1%}) on the gold set"
    if skip_train:
        goal += "; an adapter already exists, so evaluate it before training again"
    outcome, transcript = lifecycle.start(
        project,
        goal,
        chosen,
        _budgets(project, max_iterations=iters),
        echo=click.echo,
        baseline=not skip_train,
        teacher=teacher,
    )
    _finish(outcome, transcript, project)
