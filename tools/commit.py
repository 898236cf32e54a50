"""`commit`: version data, config, context files and the promoted adapter's metadata in git."""

from __future__ import annotations

from forge.git_repo import commit_paths
from forge.tools.tool import Tool, ToolContext, ToolRefused, ToolResult, obj

PATHS = ["forge.yaml", "BACKGROUND.md", "AGENT_CONTEXT.md", "PLAN.md", "mission.md", "system_prompt.md"]


def message(iteration: int, accuracy: float | None, hypothesis: str) -> str:
    """The seed's format: `forge iter N: 87.3% — <hypothesis, first 60 chars>`."""
    acc = "n/a" if accuracy is None else f"{100 * accuracy:.1f}%"
    return f"forge iter {iteration}: {acc} — {hypothesis[:60]}"


def run(ctx: ToolContext) -> ToolResult:
    project, st = ctx.project, ctx.state
    cfg = project.config
    paths = PATHS + [cfg.dataset.canonical, cfg.dataset.seed, "output/best_score.json"]
    paths += [project.rel(p) for p in sorted(project.output.glob("best_adapter_*"))]
    msg = message(st.iteration, st.accuracy, st.hypothesis or "manual commit")
    sha = commit_paths(project.root, paths, msg)
    st.evaluated_since_commit = False  # committed now, or there was nothing left to commit
    if sha is None:
        raise ToolRefused("nothing to commit: no data, config or promoted adapter changed since the last commit")
    return ToolResult(f"committed {sha[:8]}: {msg}", {"sha": sha, "message": msg})


TOOL = Tool(
    name="commit",
    description=("Commit the training data, forge.yaml, BACKGROUND.md, AGENT_CONTEXT.md, PLAN.md and the "
                 "promoted adapter to git with the message `forge iter N: <accuracy> — <hypothesis>`. Call it once "
                 "per iteration after eval (and promote, when it improved). Refused when nothing changed."),
    input_schema=obj({}),
    run=run,
)
