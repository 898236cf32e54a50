"""`forge chat`: type prompts at a trained model and watch the answer stream, turn after turn.

Same model choice, system prompt and chat template as `forge predict` (forge.inference.predict); greedy, like
eval, and under the output schema when eval decodes under it, so what you see is what the gold set
measures. `--gguf FILE` talks to an exported GGUF through
llama.cpp instead, with the chat template stored in the file. Commands: /reset forgets the
conversation, /exit (or end of input) quits.

With tools (`--tools FILE`, else the tools the project's training set carries) the model answers as eval asks it,
under the tools' contract: a turn that calls shows its `<tool_call>` blocks, then asks for each call's result,
which goes into the history as a tool message (OpenAI's shape, `call_1`, ...) before the model answers again.
"""

from __future__ import annotations

import json
from pathlib import Path

from forge.data.answers import parse_json
from forge.data.tool_calls import answer_of_generation, calls_in, functions, project_tools
from forge.errors import ForgeError
from forge.inference.constrained import example_constraints, project_constraint
from forge.inference.generate import stop_ids, until_stop
from forge.inference.gguf import GgufAnswerer
from forge.inference.predict import render_prompt
from forge.models.loading import load_for_inference, resolve_runtime


def chat_tools(project, tools_file: Path | None) -> list | None:
    """The tools to chat with: `tools_file`'s (a JSON list), else those the seed and training sets carry, else None;
    a one-line error naming the file when it holds no list of function definitions."""
    if tools_file is None:
        return project_tools(project.training_pool())
    try:
        tools = json.loads(tools_file.read_text(encoding="utf-8"))
        if not isinstance(tools, list) or not tools:
            raise ValueError("expected a JSON list of tools")
        functions(tools)
    except ValueError as exc:
        raise ForgeError(f"{tools_file}: {exc}") from None
    return tools


def hf_responder(project, model_dir: Path, max_new_tokens: int, write, tools: list | None = None):
    """history -> answer, streaming its text to `write` as it is generated; with `tools`, under their contract."""
    import torch
    from transformers import LogitsProcessorList, TextStreamer

    device = resolve_runtime(project.config.compute.device, load_in_4bit=False).device
    model, tokenizer, _ = load_for_inference(model_dir, project.root, device, project.config.eval.precision)
    stops = sorted(stop_ids(model, tokenizer))
    constraint = (
        (example_constraints(project, tokenizer, [{"messages": [], "tools": tools}]) or [None])[0]
        if tools
        else project_constraint(project, tokenizer)
    )

    class Streamer(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False):
            write(text)

    def respond(history: list[dict]) -> str:
        enc = tokenizer(
            render_prompt(project, tokenizer, history, tools), return_tensors="pt", add_special_tokens=False
        ).to(device)
        extra = (
            {"logits_processor": LogitsProcessorList([constraint.processor(1, enc["input_ids"].shape[1], set(stops))])}
            if constraint
            else {}
        )
        with torch.no_grad():
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=stops,
                pad_token_id=tokenizer.pad_token_id,
                **extra,
                streamer=Streamer(tokenizer, skip_prompt=True, skip_special_tokens=True),
            )
        new = until_stop(out[0, enc["input_ids"].shape[1] :].tolist(), set(stops))
        return tokenizer.decode(new, skip_special_tokens=True)

    return respond


def gguf_responder(project, gguf: Path, max_new_tokens: int, write, tools: list | None = None):
    """history -> answer from the GGUF through llama.cpp, streaming its text to `write`."""
    if tools:
        raise ForgeError(
            "chat --gguf answers without tools; to chat with tools, serve the file with llama-server "
            "--jinja and talk to its OpenAI API (docs/shipping.md), or chat with the adapter"
        )
    answerer = GgufAnswerer(project, gguf, max_new_tokens)

    def respond(history: list[dict]) -> str:
        parts = []
        for text in answerer.pieces(history):
            parts.append(text)
            write(text)
        return "".join(parts)

    return respond


def _calls(answer: str) -> list[dict]:
    return calls_in(parse_json(answer_of_generation(answer))[0]) or []


def chat(respond, read_line, write, tools: bool = False) -> int:
    """The loop: read a line (`read_line(prompt)`), answer it, until /exit or end of input; with `tools`, each call
    the answer makes is followed by its result, read as a line. Returns the number of answers."""
    history: list[dict] = []
    turns = 0
    pending: list[dict] = []  # calls still waiting for their result
    while True:
        line = read_line(f"result of {pending[0]['function']['name']} ({pending[0]['id']})> " if pending else "> ")
        if line is None or line.strip() in ("/exit", "/quit"):
            return turns
        if line.strip() == "/reset":
            history, pending = [], []
            write("(conversation reset)\n")
            continue
        if pending:
            call = pending.pop(0)
            history.append({"role": "tool", "tool_call_id": call["id"], "content": line})
            if pending:
                continue
        else:
            history.append({"role": "user", "content": line})
        answer = respond(history)
        write("\n")
        turns += 1
        calls = _calls(answer) if tools else []
        if not calls:
            history.append({"role": "assistant", "content": answer})
            continue
        numbered = sum(1 for m in history for _ in m.get("tool_calls") or ())
        pending = [{"id": f"call_{numbered + n}", "type": "function", "function": c} for n, c in enumerate(calls, 1)]
        history.append({"role": "assistant", "content": "", "tool_calls": list(pending)})
