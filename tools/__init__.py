"""forge.tools: the planner's tools, one file each, each declared once (name, description, schema, run).

REGISTRY maps names to Tool declarations; the API tool list, the guards and `forge tool` all
read it.
"""

from __future__ import annotations

from importlib import import_module

NAMES = [
    "status",
    "show_failures",
    "train",
    "eval",
    "sweep",
    "promote",
    "commit",
    "augment",
    "patch_config",
    "append_background",
    "update_plan",
]


def registry(project=None) -> dict:
    """name -> Tool, in a stable order (imports the tool modules on first use); with a project, only the tools it
    offers (`Tool.available`: sweep needs compute.ray)."""
    tools = {name: import_module(f"forge.tools.{name}").TOOL for name in NAMES}
    if project is None:
        return tools
    return {name: t for name, t in tools.items() if t.available is None or t.available(project)}
