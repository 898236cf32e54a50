"""`forge predict` and `forge chat`: answers from a trained model, with the project's system prompt and chat
template, as eval sees them.

The model is the promoted best adapter by default (what you would ship), else output/adapter; `--adapter`
names another, `--base` the base model itself, `--gguf` an exported file run in llama.cpp under its grammar. predict reads JSONL requests (`{"messages": [...]}` ending
with a user turn, or with tool results; a final assistant turn is taken as the expected answer and kept as
"expected"; `tools` as in training data) and generates in the same sorted, left-padded batches as eval. A
request with tools is answered as eval answers it, under the tools' contract, and its answer is written as an
assistant message with OpenAI `tool_calls` when it calls.
"""

from __future__ import annotations

from pathlib import Path

from forge.data.answers import parse_json
from forge.data.datasets import ROLES, normalized
from forge.data.tool_calls import answer_of_generation, answer_text, calls_in, messages_problem
from forge.errors import ForgeError
from forge.inference.constrained import example_constraints, project_constraint
from forge.inference.generate import generate
from forge.inference.progress import EvalProgress
from forge.jsonl import parse_jsonl
from forge.models.chat_format import prompt_text, with_system_prompt
from forge.models.loading import load_for_inference, local_base_dir, resolve_runtime
from forge.models.memory import Budget, generation_tokens
from forge.project import records


def choose_model(project, adapter: Path | None = None, base: bool = False) -> tuple[Path, str]:
    """(model directory, how to name it)."""
    if adapter and base:
        raise ForgeError("--adapter and --base are exclusive")
    if adapter:
        return Path(adapter), str(adapter)
    if base:
        return local_base_dir(project), f"{project.config.model.base} (base, no adapter)"
    best = records.best(project)
    if best and project.path(best["path"]).is_dir():
        return project.path(best["path"]), f"{best['path']} (best, {best['accuracy']:.1%})"
    if (project.adapter_dir).is_dir():
        return project.adapter_dir, f"{project.rel(project.adapter_dir)} (latest, not promoted)"
    raise ForgeError("no trained model yet: run `forge train` (or pass --base to use the base model)")


def parse_request(obj, where: str) -> tuple[list[dict], str | None, list | None]:
    """(the conversation to answer, the expected answer or None, the tools or None), or a one-line error naming
    `where`."""
    msgs = obj.get("messages") if isinstance(obj, dict) else None
    if not isinstance(msgs, list) or not msgs:
        raise ForgeError(f'{where}: expected {{"messages": [...]}} with at least a user message')
    try:
        msgs = normalized(obj)["messages"]
    except ValueError as exc:
        raise ForgeError(f"{where}: {exc}") from None
    for n, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ForgeError(f'{where}: messages[{n}] must be {{"role": {"|".join(ROLES)}, "content": string}}')
    tools = obj.get("tools")
    problem = messages_problem(msgs, tools)
    if problem:
        raise ForgeError(f"{where}: {problem}")
    expected = None
    if msgs[-1]["role"] == "assistant":
        expected, msgs = answer_text(msgs[-1]), msgs[:-1]
    if not msgs or msgs[-1]["role"] not in ("user", "tool"):
        raise ForgeError(
            f"{where}: the conversation must end with a user message or tool results (then, optionally, "
            "the expected answer)"
        )
    return msgs, expected, tools


def read_requests(text: str, display: str) -> list[tuple[list[dict], str | None, list | None]]:
    requests = [parse_request(obj, f"{display}:{n}") for n, obj in parse_jsonl(text, display)]
    if not requests:
        raise ForgeError(f"{display}: no requests")
    return requests


def render_prompt(project, tokenizer, messages: list[dict], tools: list | None = None) -> str:
    """The prompt for the answer after `messages`, as eval renders it (forge.models.chat_format.prompt_text)."""
    convo = with_system_prompt({"messages": messages}, project.system_prompt())
    return prompt_text(tokenizer, [*convo, {"role": "assistant", "content": ""}], tools)


def predict(
    project, requests, model_dir: Path, *, batch_size: int | None = None, max_new_tokens: int | None = None, echo=None
) -> list[dict]:
    """One output row per request: the conversation with the model's answer appended (and "expected"); decoded
    under the output schema as eval decodes (eval.constrained)."""
    cfg = project.config
    device = resolve_runtime(cfg.compute.device, load_in_4bit=False).device
    model, tokenizer, _ = load_for_inference(model_dir, project.root, device, cfg.eval.precision)
    prompts = [render_prompt(project, tokenizer, msgs, tools) for msgs, _, tools in requests]
    progress = EvalProgress(len(prompts), echo) if echo else None
    with_tools = [{"messages": msgs, **({"tools": tools} if tools else {})} for msgs, _, tools in requests]
    under = (
        example_constraints(project, tokenizer, with_tools)
        if any(t for _, _, t in requests)
        else project_constraint(project, tokenizer)
    )
    try:
        raw = generate(
            model,
            tokenizer,
            prompts,
            max_new_tokens or cfg.eval.max_new_tokens,
            batch_size or cfg.eval.batch_size,
            device,
            progress,
            under,
            max_tokens=generation_tokens(model, Budget.for_device(cfg.training.max_memory_gb, device)),
        )
    finally:
        if progress:
            progress.close()
    return _rows(
        requests, [answer_of_generation(a) if tools else a for a, (_, _, tools) in zip(raw, requests, strict=True)]
    )


def predict_gguf(project, requests, gguf: Path, *, max_new_tokens: int | None = None, echo=None) -> list[dict]:
    """predict's rows from an exported GGUF through llama.cpp, under the grammar beside it
    (forge.inference.gguf): what the shipped file answers, one request at a time."""
    from forge.inference.gguf import GgufAnswerer

    if any(tools for _, _, tools in requests):
        raise ForgeError(
            "predict --gguf answers without tools; for requests with tools, serve the file with "
            "llama-server --jinja and send them through its OpenAI API (docs/shipping.md)"
        )
    answerer = GgufAnswerer(project, gguf, max_new_tokens or project.config.eval.max_new_tokens)
    progress = EvalProgress(len(requests), echo) if echo else None
    answers = []
    try:
        for msgs, _, _ in requests:
            answers.append(answerer.answer(msgs))
            if progress:
                progress(1)
    finally:
        if progress:
            progress.close()
    return _rows(requests, answers)


def _rows(requests, answers: list[str]) -> list[dict]:
    out = []
    for (msgs, expected, tools), answer in zip(requests, answers, strict=True):
        calls = calls_in(parse_json(answer)[0]) if tools else None
        reply = (
            {"role": "assistant", "content": answer}
            if not calls
            else {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"]},
                    }
                    for i, c in enumerate(calls, 1)
                ],
            }
        )
        row = {"messages": [*msgs, reply], **({"tools": tools} if tools else {})}
        if expected is not None:
            row["expected"] = expected
        out.append(row)
    return out
