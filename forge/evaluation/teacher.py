"""The teacher baseline: how the big model (datagen.model) scores on the gold set, asked as the student is.

The teacher sees what the fine-tuned model is trained on: the task's system prompt, BACKGROUND.md
(lines holding a gold input left out) and eval.teacher_shots training examples as worked turns (never
gold or sealed ones: each shot must pass the gold guard's rules), then one gold input, answered under
the output schema when there is one. A gold conversation with tools is asked as the API's own tool use
(forge.llm.tool_use): its tools as `tools`, its history as turns with tool_use and tool_result blocks, the
worked conversations in the system prompt (each is a conversation of its own), and a reply that calls is
scored as its calls. Its answers are scored by the project's scorer and recorded as a
`teacher` row of output/experiments.jsonl (not an iteration, not promotable): accuracy, counts, the
per-example verdicts by id, cost. The answers themselves are never written, shown to the planner or
added to any prompt or training set: gold inputs reach the teacher API here and nowhere else. A row is
reused while the gold set, the schema, the model and the prompt (system text, shots) are unchanged.
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

from forge.clock import now
from forge.data.answers import category
from forge.data.datasets import assistant_text, example_id, file_hash, load_numbered, user_text
from forge.data.output_schema import OutputSchema, schema_for
from forge.data.tool_calls import openai_messages
from forge.errors import ForgeError, first_line
from forge.evaluation.runner import schema_valid_rate, score_set
from forge.evaluation.scorers import Scorer
from forge.hashing import content_hash
from forge.llm import prompts as prompts_io
from forge.llm.api_errors import ApiError
from forge.llm.client import Ledger, check_price, make_client, output_config, retrying
from forge.llm.tool_use import TOOL_CHOICE, answer_of_content, anthropic_tools, anthropic_turns
from forge.project import context, records
from forge.project.project import Project
from forge.result_lines import ResultLine, fraction, score_lines

MAX_TOKENS = 2000
INSTRUCTION = (
    "Answer the user's message the way the examples in this conversation are answered: only the "
    "answer, in the same format, with nothing before or after it."
)
TOOL_INSTRUCTION = (
    "Answer the last turn of the conversation the way the worked conversations below answer theirs: "
    "call the tools when the turn needs a call (several at once when it needs several), else reply "
    "in text."
)


def shots(project: Project, k: int) -> list[dict]:
    """k training examples (a seeded pick spread over answer categories); any the gold guard matches is skipped."""
    pool = load_numbered(project.canonical_path, project.rel(project.canonical_path), missing_ok=True) or load_numbered(
        project.seed_path, project.rel(project.seed_path), missing_ok=True
    )
    guard = project.gold_guard()
    clean = [e for _, e in pool if guard.match_rule(user_text(e), assistant_text(e)) is None]
    random.Random(0).shuffle(clean)
    by_category: dict[str, list[dict]] = {}
    for e in clean:
        by_category.setdefault(category(assistant_text(e)), []).append(e)
    picked: list[dict] = []
    while len(picked) < min(k, len(clean)):  # round-robin over categories: the teacher sees the task's range
        for group in by_category.values():
            if group and len(picked) < k:
                picked.append(group.pop())
    return picked


def _system(project: Project, instruction: str = INSTRUCTION) -> str:
    background = prompts_io.background_without_gold(project).strip()
    if background and not background.startswith("#"):
        background = f"# Background\n{background}"
    return "\n\n".join(part for part in (project.system_prompt().strip(), background, instruction) if part)


def _user(example: dict) -> str:
    tools = example.get("tools")
    return (f"Tools: {json.dumps(tools, ensure_ascii=False)}\n\n" if tools else "") + user_text(example)


def _tool_system(project: Project, shot_examples: list[dict]) -> list[dict]:
    """The system blocks of a request with tools: the student's system text, then the worked conversations as
    JSON lines in OpenAI's format (the cache breakpoint closes them)."""
    worked = "\n".join(
        json.dumps(
            {"messages": openai_messages([m for m in e["messages"] if m["role"] != "system"])}, ensure_ascii=False
        )
        for e in shot_examples
    )
    text = _system(project, TOOL_INSTRUCTION)
    if worked:
        text += f"\n\n# Worked conversations\n{worked}"
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


def _prefix(project: Project, shot_examples: list[dict]) -> tuple[list[dict], list[dict]]:
    """(system blocks, shot turns) shared by every request; the cache breakpoint closes the shots."""
    turns: list[dict] = []
    for e in shot_examples:
        turns += [{"role": "user", "content": _user(e)}, {"role": "assistant", "content": assistant_text(e)}]
    if turns:
        turns[-1]["content"] = [{"type": "text", "text": turns[-1]["content"], "cache_control": {"type": "ephemeral"}}]
    system = [{"type": "text", "text": _system(project), "cache_control": {"type": "ephemeral"}}]
    return system, turns


def _request(cfg, system, turns, example: dict, schema: OutputSchema | None, tool_system: list[dict]) -> dict:
    if example.get("tools"):
        return {
            "model": cfg.datagen.model,
            "max_tokens": MAX_TOKENS,
            "system": tool_system,
            "tools": anthropic_tools(example["tools"]),
            "tool_choice": TOOL_CHOICE[example.get("tool_choice", cfg.eval.tool_choice)],
            "messages": anthropic_turns(example["messages"][:-1]),
            **({"output_config": c} if (c := output_config(cfg.llm.datagen_effort, None)) else {}),
        }
    params = {
        "model": cfg.datagen.model,
        "max_tokens": MAX_TOKENS,
        "system": system,
        "messages": [*turns, {"role": "user", "content": _user(example)}],
    }
    config = output_config(cfg.llm.datagen_effort, schema.schema if schema else None)
    return {**params, **({"output_config": config} if config else {})}


def _cached(project: Project, key: dict) -> dict | None:
    for row in reversed(records.teacher_rows(project)):
        if all(row.get(k) == v for k, v in key.items()):
            return row
    return None


def run_teacher(project: Project, echo=print, force: bool = False) -> dict:
    """The teacher row for the current gold set: measured now, or the recorded one when nothing it depends on
    changed (`force` measures again; a recorded row comes back with "cached": true). Raises ForgeError when a request fails after retries: a teacher score
    with holes would be a wrong reference."""
    cfg = project.config
    numbered = load_numbered(project.gold_path, cfg.dataset.gold, missing_ok=True)
    gold = [e for _, e in numbered]
    if not gold:
        raise ForgeError(f"{cfg.dataset.gold}: no gold examples for the teacher to answer")
    schema = OutputSchema.for_project(project)
    chosen = shots(project, cfg.eval.teacher_shots)
    system, turns = _prefix(project, chosen)
    tool_system = _tool_system(project, chosen) if any(e.get("tools") for e in gold) else []
    key = {
        "model": cfg.datagen.model,
        "gold_hash": file_hash(project.gold_path),
        "schema_hash": schema.hash if schema else None,
        "prompt_hash": content_hash(
            json.dumps([system, turns, *([tool_system] if tool_system else [])], sort_keys=True)
        ),
    }
    if not force and (row := _cached(project, key)):
        echo(
            f"teacher: {row['accuracy']:.1%} ({row['correct']}/{row['total']}), recorded {row['time']} (unchanged "
            "gold, schema, model and prompt; --force measures again)"
        )
        return {**row, "cached": True}
    import anthropic

    prices = check_price(cfg, cfg.datagen.model, echo)
    client, ledger = make_client(cfg), Ledger.for_project(project, prices)
    requests = [_request(cfg, system, turns, e, schema_for(e, schema, cfg.eval.tool_choice), tool_system) for e in gold]
    echo(f"teacher: {cfg.datagen.model} answers {len(gold)} gold inputs ({len(chosen)} training examples as shots)")
    cost = 0.0

    def ask(params: dict) -> str:
        nonlocal cost
        msg = retrying(lambda: client.messages.create(**params), cfg.llm.max_retries)
        cost += ledger.record(cfg.datagen.model, msg.usage, "teacher")
        return answer_of_content(msg.content)

    start = time.perf_counter()
    try:
        try:
            first = ask(requests[0])  # alone: it writes the prefix cache the others read
        except anthropic.BadRequestError as exc:  # a 400 other than an overflow: the format may be what it refuses
            if "format" not in requests[0].get("output_config", {}) or ApiError.of(exc).context_overflow:
                raise
            echo(
                f"teacher: the server refused the output schema as a response format ({first_line(exc, 160)}); "
                "asking without it (answers are still scored under the schema)"
            )
            requests = [
                {**r, "output_config": {k: v for k, v in r["output_config"].items() if k != "format"}} for r in requests
            ]
            first = ask(requests[0])
        with ThreadPoolExecutor(max_workers=cfg.llm.concurrency) as pool:
            answers = [first, *pool.map(ask, requests[1:])]
    except Exception as exc:
        raise ForgeError(
            f"teacher: a request failed after retries ({type(exc).__name__}: {first_line(exc, 200)}); "
            f"nothing recorded (${cost:.4f} spent)"
        ) from None
    wall = time.perf_counter() - start
    scorer = Scorer.for_project(project, schema)
    verdicts, summary = score_set(gold, answers, scorer, sealed=True)  # sealed: the judge keeps no reason
    if scorer.judge:
        cost += scorer.judge.cost_usd
    correct = summary["correct"]
    row = {
        "kind": records.TEACHER,
        "time": now(),
        **key,
        **{k: summary[k] for k in ("accuracy", "correct", "total", "ci95")},
        "shots": len(chosen),
        "scorer": cfg.eval.scorer,
        "schema_valid": schema_valid_rate(schema, gold, answers, cfg.eval.tool_choice),
        "cost_usd": round(cost, 6),
        "wall_s": round(wall, 2),
        "per_example": {example_id(e): v.correct for e, v in zip(gold, verdicts, strict=True)},
    }
    records.record_teacher(project, row)
    context.update_context(project)
    wrong = [str(n) for (n, _), v in zip(numbered, verdicts, strict=True) if not v.correct]
    echo(
        f"teacher: {row['accuracy']:.1%} ({correct}/{len(gold)}), ${cost:.4f}"
        + (
            f"; wrong on {cfg.dataset.gold} lines {', '.join(wrong[:20])}" + (" ..." if len(wrong) > 20 else "")
            if wrong
            else ""
        )
    )
    return row


def teacher_lines(row: dict) -> list[ResultLine]:
    """`forge eval --teacher`'s result lines: the teacher's score on the gold set and what it cost."""
    lines = score_lines("teacher_accuracy", row["accuracy"], row["correct"], row["total"], row["ci95"])
    if row.get("schema_valid") is not None:
        lines.append(ResultLine("schema_valid", row["schema_valid"], fraction(row["schema_valid"])))
    return lines + [ResultLine("cost_usd", row["cost_usd"], f"${row['cost_usd']:.4f}")]
