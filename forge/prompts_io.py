"""Prompts filled with a project's context files (BACKGROUND.md in full, mission, system prompt)."""

from __future__ import annotations

from forge import prompts
from forge.project import Project


def read_context(project: Project, name: str, default: str = "(empty)") -> str:
    path = project.root / name
    text = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    return text or default


def render(template: str, project: Project, **values: str) -> str:
    context = {"background": read_context(project, "BACKGROUND.md"), "mission": read_context(project, "mission.md"),
               "system_prompt": read_context(project, "system_prompt.md")}
    wanted = prompts.placeholders(template)
    return prompts.render(template, **{k: v for k, v in {**context, **values}.items() if k in wanted})
