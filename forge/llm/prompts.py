"""Prompts filled with a project's context files (BACKGROUND.md in full, mission, system prompt)."""

from __future__ import annotations

import sys

# forge.prompts is the top-level prompts/ directory (setuptools package-dir): mypy run on the source tree cannot
# map it, and an unresolved module path is ignored there where a missing attribute of forge is an error
import forge.prompts as prompts
from forge.project.project import Project


def read_context(project: Project, name: str, default: str = "(empty)") -> str:
    path = project.root / name
    text = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    return text or default


_warned: set[tuple[int, str]] = set()


def background_without_gold(project: Project) -> str:
    """BACKGROUND.md for a generation prompt: lines holding a gold/sealed input are left out, with a warning
    naming them (a hand edit can paste one in; the planner's own additions are refused earlier)."""
    text = read_context(project, "BACKGROUND.md")
    gold_guard, kept = project.gold_guard(), []
    for n, line in enumerate(text.splitlines(), start=1):
        hit = gold_guard.contained(line) if line.strip() else None
        if hit:
            if (n, hit) not in _warned:  # once per process, not once per batch
                _warned.add((n, hit))
                sys.stderr.write(f"warning: BACKGROUND.md:{n}: contains a gold/sealed input ({hit}); left out of "
                                 "the data generator's prompt\n")
        else:
            kept.append(line)
    return "\n".join(kept)


def render(template: str, project: Project, **values: str) -> str:
    wanted = prompts.placeholders(template)
    background = background_without_gold(project) if "background" in wanted else ""
    context = {"background": background, "mission": read_context(project, "mission.md"),
               "system_prompt": read_context(project, "system_prompt.md")}
    return prompts.render(template, **{k: v for k, v in {**context, **values}.items() if k in wanted})
