"""`patch_config`: permanent, allow-listed forge.yaml changes (forge's original `forge_yaml_patches`)."""

from __future__ import annotations

from forge.config import load as config_io
from forge.project.run_lock import run_lock
from forge.tools.config_keys import patch_schema
from forge.tools.tool import Tool, ToolContext, ToolRefused, ToolResult, one_line_json


def run(ctx: ToolContext, **patch) -> ToolResult:
    with run_lock(ctx.project.output, "tool run patch_config"):  # inside the agent's own run: reentrant
        return _patch(ctx, patch)


def _patch(ctx: ToolContext, patch: dict) -> ToolResult:
    patch = {k: v for k, v in patch.items() if v}
    if not patch:
        raise ToolRefused("empty patch: name at least one key to change")
    project = ctx.project
    before = config_io.read_raw(project.config_path)
    config_io.patch_file(project.config_path, patch)  # validates the merged result; comments kept
    project.reload()
    changed = {
        f"{section}.{key}": {"from": (before.get(section) or {}).get(key), "to": value}
        for section, keys in patch.items()
        for key, value in keys.items()
    }
    return ToolResult(f"forge.yaml updated: {one_line_json(changed)}", {"changed": changed})


TOOL = Tool(
    name="patch_config",
    description=(
        "Permanently change allow-listed forge.yaml keys (training.*, lora.*, model.max_seq_len, "
        "eval.max_new_tokens, eval.batch_size), each within bounds. Dataset paths, the target, the "
        "scorer, budgets, promotion and compute settings cannot be changed. The file keeps its comments."
    ),
    input_schema=patch_schema(),
    run=run,
)
