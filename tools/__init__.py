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
    "promote",
    "commit",
    "augment",
    "patch_config",
    "append_background",
    "update_plan",
]


def registry() -> dict:
    """name -> Tool, in a stable order (imports the tool modules on first use)."""
    return {name: import_module(f"forge.tools.{name}").TOOL for name in NAMES}
