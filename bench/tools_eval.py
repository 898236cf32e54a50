"""Benchmark: eval on the tools demo: tool grammar vs free decoding, and the shared prompt prefix on vs off.

examples/forge-tools-demo on SmolLM2-135M-Instruct (imported from its PyPI GGUF), LoRA-trained on its
24 seed conversations and GENERATED more from its generator (default 48) for one epoch; then its 64 gold
conversations (prompts of ~1,100-1,400 tokens, ~965 of them the system prompt and the six tools)
generated as `forge eval` does (eval.batch_size, eval.max_new_tokens, eval.precision): free and under
each example's tools (forge.inference.constrained.example_constraints), each with the batch's shared
prefix computed once (forge.inference.generate.shared_prefix) and without (plain left padding), two
rounds alternated, best of 2 (this CPU drifts). Prints examples/s, generated tokens per answer, answers
identical with and without the shared prefix, the call scorer's gold score and the tool grammar's
throughput against free decoding. Targets: eval >= 15 examples/s (issue 36); tool grammar >= 0.9x free
(issue 37). Run: `.venv/bin/python bench/tools_eval.py [PROJECT]` (an already trained project skips the
set-up; GENERATED=n sets its size).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import forge.inference.generate as generation
from forge.data.datasets import load_examples
from forge.evaluation.runner import eval_prompts, score_set, scored_answers
from forge.evaluation.scorers import Scorer
from forge.inference.constrained import example_constraints
from forge.models.loading import inference_precision, load_for_inference
from forge.project.project import Project

from _setup import trained_demo_project

root = (
    Path(sys.argv[1])
    if len(sys.argv) > 1
    else trained_demo_project("forge-tools-demo", int(os.environ.get("GENERATED", 48)), 1)
)
project = Project.open(root)
cfg = project.config.eval
model, tok, _ = load_for_inference(project.output / "adapter", root, "cpu", cfg.precision)
gold = load_examples(project.gold_path)
prompts = eval_prompts(project, tok, gold)
lengths = [len(ids) for ids in tok(prompts, add_special_tokens=False)["input_ids"]]
scorer = Scorer.for_project(project, project.output_schema())
decodings = {"free": None, "tools": example_constraints(project, tok, gold)}
print(
    f"precision: {inference_precision(cfg.precision, 'cpu')}  batch_size: {cfg.batch_size}  "
    f"max_new_tokens: {cfg.max_new_tokens}"
)
print(
    f"prompt_tokens: mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)}  "
    f"shared_in_first_batch: {generation.shared_prefix(sorted(tok(prompts, add_special_tokens=False)['input_ids'], key=len)[: cfg.batch_size])}"
)
min_shared = generation.SHARED_PREFIX_MIN


def run(decoding: str, shared: bool) -> tuple[float, list[str]]:
    generation.SHARED_PREFIX_MIN = min_shared if shared else 10**9
    start = time.perf_counter()
    answers = generation.generate(
        model, tok, prompts, cfg.max_new_tokens, cfg.batch_size, "cpu", None, decodings[decoding]
    )
    return len(prompts) / (time.perf_counter() - start), answers


run("free", True)  # warm-up
best: dict[tuple[str, bool], float] = {}
answers: dict[tuple[str, bool], list[str]] = {}
for _ in range(2):
    for decoding in decodings:
        for shared in (False, True):
            rate, answers[decoding, shared] = run(decoding, shared)
            best[decoding, shared] = max(best.get((decoding, shared), 0.0), rate)
for (decoding, shared), rate in best.items():
    texts = answers[decoding, shared]
    new_tokens = sum(len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]) / len(texts)
    _, summary = score_set(gold, scored_answers(gold, texts), scorer)
    print(
        f"{decoding}_{'shared_prefix' if shared else 'left_padded'}_examples_per_s: {rate:.2f}  "
        f"tokens_per_answer: {new_tokens:.0f}  gold: {summary['correct']}/{summary['total']}",
        flush=True,
    )
for decoding in decodings:
    same = sum(a == b for a, b in zip(answers[decoding, True], answers[decoding, False], strict=True))
    print(
        f"{decoding}_shared_prefix_speedup: {best[decoding, True] / best[decoding, False]:.2f}x  "
        f"identical_answers: {same}/{len(prompts)}"
    )
print(f"tools_vs_free_throughput: {best['tools', True] / best['free', True]:.3f}x")
print(f"project: {root}")
