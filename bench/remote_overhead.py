"""Benchmark: what compute.remote adds to a step, against a real OpenSSH server on loopback.

The same small project (tiny routing task, nano model, LoRA) runs `forge train` and `forge eval` locally
and with compute.remote pointing at a loopback sshd (tests/loopback_sshd.py), alternated, 3 times each.
Loopback has no network latency, so the printed overhead is forge's own: the ssh handshakes (shared
by ControlMaster), the rsync mirror, launching the detached step, following its log and pulling the
results back. Over a real link, add a few round trips of latency per step.

    .venv/bin/python bench/remote_overhead.py
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from loopback_sshd import start_sshd  # noqa: E402

from forge.config import load as config_io  # noqa: E402
from forge.models.tiny import build_tiny  # noqa: E402

from engine_fixtures import make_project  # noqa: E402

FORGE = str(Path(sys.executable).parent / "forge")
REPS = 3


def timed(root: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([FORGE, *args, "-p", str(root)], check=True, capture_output=True, timeout=600)
    return time.perf_counter() - start


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="forge-bench-remote-"))
    model = work / "nano"
    build_tiny(model, arch="qwen2", size="nano")
    sshd = start_sshd(work / "sshd")
    try:
        local = make_project(
            work / "local", model, method="lora", n_train=64, training={"epochs_min": 3, "epochs_max": 3}
        )
        remote = make_project(
            work / "remote", model, method="lora", n_train=64, training={"epochs_min": 3, "epochs_max": 3}
        )
        config_io.patch_file(
            remote / "forge.yaml",
            {
                "compute": {
                    "remote": sshd.url(work / "there"),
                    "ssh_options": sshd.ssh_options(),
                    "remote_setup": f"export PATH={Path(sys.executable).parent}:$PATH HF_HUB_OFFLINE=1",
                }
            },
        )
        first = timed(remote, "train")  # the first push copies the whole project
        times = {k: [] for k in ("train local", "train remote", "eval local", "eval remote")}
        for _ in range(REPS):
            times["train local"].append(timed(local, "train"))
            times["train remote"].append(timed(remote, "train"))
            times["eval local"].append(timed(local, "eval"))
            times["eval remote"].append(timed(remote, "eval"))
    finally:
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"first remote train (whole project pushed): {first:.2f}s")
    for step in ("train", "eval"):
        lo, re = med[f"{step} local"], med[f"{step} remote"]
        print(f"{step}: local {lo:.2f}s, remote {re:.2f}s (median of {REPS}): +{re - lo:.2f}s per step, {re / lo:.2f}x")


if __name__ == "__main__":
    main()
