"""Benchmark: a sweep of 4 variants on a private Ray cluster against the same 4 runs one after another.

One small project (tiny routing task, nano model, LoRA, 64 examples), 4 learning rates, each trained then
evaluated, timed three ways in one run:

- plain: `forge train` then `forge eval` per variant, one after another (forge.yaml patched between them);
- sweep, one at a time: `forge sweep` with compute.ray.max_parallel 1 (Ray's per-variant overhead: the cluster
  start, a worker per variant, the rows and the table, against the plain runs);
- sweep, parallel: `forge sweep` with as many at once as the machine's cores allow (one core each).

    .venv/bin/python bench/sweep.py [--epochs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from forge.config import load as config_io  # noqa: E402
from forge.models.tiny import build_tiny  # noqa: E402

from engine_fixtures import make_project  # noqa: E402

FORGE = str(Path(sys.executable).parent / "forge")
RATES = ["1e-2", "5e-3", "2e-3", "1e-3"]


def timed(root: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([FORGE, *args, "-p", str(root)], check=True, capture_output=True, timeout=1800)
    return time.perf_counter() - start


def project(work: Path, name: str, model: Path, epochs: int, **ray) -> Path:
    compute = {"device": "cpu", **({"ray": ray} if ray else {})}
    return make_project(
        work / name,
        model,
        method="lora",
        n_train=64,
        training={"epochs_min": epochs, "epochs_max": epochs},
        compute=compute,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=6)
    epochs = parser.parse_args().epochs
    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="forge-bench-sweep-"))
    try:
        model = work / "nano"
        build_tiny(model, arch="qwen2", size="nano")
        plain = project(work, "plain", model, epochs)
        start = time.perf_counter()
        for rate in RATES:
            config_io.patch_file(plain / "forge.yaml", {"training": {"learning_rate": float(rate)}})
            timed(plain, "train")
            timed(plain, "eval")
        plain_s = time.perf_counter() - start
        sets = ["--set", f"training.learning_rate={','.join(RATES)}"]
        one = project(work, "one", model, epochs, max_parallel=1, cpus_per_experiment=1)
        one_s = timed(one, "sweep", *sets)
        par = project(work, "parallel", model, epochs, cpus_per_experiment=1)
        par_s = timed(par, "sweep", *sets)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = len(RATES)
    print(f"machine: {cores} cores; {n} variants, nano model, LoRA, 64 examples, {epochs} epochs, train then eval")
    print(f"plain train+eval, one after another: {plain_s:.1f}s ({plain_s / n:.1f}s a variant)")
    print(f"sweep, one at a time on Ray: {one_s:.1f}s: {(one_s - plain_s) / n:+.1f}s a variant against plain")
    print(
        f"sweep, {min(cores, n)} at once on Ray: {par_s:.1f}s: {plain_s / par_s:.2f}x faster than plain, "
        f"{one_s / par_s:.2f}x faster than one at a time on Ray"
    )


if __name__ == "__main__":
    main()
