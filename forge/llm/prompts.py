"""Prompts filled with a project's context files (BACKGROUND.md in full, mission, system prompt)."""

from __future__ import annotations

# forge.prompts is the top-level prompts/ directory (setuptools package-dir): mypy run on the source tree cannot
# map it, and an unresolved module path is ignored there where a missing attribute of forge is an error
import forge.prompts as prompts
from forge.project import records
from forge.project.project import SYSTEM_PROMPT_FILE, Project


def read_context(project: Project, name: str, default: str = "(empty)") -> str:
    """A context file for a prompt, gold and sealed inputs left out (forge.project.records.read_context_file)."""
    return records.read_context_file(project, name, default=default)


def background_without_gold(project: Project) -> str:
    """BACKGROUND.md for a generation prompt, lines holding a gold/sealed input left out with a warning."""
    return read_context(project, records.BACKGROUND_FILE)


def render(template: str, project: Project, **values: str) -> str:
    wanted = prompts.placeholders(template)
    background = background_without_gold(project) if "background" in wanted else ""
    context = {
        "background": background,
        "mission": read_context(project, records.MISSION_FILE),
        "system_prompt": read_context(project, SYSTEM_PROMPT_FILE),
    }
    return prompts.render(template, **{k: v for k, v in {**context, **values}.items() if k in wanted})
