"""GRPO against more supervised training, from the same SFT adapter, at about equal wall time on this CPU.

`--demo home`: the home demo's task (SmolLM2-135M-Instruct, LoRA, the call scorer, the output schema): seed plus
300 generated examples, trained and promoted (the start adapter S). Then three arms, each on its own copy:
- grpo: `forge train --method grpo` from S (grpo.steps, default 50 here);
- sft: S trained on for more epochs on the same data (a warm start over every example, at the warm-start
  learning rate), as many epochs as fit in about the GRPO arm's wall time;
- augment: one `forge augment` round (the offline generator, on the last eval's failure categories), then a
  warm-start `forge train` of one epoch.
Each arm is evaluated (constrained decoding, as the demo ships); prints `key: value` lines: gold accuracy,
schema-valid rate (free decoding, so the contract a model keeps by itself shows), wall seconds of each arm.
`--demo math`: the same on the math demo (tiny model, full fine-tune: GRPO continues the full model).
Run: `.venv/bin/python bench/grpo.py --demo home` (~30 min on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORGE = str(Path(sys.executable).with_name("forge"))


def forge(root: Path, *args: str) -> str:
    out = subprocess.run([FORGE, *args, "-p", str(root)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"forge {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return out.stdout


def setup(demo: str, work: Path) -> Path:
    """The demo's own set-up (model import, seed), then more data, one SFT run, eval and promote: S."""
    script = ROOT / "examples" / ("run-demo-home" if demo == "home" else "run-demo")
    root = work / "start"
    env = {"FORGE": FORGE, "PATH": f"{Path(FORGE).parent}:/usr/bin:/bin", "HOME": str(work)}
    subprocess.run(
        ["bash", "-c", script.read_text().split('echo "== flywheel')[0], "demo", str(root)],
        check=True,
        capture_output=True,
        env=env,
        cwd=script.parent,
    )
    forge(root, "generate", "--n", "300")  # the demo's offline generator.py
    began = time.perf_counter()
    forge(root, "train")
    print(f"start_train_s: {time.perf_counter() - began:.1f}", flush=True)
    forge(root, "eval")
    forge(root, "promote")
    return root


def score(root: Path) -> dict:
    """Gold accuracy (constrained) and the schema-valid rate of free decoding, of output/adapter."""
    forge(root, "eval", "--compare-free") if (root / "output_schema.json").exists() else forge(root, "eval")
    r = json.loads((root / "output" / "eval_results.json").read_text())
    return {"accuracy": r["accuracy"], "schema_valid_free": (r.get("free") or {}).get("schema_valid")}


def sft_more(root: Path, epochs: int) -> None:
    """Continue S on every training example for `epochs` epochs (SFT's own setup, load, fit and save, with a warm
    start over the whole set: `forge train` only continues on what was added)."""
    from forge.project.project import Project
    from forge.project.records import best
    from forge.training import sft
    from forge.training.warm_start import WarmStart, example_key

    project = Project.open(root)
    plan = sft._setup(project, epochs, None, lambda _m: None, False)
    top = best(project)
    plan.warm = WarmStart(
        project.path(top["path"]),
        top.get("iteration"),
        plan.train_examples,
        [],
        {example_key(e) for e in plan.train_examples},
    )
    t = plan.cfg.training
    plan.cfg = sft.dataclasses.replace(
        plan.cfg, training=sft.dataclasses.replace(t, learning_rate=t.learning_rate * t.warm_lr_scale)
    )
    model, tok, rows, val_rows = sft._load(project, plan)
    trainer, record, tokens, before, wall = sft._fit(project, plan, model, tok, rows, val_rows, print, None)
    sft._save(project, plan, trainer, tok, record, tokens, before, wall)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--demo", choices=["home", "math"], default="home")
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="forge-bench-grpo-"))
    start = setup(args.demo, work)
    base = score(start)
    print(f"start_accuracy: {base['accuracy']:.4f}\nstart_schema_valid_free: {base['schema_valid_free']}", flush=True)
    arms: dict[str, dict] = {}
    for arm in ("grpo", "sft", "augment"):
        root = work / arm
        shutil.copytree(start, root, symlinks=True)
        began = time.perf_counter()
        if arm == "grpo":
            from forge.config import load as config_io

            config_io.patch_file(root / "forge.yaml", {"grpo": {"steps": args.steps}})
            forge(root, "train", "--method", "grpo")
        elif arm == "sft":
            per_epoch = json.loads((start / "output" / "adapter" / "forge_meta.json").read_text())["wall_s"] / max(
                1, json.loads((start / "output" / "adapter" / "forge_meta.json").read_text())["epochs_run"]
            )
            epochs = max(1, round(arms["grpo"]["wall_s"] / per_epoch))
            print(f"sft_epochs: {epochs} (an epoch ~{per_epoch:.0f} s)", flush=True)
            sys.path.insert(0, str(ROOT))
            sft_more(root, epochs)
        else:
            forge(root, "augment")
            forge(root, "train", "--epochs", "1")
        wall = time.perf_counter() - began
        arms[arm] = {"wall_s": round(wall, 1), **score(root)}
        if arm == "grpo":
            g = json.loads((root / "output" / "adapter" / "forge_meta.json").read_text())["grpo"]
            arms[arm]["reward"] = f"{g['reward_first']} -> {g['reward_last']}"
        for k, v in arms[arm].items():
            print(f"{arm}_{k}: {v}", flush=True)
    print(f"work: {work}")


if __name__ == "__main__":
    main()
