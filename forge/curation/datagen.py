"""Generating training examples (generate / augment / patch share this): concurrent batches,
validation, dedupe, the gold guard, provenance and cost, from the LLM or generator.py.

The LLM answers through structured output (`output_config.format` json_schema), so nothing is
parsed out of prose. Failed batches are reported and the good ones kept. Each request puts its
stable part first (instructions, mission, BACKGROUND.md, the task's system prompt) behind a
cache breakpoint and the per-batch part (style anchors, count, focus) after it; the first batch
goes alone, so the others read the prefix it cached.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field

from forge.curation.generator_source import as_chat, load_generator, use_generator
from forge.curation.tool_datagen import anchor, examples_schema, from_llm
from forge.data.answers import parse_json
from forge.data.datasets import (
    append_examples,
    assistant_text,
    example_problem,
    load_examples,
    normalized,
    stamp,
    user_text,
)
from forge.data.tool_calls import project_tools
from forge.errors import first_line
from forge.llm import prompts as prompts_io
from forge.llm.client import Ledger, check_price, make_client, output_config, retrying
from forge.project.project import Project

EXAMPLES_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["examples"],
    "properties": {
        "examples": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["user", "assistant"],
                "properties": {"user": {"type": "string"}, "assistant": {"type": "string"}},
            },
        }
    },
}
MAX_OUTPUT_TOKENS = 16000


@dataclass
class GenerationReport:
    source: str
    requested: int
    kept: int = 0
    rejected: Counter = field(default_factory=Counter)
    failed_batches: list[str] = field(default_factory=list)
    cost_usd: float = 0.0

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "requested": self.requested,
            "kept": self.kept,
            "rejected": dict(sorted(self.rejected.items())),
            "failed_batches": self.failed_batches,
            "cost_usd": round(self.cost_usd, 6),
        }


def answer_problem(example: dict, scorer: str) -> str | None:
    """Why an example's answer is unusable for this project's scorer, or None. A turn that may call tools is held
    to its tools' contract when it is appended."""
    if scorer not in ("json_cmd", "json_match") or example.get("tools"):
        return None
    value, err = parse_json(assistant_text(example))
    if err:
        return "invalid_json"
    if scorer == "json_cmd" and not (isinstance(value, dict) and "cmd" in value):
        return "invalid_json"
    return None


def anchors(project: Project, k: int = 6, seed: int = 0) -> list[dict]:
    """Style anchors from the seed and training sets (never gold or sealed)."""
    pool = project.training_pool()
    return random.Random(seed).sample(pool, min(k, len(pool)))


def stable_prompt(project: Project, tools: list | None) -> str:
    """The part of every request that stays the same (cached): the task, its context files and, where the
    task calls functions, its tools and how its conversations are written."""
    text = prompts_io.render("datagen_generate", project)
    return (
        text + prompts_io.render("datagen_tools", project, tools=json.dumps(tools, ensure_ascii=False, indent=1))
        if tools
        else text
    )


def generation_prompt(
    project: Project, n: int, focus: str | None, seed: int = 0, stable: str | None = None, tools: list | None = None
) -> list[dict]:
    """The user message's content blocks: the cached stable part (rendered once per generation by the
    caller, who passes it as `stable`), then this batch's part. With `tools`, anchors are conversations in
    the shape the LLM answers in."""
    shown = (
        "\n".join(
            json.dumps(
                anchor(e) if tools and e.get("tools") else {"user": user_text(e), "assistant": assistant_text(e)},
                ensure_ascii=False,
            )
            for e in anchors(project, seed=seed)
        )
        or "(none yet)"
    )
    stable = stable_prompt(project, tools) if stable is None else stable
    batch = prompts_io.render(
        "datagen_batch", project, n=str(n), anchors=shown, focus=f"Focus: {focus}" if focus else "Cover the whole task."
    )
    return [{"type": "text", "text": stable, "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": batch}]


def request_params(cfg, content: list[dict], tools: list | None = None) -> dict:
    """One generation request (shared by the Messages and Batches paths)."""
    return {
        "model": cfg.datagen.model,
        "max_tokens": MAX_OUTPUT_TOKENS,
        "messages": [{"role": "user", "content": content}],
        "output_config": output_config(cfg.llm.datagen_effort, examples_schema(tools) if tools else EXAMPLES_SCHEMA),
    }


def as_examples(items: list, tools: list | None) -> list:
    """The LLM's items as chat examples: conversations carrying the task's tools, or pairs."""
    return [from_llm(x, tools) for x in items] if tools else [as_chat(x) for x in items]


def _llm_batch(
    client, cfg, ledger, prompt: list[dict], purpose: str, tools: list | None
) -> tuple[list | None, float, str]:
    """(items or None, cost, stop reason) of one request; a billed reply that is not valid JSON gives None."""
    model = cfg.datagen.model
    msg = retrying(lambda: client.messages.create(**request_params(cfg, prompt, tools)), cfg.llm.max_retries)
    usd = ledger.record(model, msg.usage, purpose)
    text = "".join(b.text for b in msg.content if b.type == "text")
    try:
        items = json.loads(text)["examples"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return None, usd, msg.stop_reason
    return (items if isinstance(items, list) else None), usd, msg.stop_reason


def batch_sizes(n: int, batch_size: int) -> list[int]:
    return [min(batch_size, n - i) for i in range(0, n, batch_size)]


def produce(
    project: Project,
    n: int,
    focus: str | None,
    *,
    batch_size: int = 50,
    purpose: str = "generate",
    seed: int = 0,
    progress=None,
) -> tuple[list[dict], GenerationReport]:
    """Candidate examples (not yet validated) from generator.py or the LLM, and the report so far."""
    if use_generator(project):
        gen = load_generator(project)
        report = GenerationReport(f"generator:{project.config.dataset.generator}", n)
        items: list = []
        for i, size in enumerate(batch_sizes(n, batch_size)):
            try:
                items += list(gen(size, focus, seed * 1000 + i))
            except Exception as exc:  # the project's code; report and keep going
                report.failed_batches.append(f"batch {i}: {type(exc).__name__}: {exc}")
            if progress:
                progress(size)
        return [as_chat(x) for x in items], report
    cfg = project.config
    prices = check_price(cfg, cfg.datagen.model)
    client, ledger = make_client(cfg), Ledger.for_project(project, prices)
    report = GenerationReport(f"llm:{cfg.datagen.model}", n)
    items = []
    sizes = batch_sizes(n, batch_size)
    tools = project_tools(project.training_pool())
    stable = stable_prompt(project, tools)  # context files and the gold check, read once
    with ThreadPoolExecutor(max_workers=cfg.llm.concurrency) as pool:

        def submit(i: int, size: int):
            return pool.submit(
                _llm_batch,
                client,
                cfg,
                ledger,
                generation_prompt(project, size, focus, seed * 1000 + i, stable, tools),
                purpose,
                tools,
            )

        # The first batch alone writes the cache; the rest then read it.
        first = {submit(0, sizes[0]): (0, sizes[0])} if sizes else {}
        wait(first)
        futures = {**first, **{submit(i, size): (i, size) for i, size in enumerate(sizes) if i}}
        for fut in as_completed(futures):
            i, size = futures[fut]
            try:
                batch, usd, stop = fut.result()
                error = None if batch is not None else f"invalid JSON from the model (stop_reason {stop})"
            except Exception as exc:  # one bad batch must not lose the others
                batch, usd, error = None, 0.0, f"{type(exc).__name__}: {first_line(exc)}"
            report.cost_usd += usd
            if error:
                report.failed_batches.append(f"batch {i}: {error}")
                report.rejected["batch_failed"] += size
            else:
                items += batch
            if progress:
                progress(size)
    return as_examples(items, tools), report


def write_examples(
    project: Project,
    candidates: list,
    report: GenerationReport,
    source: str,
    iteration: int | None = None,
    focus: str | None = None,
    target=None,
) -> GenerationReport:
    """Validate, stamp provenance, then append (to the training set, or target) through dedupe and the gold guard."""
    scorer = project.config.eval.scorer
    valid = []
    for item in candidates:
        try:
            item = normalized(item)  # OpenAI's variants (arguments as JSON text, null content) in forge's shape
        except ValueError:
            item = None
        if item is None or example_problem(item):
            report.rejected["invalid_format"] += 1
            continue
        problem = answer_problem(item, scorer)
        if problem:
            report.rejected[problem] += 1
            continue
        kept = {k: item[k] for k in ("messages", "tools", "tool_choice") if k in item}
        valid.append(stamp(kept, source, iteration, focus=focus, origin=report.source))
    path = target or project.canonical_path
    gold_guard = project.gold_guard()
    gold_guard.check_training_path(path, project.rel(path))
    result = append_examples(
        path,
        valid,
        gold_guard,
        schema=project.output_schema(),
        display=project.rel(path),
        tool_choice=project.config.eval.tool_choice,
    )
    report.kept = result.kept
    for rule, count in result.schema_rejected.items():
        report.rejected[f"outside_schema ({rule})"] += count
    if result.duplicates:
        report.rejected["duplicate"] += result.duplicates
    for rule, n in result.gold_rules.items():
        report.rejected[rule] += n
    return report


def generate(
    project: Project,
    n: int,
    *,
    focus: str | None = None,
    source: str = "generate",
    batch_size: int = 50,
    iteration: int | None = None,
    seed: int | None = None,
    progress=None,
    target=None,
) -> GenerationReport:
    if seed is None:
        seed = len(load_examples(project.canonical_path, project.rel(project.canonical_path), missing_ok=True))
    candidates, report = produce(project, n, focus, batch_size=batch_size, purpose=source, seed=seed, progress=progress)
    return write_examples(project, candidates, report, source, iteration, focus, target)
