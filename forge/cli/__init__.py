"""The `forge` command line: a thin click layer over forge/ functions.

Heavy libraries (torch, transformers, peft, trl, anthropic) are imported inside the commands
that need them, so `forge --help` stays fast.
"""

from __future__ import annotations

import click

from forge import __version__
from forge.errors import ForgeError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# The one registration point of the agent's commands: imported by name when used, so forge's
# core never imports the agent (imports point forge <- tools <- agent).
LAZY = {
    "agent": "forge.agent.cli:agent_group",
    "tool": "forge.agent.cli:tool_group",
    "flywheel": "forge.agent.cli:flywheel",
}
LAZY_HELP = {
    "agent": "The planner agent: run, read and replay runs.",
    "tool": "The agent's tools by hand, in a session that counts.",
    "flywheel": "The agent with the goal: reach eval.target_accuracy.",
}


class ForgeGroup(click.Group):
    """Turns ForgeError into a one-line `Error: ...` and exit status 1 (never a traceback); loads
    the agent's commands only when one is used."""

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx, name):
        if name in LAZY and name not in self.commands:
            import importlib

            module, attr = LAZY[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx, formatter):
        rows = [
            (name, (self.commands[name].get_short_help_str(60) if name in self.commands else LAZY_HELP[name]))
            for name in self.list_commands(ctx)
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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
    from forge.cli import data_cmds, engine_cmds, project_cmds, remote_cmds, ship_cmds, sweep_cmds, use_cmds

    for module in (project_cmds, engine_cmds, data_cmds, ship_cmds, use_cmds, remote_cmds, sweep_cmds):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
