"""docs/cli.md, generated from the commands' own `--help`, so the reference cannot drift from the CLI.

`make docs` (`python -m forge.cli.reference`) writes it, docs/config.md's reference block and the module
lists of docs/architecture.md (each module's first docstring sentence);
tests fail when a checked-in file differs from what this renders. Hidden commands (the remote side
of a step) are forge's plumbing and are left out.
"""

from __future__ import annotations

import click

INTRO = """\
# CLI reference

Generated from `forge ... --help` by `make docs` (a test keeps it in sync). Every command takes
`-h/--help`; project commands take `-p/--project DIR` (default: the nearest directory at or above
the cwd holding `forge.yaml`). Bad input exits 1 with one line `Error: <file or key>: <what is
wrong>`; usage errors exit 2. `train`, `eval`, `promote`, `export` and `generate` take `--json`:
the same `key: value` results as one JSON object on stdout, progress on stderr
(`forge eval --json | jq .accuracy`).

Shell completion (click's own): add `eval "$(_FORGE_COMPLETE=bash_source forge)"` to `~/.bashrc`
(zsh: `_FORGE_COMPLETE=zsh_source` in `~/.zshrc`; fish:
`_FORGE_COMPLETE=fish_source forge > ~/.config/fish/completions/forge.fish`).
"""


def _context(command: click.Command, name: str, parent: click.Context | None = None) -> click.Context:
    """The context --help would run in (the command's own context_settings), at a fixed width."""
    ctx = command.make_context(name, [], parent=parent, resilient_parsing=True)
    ctx.terminal_width = ctx.max_content_width = 100
    return ctx


def _walk(command: click.Command, ctx: click.Context):
    """(context, command) for `command` and every visible subcommand, depth first, sorted by name."""
    yield ctx, command
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _walk(sub, _context(sub, name, ctx))


def render_cli_markdown() -> str:
    """The whole of docs/cli.md."""
    from forge.cli import main

    root = _context(main, "forge")
    for name in main.list_commands(root):  # load the lazy commands first: the top-level help lists their own help
        main.get_command(root, name)
    parts = [INTRO]
    for ctx, command in _walk(main, root):
        parts.append(f"\n## `{ctx.command_path}`\n\n```\n{command.get_help(ctx).rstrip()}\n```\n")
    return "".join(parts)


def first_sentence(path) -> str:
    """The first sentence of a module's docstring (its first paragraph when it has no full stop)."""
    import ast
    import re
    from pathlib import Path

    doc = ast.get_docstring(ast.parse(Path(path).read_text(encoding="utf-8"))) or ""
    paragraph = " ".join(doc.split("\n\n")[0].split())
    found = re.match(r"(.*?\.)(\s|$)", paragraph)
    return found.group(1) if found else paragraph


def render_architecture(page: str, root) -> str:
    """docs/architecture.md with the module list of each `### `forge/...`` section written again from the modules in
    that folder (file name and first docstring sentence), where the section's list was."""
    import re
    from pathlib import Path

    out: list[str] = []
    folder, at = None, None  # the section's folder, and where its list goes in `out`

    def close() -> None:
        if folder and at is not None:
            out[at:at] = [
                f"- `{m.name}`: {first_sentence(m)}"
                for m in sorted((Path(root) / folder).glob("*.py"))
                if m.name != "__init__.py"
            ]

    for line in page.splitlines():
        if line.startswith("#"):
            close()
            heading = re.match(r"### `(forge/[\w/]*)`", line)
            folder, at = (heading.group(1) if heading else None), None
        elif folder and line.startswith("- `"):
            at = len(out) if at is None else at
            continue
        out.append(line)
    close()
    return "\n".join(out) + "\n"


def write_docs(root) -> list[str]:
    """Rewrite docs/cli.md, the generated block of docs/config.md and the module lists of docs/architecture.md
    under `root`; the paths written."""
    from pathlib import Path

    from forge.atomic import write_text_atomic
    from forge.config.render import render_markdown

    docs = Path(root) / "docs"
    write_text_atomic(docs / "cli.md", render_cli_markdown())
    start, end = "<!-- config-reference:start -->\n", "<!-- config-reference:end -->"
    page = (docs / "config.md").read_text(encoding="utf-8")
    write_text_atomic(docs / "config.md", page.split(start)[0] + start + render_markdown() + end + page.split(end)[1])
    architecture = docs / "architecture.md"
    write_text_atomic(architecture, render_architecture(architecture.read_text(encoding="utf-8"), root))
    return ["docs/cli.md", "docs/config.md", "docs/architecture.md"]


if __name__ == "__main__":
    print("\n".join(f"wrote {p}" for p in write_docs(".")))
