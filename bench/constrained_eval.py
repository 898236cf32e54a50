"""Benchmark: eval under the output schema (llguidance) vs free decoding, same model, prompts and batch.

The home demo's project on SmolLM2-135M-Instruct (imported from its PyPI GGUF), LoRA-trained for one
epoch on 400 generated examples, then its 56 gold prompts generated free and constrained, alternated,
best of 3 each (this CPU drifts). Prints examples/s of both, the ratio, and each side's gold score and
schema-valid rate. Target: constrained costs <= 10% throughput. Run: `.venv/bin/python
bench/constrained_eval.py [PROJECT]` (an already trained project skips the set-up).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from forge.data.datasets import assistant_text, load_examples
from forge.evaluation.scorers import Scorer
from forge.inference.constrained import project_constraint
from forge.inference.generate import generate
from forge.models.chat_format import prompt_text, with_system_prompt
from forge.models.loading import load_for_inference
from forge.project.project import Project

from _setup import trained_home_project

root = Path(sys.argv[1]) if len(sys.argv) > 1 else trained_home_project()
project = Project.open(root)
adapter = project.output / "adapter"
model, tok, _ = load_for_inference(adapter, root, "cpu")
gold = load_examples(project.gold_path)
prompts = [prompt_text(tok, with_system_prompt(e, project.system_prompt())) for e in gold]
schema, scorer = project.output_schema(), Scorer.for_project(project, project.output_schema())
constraint = project_constraint(project, tok)
cfg = project.config.eval
generate(model, tok, prompts[:4], cfg.max_new_tokens, cfg.batch_size, "cpu", None, constraint)  # warm-up, set-up
best = {"free": 0.0, "constrained": 0.0}
answers = {}
for _ in range(3):
    for name, under in (("free", None), ("constrained", constraint)):
        start = time.perf_counter()
        answers[name] = generate(model, tok, prompts, cfg.max_new_tokens, cfg.batch_size, "cpu", None, under)
        best[name] = max(best[name], len(prompts) / (time.perf_counter() - start))
for name in best:
    right = sum(scorer(assistant_text(e), a).correct for e, a in zip(gold, answers[name], strict=True))
    valid = sum(schema.keeps(a) for a in answers[name])
    print(f"{name}_examples_per_s: {best[name]:.2f}")
    print(f"{name}_gold: {right}/{len(gold)}  schema_valid: {valid}/{len(gold)}")
print(f"constrained_vs_free_throughput: {best['constrained'] / best['free']:.3f}x")
print(f"project: {root}")
