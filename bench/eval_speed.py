"""Benchmark: eval's generation path before and after the fast path, same model, prompts and batches.

Before: the LoRA adapter unmerged on its fp32 base, the LM head as transformers calls it (the last
position's strided slice). After: what eval loads now (forge.models.loading.load_for_inference at
eval.precision): merged, the head fed contiguously, bf16 where the CPU has native bf16. Then each
lever alone. The home demo's 56 gold prompts, batch 32, max_new_tokens 48, free and constrained,
best of 2. Prints examples/s and how many answers are identical to before's. Target: >= 15 ex/s.
Run: `.venv/bin/python bench/eval_speed.py [PROJECT]` (a project with a trained output/adapter, e.g.
what `make demo-home` leaves; without one the script trains its own, one epoch).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from forge.data.datasets import load_examples
from forge.inference.constrained import project_constraint
from forge.inference.generate import generate
from forge.models.chat_format import prompt_text, with_system_prompt
from forge.models.loading import inference_precision, load_causal_lm, load_for_inference, resolve_base
from forge.project.project import Project

from _setup import trained_home_project

root = Path(sys.argv[1]) if len(sys.argv) > 1 else trained_home_project()
project = Project.open(root)
cfg = project.config.eval
adapter = project.output / "adapter"


def before():
    from peft import PeftModel

    base = load_causal_lm(resolve_base(project.config.model.base, root), "cpu")
    return PeftModel.from_pretrained(base, str(adapter)).eval()


models = {
    "before": before,
    "merged_contiguous_fp32": lambda: load_for_inference(adapter, root, "cpu", "fp32")[0],
    "after": lambda: load_for_inference(adapter, root, "cpu", cfg.precision)[0],
}
_, tok, _ = load_for_inference(adapter, root, "cpu", "fp32")
prompts = [prompt_text(tok, with_system_prompt(e, project.system_prompt())) for e in load_examples(project.gold_path)]
constraint = project_constraint(project, tok)
print(f"precision_after: {inference_precision(cfg.precision, 'cpu')}")
answers: dict[tuple[str, str], list[str]] = {}
rates: dict[tuple[str, str], float] = {}
for name, load in models.items():
    model = load()
    for decoding, under in (("free", None), ("constrained", constraint)):
        generate(model, tok, prompts[:4], cfg.max_new_tokens, cfg.batch_size, "cpu", None, under)  # warm-up
        best = 0.0
        for _ in range(2):
            start = time.perf_counter()
            answers[name, decoding] = generate(
                model, tok, prompts, cfg.max_new_tokens, cfg.batch_size, "cpu", None, under
            )
            best = max(best, len(prompts) / (time.perf_counter() - start))
        rates[name, decoding] = best
        same = sum(a == b for a, b in zip(answers[name, decoding], answers["before", decoding], strict=True))
        print(f"{name}_{decoding}_examples_per_s: {best:.2f}  identical_to_before: {same}/{len(prompts)}", flush=True)
    del model
for decoding in ("free", "constrained"):
    print(f"speedup_{decoding}: {rates['after', decoding] / rates['before', decoding]:.2f}x")
