"""Benchmark: batched (left-padded) vs one-at-a-time greedy generation on the same tiny model.

Prints both rates, their ratio and whether predictions are identical. Target: >= 10x on a
2-core CPU. Run: `.venv/bin/python bench/eval_batching.py`.
"""

from __future__ import annotations

import time

from forge.data.datasets import load_examples
from forge.inference.generate import generate
from forge.models.chat_format import prompt_text, with_system_prompt
from forge.models.loading import load_for_inference
from forge.project.project import Project
from forge.training.sft import train

from _setup import project

root = project(
    "tiny",
    128,
    {
        "training": {
            "method": "full",
            "learning_rate": 5e-3,
            "lr_scheduler": "constant",
            "batch_size": 16,
            "epochs_min": 6,
            "epochs_max": 6,
        }
    },
)
p = Project.open(root)
train(p, echo=lambda *_: None)
model, tok, _ = load_for_inference(p.output / "adapter", p.root, "cpu")
prompts = [prompt_text(tok, with_system_prompt(e, p.system_prompt())) for e in load_examples(p.gold_path)]
rates, outputs = {}, {}
for bs in (1, p.config.eval.batch_size, len(prompts)):
    generate(model, tok, prompts[:4], 24, bs, "cpu")  # warm-up
    start = time.perf_counter()
    outputs[bs] = generate(model, tok, prompts, 24, bs, "cpu")
    rates[bs] = len(prompts) / (time.perf_counter() - start)
    print(f"batch_size_{bs}_examples_per_s: {rates[bs]:.1f}")
for bs in rates:
    if bs != 1:
        print(f"ratio_batch_{bs}_vs_1: {rates[bs] / rates[1]:.1f}x")
        print(f"identical_batch_{bs}: {outputs[bs] == outputs[1]}")
