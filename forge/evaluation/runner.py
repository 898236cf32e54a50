"""`forge eval`: batched greedy generation over the gold set (and the sealed set), scored.

Prompts are sorted by length and generated in left-padded batches (outputs are identical to
one-at-a-time generation; see bench/eval_batching.py). Gold results go to
output/eval_results.json and output/eval_failures.jsonl. The sealed set, when configured, is
scored the same way but only its aggregate numbers are kept: no input or output of it is
written anywhere or printed.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

from forge.atomic import write_bytes_atomic, write_json_atomic
from forge.clock import now
from forge.data.answers import category
from forge.data.datasets import assistant_text, encode, example_id, file_hash, load_examples, user_text
from forge.data.output_schema import schema_for
from forge.data.tool_calls import answer_of_generation
from forge.errors import ForgeError
from forge.evaluation.result import EvalResult
from forge.evaluation.scorers import Scorer
from forge.evaluation.stats import wilson_interval
from forge.inference.generate import generate
from forge.inference.progress import EvalProgress
from forge.models.chat_format import prompt_text, with_system_prompt
from forge.models.loading import load_for_inference, local_base_dir, resolve_runtime
from forge.models.memory import Budget, free_memory, generation_tokens
from forge.project.project import Project
from forge.project.records import FAILURES, RESULTS
from forge.project.run_lock import holds_run_lock
from forge.remote.mark import Pull, remote_step


def model_hash(model_dir: Path) -> str:
    """Content hash of the weights: ties an eval to exactly the adapter it measured."""
    h = hashlib.sha256()
    for f in sorted(Path(model_dir).glob("*.safetensors")) + sorted(Path(model_dir).glob("*.bin")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def eval_prompts(project: Project, tokenizer, examples: list[dict]) -> list[str]:
    """The prompt text the model sees for each example: the system prompt and the conversation before its final
    answer (earlier calls and tool results included), chat-templated."""
    sys_prompt = project.system_prompt()
    return [prompt_text(tokenizer, with_system_prompt(e, sys_prompt), e.get("tools")) for e in examples]


def _stderr(line: str) -> None:
    import sys

    sys.stderr.write(line + "\n")


def scored_answers(examples: list[dict], generated: list[str]) -> list[str]:
    """Answers as generated, in the form they are scored: a turn that may call tools answers in Hermes text,
    scored as its calls (forge.data.tool_calls.answer_of_generation)."""
    return [answer_of_generation(a) if e.get("tools") else a for e, a in zip(examples, generated, strict=True)]


def score_set(examples, answers, scorer, sealed: bool = False):
    """(verdicts, summary: accuracy, correct, total, ci95, forbidden_count) of `answers` to `examples`."""
    verdicts = scorer.score_many(
        [
            (user_text(e), assistant_text(e), a, schema_for(e, scorer.schema, scorer.tool_choice))
            for e, a in zip(examples, answers, strict=True)
        ],
        sealed=sealed,
    )
    correct = sum(v.correct for v in verdicts)
    lo, hi = wilson_interval(correct, len(examples))
    return verdicts, {
        "accuracy": correct / len(examples),
        "correct": correct,
        "total": len(examples),
        "ci95": [round(lo, 4), round(hi, 4)],
        "forbidden_count": sum(v.forbidden for v in verdicts),
    }


def schema_valid_rate(schema, examples: list[dict], answers: list[str], tool_choice: str = "auto") -> float | None:
    """The share of answers that keep their contract (schema_for), among examples that have one."""
    judged = [
        own.keeps(a) for e, a in zip(examples, answers, strict=True) if (own := schema_for(e, schema, tool_choice))
    ]
    return round(sum(judged) / len(judged), 4) if judged else None


def _per_field(verdicts) -> dict[str, int]:
    """Wrong answers per field the call scorer named (its table of what the model gets wrong)."""
    counts: dict[str, int] = {}
    for v in verdicts:
        for f in v.fields:
            counts[f] = counts.get(f, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@holds_run_lock("eval")
@remote_step(lambda project, _results: [Pull(f"output/{RESULTS}"), Pull(f"output/{FAILURES}")])
def run_eval(
    project: Project,
    model_dir: Path | None = None,
    batch_size: int | None = None,
    echo=None,
    base: bool = False,
    compare_free: bool = False,
) -> EvalResult:
    """Score model_dir (default output/adapter; with `base`, model.base itself, zero-shot) on the gold set, and
    the sealed set as aggregates; with `echo`, show progress (forge.inference.progress). The base is resolved where
    the eval runs (on compute.remote, its own copy). Decoding is under the output schema when eval.constrained
    says so; `compare_free` also scores free decoding on the gold set, in the same run."""
    from forge.data.output_schema import OutputSchema
    from forge.inference.constrained import example_constraints

    cfg = project.config
    if base:
        model_dir = local_base_dir(project)
    model_dir = Path(model_dir) if model_dir else project.adapter_dir
    gold_rel = cfg.dataset.gold
    gold = load_examples(project.gold_path, gold_rel, missing_ok=True)
    if not gold:
        raise ForgeError(f"{gold_rel}: no gold examples to evaluate on")
    if not model_dir.exists():
        raise ForgeError(f"{project.rel(model_dir)}: no trained adapter yet (run `forge train`)")
    schema = OutputSchema.for_project(project)
    scorer = Scorer.for_project(project, schema)
    runtime = resolve_runtime(cfg.compute.device, load_in_4bit=False)
    free_memory()  # what an earlier step of this process left (a trainer) is not held twice
    model, tokenizer, kind = load_for_inference(model_dir, project.root, runtime.device, cfg.eval.precision)
    constraints = {"gold": example_constraints(project, tokenizer, gold, schema)}
    bs = batch_size or cfg.eval.batch_size
    sealed_path = project.sealed_path
    sealed = load_examples(sealed_path, cfg.dataset.sealed, missing_ok=True) if sealed_path else []
    constraints["sealed"] = example_constraints(project, tokenizer, sealed, schema) if sealed else None
    free_too = (compare_free or cfg.eval.compare_free) and constraints["gold"] is not None
    progress = EvalProgress(len(gold) * (2 if free_too else 1) + len(sealed), echo) if echo else None

    room = generation_tokens(model, Budget.for_device(cfg.training.max_memory_gb, runtime.device))

    def answers_for(examples, under):
        prompts = eval_prompts(project, tokenizer, examples)
        raw = generate(
            model, tokenizer, prompts, cfg.eval.max_new_tokens, bs, runtime.device, progress, under, max_tokens=room
        )
        return scored_answers(examples, raw), raw.cut

    start = time.perf_counter()
    try:
        answers, cut = answers_for(gold, constraints["gold"])
        wall = time.perf_counter() - start
        sealed_answers = answers_for(sealed, constraints["sealed"])[0] if sealed else None
        free_answers = answers_for(gold, None)[0] if free_too else None
    finally:
        if progress:
            progress.close()
        model = None  # scoring (a judge, a scorer.py) runs without the model held
        free_memory()
    verdicts, summary = score_set(gold, answers, scorer)
    per_cmd: dict[str, dict] = {}
    failures = []
    limit = cfg.eval.max_new_tokens
    for ex, answer, v, was_cut in zip(gold, answers, verdicts, cut, strict=True):
        bucket = per_cmd.setdefault(category(assistant_text(ex)), {"correct": 0, "total": 0})
        bucket["total"] += 1
        bucket["correct"] += v.correct
        if not v.correct:
            # an answer cut short fails for that reason, whatever the scorer saw in what was left of it
            reason = f"cut at eval.max_new_tokens ({limit} tokens): {v.reason}" if was_cut else v.reason
            failures.append(
                {
                    "id": example_id(ex),
                    "input": user_text(ex),
                    "expected": assistant_text(ex),
                    "actual": answer,
                    "reason": reason,
                    **({"fields": list(v.fields)} if v.fields else {}),
                }
            )
    if any(cut):
        (echo or _stderr)(
            f"warning: {sum(cut)} of {len(gold)} gold answers hit eval.max_new_tokens ({limit}) and were "
            "cut short: raise it in forge.yaml if the answers need more tokens"
        )
    free = sealed_summary = None
    if free_answers is not None:
        _, scored = score_set(gold, free_answers, scorer)
        free = {k: scored[k] for k in ("accuracy", "correct", "total", "ci95")} | {
            "schema_valid": schema_valid_rate(schema, gold, free_answers, cfg.eval.tool_choice)
        }
    if sealed_path and sealed:
        _, scored = score_set(sealed, sealed_answers, scorer, sealed=True)
        sealed_summary = {**scored, "hash": file_hash(sealed_path)}
    results = EvalResult(
        eval_id=uuid.uuid4().hex[:12],
        time=now(),
        **summary,
        failure_count=len(failures),
        per_cmd=dict(sorted(per_cmd.items())),
        per_field=_per_field(verdicts),
        scorer=cfg.eval.scorer,
        model={"path": project.rel(model_dir), "kind": kind, "hash": model_hash(model_dir)},
        gold={"path": gold_rel, "hash": file_hash(project.gold_path)},
        schema={"path": schema.display, "hash": schema.hash} if schema else None,
        constrained=constraints["gold"] is not None,
        schema_valid=schema_valid_rate(schema, gold, answers, cfg.eval.tool_choice),
        wall_s=round(wall, 3),
        examples_per_s=round(len(gold) / wall, 2) if wall else None,
        cut=sum(cut),
        max_new_tokens=cfg.eval.max_new_tokens,
        per_example={example_id(e): v.correct for e, v in zip(gold, verdicts, strict=True)},
        free=free,
        sealed=sealed_summary,
        judge=scorer.judge.summary() if scorer.judge else None,
    )
    write_json_atomic(project.output / RESULTS, results.as_record())
    write_bytes_atomic(project.output / FAILURES, encode(failures))
    return results
