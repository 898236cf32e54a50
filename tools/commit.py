"""`commit`: version data, config, context files and the promoted adapter's metadata in git."""

from __future__ import annotations

from forge.config.load import CONFIG_NAME
from forge.locks import file_lock
from forge.project import records
from forge.project.git import commit_paths
from forge.project.project import SYSTEM_PROMPT_FILE
from forge.tools.tool import RunState, Tool, ToolContext, ToolResult, obj

PATHS = [
    CONFIG_NAME,
    records.BACKGROUND_FILE,
    records.CONTEXT_FILE,
    records.PLAN_FILE,
    records.MISSION_FILE,
    SYSTEM_PROMPT_FILE,
]


def message(iteration: int, accuracy: float | None, hypothesis: str) -> str:
    """forge's commit format: `forge iter N: 87.3% — <hypothesis, first 60 chars>`."""
    acc = "n/a" if accuracy is None else f"{100 * accuracy:.1f}%"
    return f"forge iter {iteration}: {acc} — {hypothesis[:60]}"


def run(ctx: ToolContext) -> ToolResult:
    project, st = ctx.project, ctx.state
    cfg = project.config
    paths = PATHS + [cfg.dataset.canonical, cfg.dataset.seed, f"output/{records.BEST}"]
    paths += [project.rel(p) for p in sorted(project.output.glob("best_adapter_*"))]
    msg = message(st.iteration, st.accuracy, st.hypothesis or "manual commit")
    with file_lock(project.output / "git-commit"):  # one commit at a time: git's own index.lock would refuse
        sha = commit_paths(project.root, paths, msg)
    if sha is None:  # an error the model sees, but the iteration is closed all the same
        return ToolResult(
            "refused: nothing to commit: no data, config or promoted adapter changed since the last commit",
            {"refused": True, "nothing_to_commit": True},
            is_error=True,
        )
    return ToolResult(f"committed {sha[:8]}: {msg}", {"sha": sha, "message": msg})


def effect(state: RunState, _input: dict, result: ToolResult) -> None:
    if not result.is_error or result.data.get("nothing_to_commit"):
        state.evaluated_since_commit = False


TOOL = Tool(
    name="commit",
    description=(
        "Commit the training data, forge.yaml, BACKGROUND.md, AGENT_CONTEXT.md, PLAN.md and the "
        "promoted adapter to git with the message `forge iter N: <accuracy> — <hypothesis>`. Call it once "
        "per iteration after eval (and promote, when it improved). Refused when nothing changed."
    ),
    input_schema=obj({}),
    run=run,
    effect=effect,
)
