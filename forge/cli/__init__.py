"""The `forge` command line: a thin click layer over forge/ functions.

Heavy libraries (torch, transformers, peft, trl, anthropic) are imported inside the commands
that need them, so `forge --help` stays fast.
"""

from __future__ import annotations

import click

from forge import __version__
from forge.errors import ForgeError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class ForgeGroup(click.Group):
    """Turns ForgeError into a one-line `Error: ...` and exit status 1 (never a traceback)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ForgeError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=ForgeGroup, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="forge")
def main():
    """forge: fine-tune a small model on a narrow task until it reaches a target accuracy."""


def _register():
    # The agent's commands live with the agent (forge.agent.cli); forge's core modules know nothing of it.
    from forge.agent import cli as agent_cmds
    from forge.cli import data_cmds, engine_cmds, project_cmds, ship_cmds

    for module in (project_cmds, engine_cmds, data_cmds, ship_cmds, agent_cmds):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
