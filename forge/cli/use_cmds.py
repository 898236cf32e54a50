"""Using a trained model: predict (batch, JSONL in and out) and chat (interactive, streaming)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from forge.cli.options import open_project, project_option
from forge.config.schema import field_doc

_ADAPTER = click.option(
    "--adapter",
    "adapter",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="Adapter or full model directory (default: the promoted best, else output/adapter).",
)
_BASE = click.option("--base", "base", is_flag=True, help="The base model itself (model.base, no adapter).")
_GGUF = click.option(
    "--gguf",
    "gguf",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="An exported GGUF file, run in llama.cpp under the grammar beside it (else the project's "
    "output schema), with the chat template stored in the file.",
)


@click.command("predict")
@click.argument("source", type=click.Path(allow_dash=True, dir_okay=False, path_type=str))
@project_option
@_ADAPTER
@_BASE
@_GGUF
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the JSONL here (atomically) instead of standard output.",
)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=None, help=field_doc("eval.batch_size"))
@click.option("--max-new-tokens", type=click.IntRange(1, 32768), default=None, help=field_doc("eval.max_new_tokens"))
def predict_cmd(source, project_dir, adapter, base, gguf, out, batch_size, max_new_tokens):
    """Answer every request of SOURCE (JSONL of {"messages": [...]}, or - for standard input): one line out per
    line in, the conversation with the model's answer appended (a given final answer is kept as "expected")."""
    from forge.atomic import write_text_atomic
    from forge.inference.predict import choose_model, predict, predict_gguf, read_requests

    project = open_project(project_dir)
    if gguf and (adapter or base):
        raise click.UsageError("--gguf and --adapter/--base are exclusive")
    display = "stdin" if source == "-" else source
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    requests = read_requests(text, display)
    echo = lambda m: click.echo(m, err=True)  # noqa: E731
    if gguf:
        click.echo(f"model: {gguf} (llama.cpp)", err=True)
        rows = predict_gguf(project, requests, gguf, max_new_tokens=max_new_tokens, echo=echo)
    else:
        model_dir, name = choose_model(project, adapter, base)
        click.echo(f"model: {name}", err=True)
        rows = predict(project, requests, model_dir, batch_size=batch_size, max_new_tokens=max_new_tokens, echo=echo)
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if out:
        write_text_atomic(out, body)
        click.echo(f"predictions: {out} ({len(rows)} rows)", err=True)
    else:
        click.echo(body, nl=False)


@click.command("chat")
@project_option
@_ADAPTER
@_BASE
@_GGUF
@click.option(
    "--max-new-tokens",
    type=click.IntRange(1, 32768),
    default=256,
    show_default=True,
    help="Answer length limit per turn.",
)
@click.option(
    "--tools",
    "tools_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="A JSON list of tools (OpenAI's or bare function objects) to chat with (default: the tools the "
    "training set carries, if any).",
)
def chat_cmd(project_dir, adapter, base, gguf, max_new_tokens, tools_file):
    """Type prompts at the model (greedy, the project's system prompt and chat template); answers stream.
    With tools, each call the model makes asks for its result. /reset forgets the conversation, /exit or Ctrl-D
    quits."""
    from forge.data.tool_calls import function_names
    from forge.inference import chat as chat_session
    from forge.inference.predict import choose_model

    project = open_project(project_dir)
    tools = chat_session.chat_tools(project, tools_file)

    def write(text):
        click.echo(text, nl=False)

    if gguf:
        if adapter or base:
            raise click.UsageError("--gguf and --adapter/--base are exclusive")
        respond, name = chat_session.gguf_responder(project, gguf, max_new_tokens, write, tools), str(gguf)
    else:
        model_dir, name = choose_model(project, adapter, base)
        respond = chat_session.hf_responder(project, model_dir, max_new_tokens, write, tools)
    click.echo(f"model: {name}; /reset forgets the conversation, /exit quits")
    if tools:
        click.echo(f"tools: {', '.join(function_names(tools))}")

    def read_line(prompt: str):
        try:
            # piped input still shows which call a result line answers
            return input(prompt if sys.stdin.isatty() or prompt != "> " else "")
        except EOFError:
            return None

    turns = chat_session.chat(respond, read_line, write, tools=bool(tools))
    click.echo(f"({turns} turns)")


COMMANDS = [predict_cmd, chat_cmd]
