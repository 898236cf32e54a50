"""Benchmark: compute.num_processes 2 against 1 on this machine, at the same effective batch.

SmolLM2-135M-Instruct LoRA on the math demo data (bench/train_real.py's project: 128 examples, r 32),
one epoch through `forge train`: 1 process with batch 16 (all cores), then 2 processes with batch 8
(accelerate, DDP over gloo, cores split between them). Printed: tokens/s of each (from forge_meta.json),
their ratio and the epoch loss. On a CPU both share the same cores, so this measures what the
data-parallel machinery costs; the gain comes with one GPU per process.

    .venv/bin/python bench/train_processes.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from train_real import setup

from forge.config import load as config_io

FORGE = str(Path(sys.executable).parent / "forge")


def run(root: Path, processes: int, batch: int) -> dict:
    config_io.patch_file(
        root / "forge.yaml", {"training": {"batch_size": batch}, "compute": {"num_processes": processes}}
    )
    subprocess.run([FORGE, "train", "-p", str(root)], check=True, capture_output=True, timeout=3600)
    return json.loads((root / "output" / "adapter" / "forge_meta.json").read_text())


def main() -> None:
    root = setup().root
    one, two = run(root, 1, 16), run(root, 2, 8)
    for name, meta in (("1 process, batch 16", one), ("2 processes, batch 8 each", two)):
        print(
            f"{name}: {meta['tokens_per_s']:.0f} tokens/s, loss {meta['final_loss']:.4f}, "
            f"effective batch {meta['effective_batch']}, precision {meta['precision']}"
        )
    print(
        f"2 processes vs 1: {two['tokens_per_s'] / one['tokens_per_s']:.2f}x throughput, "
        f"loss {100 * (two['final_loss'] / one['final_loss'] - 1):+.1f}%"
    )


if __name__ == "__main__":
    main()
