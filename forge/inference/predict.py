"""`forge predict` and `forge chat`: answers from a trained model, with the project's system prompt and chat
template, as eval sees them.

The model is the promoted best adapter by default (what you would ship), else output/adapter; `--adapter`
names another, `--base` the base model itself, `--gguf` an exported file run in llama.cpp under its grammar. predict reads JSONL requests (`{"messages": [...]}` ending
with a user turn; a final assistant turn is taken as the expected answer and kept as "expected") and
generates in the same sorted, left-padded batches as eval.
"""

from __future__ import annotations

from pathlib import Path

from forge.data.datasets import ROLES
from forge.errors import ForgeError
from forge.inference.constrained import project_constraint
from forge.inference.generate import generate
from forge.inference.progress import EvalProgress
from forge.jsonl import parse_jsonl
from forge.models.chat_format import with_system_prompt
from forge.models.loading import load_for_inference, local_base_dir, resolve_runtime
from forge.models.memory import Budget, generation_tokens
from forge.project import records
from forge.training.sft import ADAPTER_DIR, task_system_prompt


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
    if (project.output / ADAPTER_DIR).is_dir():
        return project.output / ADAPTER_DIR, f"output/{ADAPTER_DIR} (latest, not promoted)"
    raise ForgeError("no trained model yet: run `forge train` (or pass --base to use the base model)")


def parse_request(obj, where: str) -> tuple[list[dict], str | None]:
    """(the conversation to answer, the expected answer or None), or a one-line error naming `where`."""
    msgs = obj.get("messages") if isinstance(obj, dict) else None
    if not isinstance(msgs, list) or not msgs:
        raise ForgeError(f'{where}: expected {{"messages": [...]}} with at least a user message')
    for n, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ForgeError(f"{where}: messages[{n}] must be {{\"role\": system|user|assistant, \"content\": string}}")
    expected = None
    if msgs[-1]["role"] == "assistant":
        expected, msgs = msgs[-1]["content"], msgs[:-1]
    if not msgs or msgs[-1]["role"] != "user":
        raise ForgeError(f"{where}: the conversation must end with a user message (or user, then the expected answer)")
    return msgs, expected


def read_requests(text: str, display: str) -> list[tuple[list[dict], str | None]]:
    requests = [parse_request(obj, f"{display}:{n}") for n, obj in parse_jsonl(text, display)]
    if not requests:
        raise ForgeError(f"{display}: no requests")
    return requests


def render_prompt(project, tokenizer, messages: list[dict]) -> str:
    convo = with_system_prompt({"messages": messages}, task_system_prompt(project))
    return tokenizer.apply_chat_template(convo, tokenize=False, add_generation_prompt=True)


def predict(project, requests, model_dir: Path, *, batch_size: int | None = None, max_new_tokens: int | None = None,
            echo=None) -> list[dict]:
    """One output row per request: the conversation with the model's answer appended (and "expected"); decoded
    under the output schema as eval decodes (eval.constrained)."""
    cfg = project.config
    device = resolve_runtime(cfg.compute.device, load_in_4bit=False).device
    model, tokenizer, _ = load_for_inference(model_dir, project.root, device, cfg.eval.precision)
    prompts = [render_prompt(project, tokenizer, msgs) for msgs, _ in requests]
    progress = EvalProgress(len(prompts), echo) if echo else None
    try:
        answers = generate(model, tokenizer, prompts, max_new_tokens or cfg.eval.max_new_tokens,
                           batch_size or cfg.eval.batch_size, device, progress, project_constraint(project, tokenizer),
                           max_tokens=generation_tokens(model, Budget.for_device(cfg.training.max_memory_gb, device)))
    finally:
        if progress:
            progress.close()
    return _rows(requests, answers)


def predict_gguf(project, requests, gguf: Path, *, max_new_tokens: int | None = None, echo=None) -> list[dict]:
    """predict's rows from an exported GGUF through llama.cpp, under the grammar beside it
    (forge.inference.gguf): what the shipped file answers, one request at a time."""
    from forge.inference.gguf import GgufAnswerer

    answerer = GgufAnswerer(project, gguf, max_new_tokens or project.config.eval.max_new_tokens)
    progress = EvalProgress(len(requests), echo) if echo else None
    answers = []
    try:
        for msgs, _ in requests:
            answers.append(answerer.answer(msgs))
            if progress:
                progress(1)
    finally:
        if progress:
            progress.close()
    return _rows(requests, answers)


def _rows(requests, answers: list[str]) -> list[dict]:
    out = []
    for (msgs, expected), answer in zip(requests, answers, strict=True):
        row = {"messages": [*msgs, {"role": "assistant", "content": answer}]}
        if expected is not None:
            row["expected"] = expected
        out.append(row)
    return out
