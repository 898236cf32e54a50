"""compute.num_processes: data-parallel training through accelerate (DDP over gloo on this CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine_fixtures import make_project

FORGE = str(Path(sys.executable).parent / "forge")


def train(root: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([FORGE, "train", "-p", str(root)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.slow
def test_two_processes_match_one_at_the_same_effective_batch(tmp_path, nano_model):
    runs = {}
    for processes, batch in ((1, 8), (2, 4)):
        root = make_project(
            tmp_path / str(processes),
            nano_model,
            method="lora",
            n_train=64,
            training={"epochs_min": 3, "epochs_max": 3, "batch_size": batch, "precision": "fp32"},
            compute={"num_processes": processes},
        )
        runs[processes] = (root, train(root))
    root, proc = runs[2]
    assert "training in 2 processes (accelerate, DDP over gloo)" in proc.stdout
    assert "64 examples, 2 processes)" in proc.stdout
    assert proc.stdout.count("epoch 3/3: loss") == 1  # rank 0 speaks; rank 1 is silent
    assert proc.stderr == ""  # no launcher or library noise
    meta = json.loads((root / "output" / "adapter" / "forge_meta.json").read_text())
    single = json.loads((runs[1][0] / "output" / "adapter" / "forge_meta.json").read_text())
    assert (meta["world_size"], meta["effective_batch"]) == (2, 8)
    assert (single["world_size"], single["effective_batch"]) == (1, 8)
    # The same examples per optimizer step, gradients averaged over them: the same losses.
    assert meta["epoch_losses"] == pytest.approx(single["epoch_losses"], rel=1e-3)
    assert meta["epoch_losses"][-1] < meta["epoch_losses"][0]
    assert len(list((root / "output" / "tb").rglob("events.out.tfevents.*"))) == 1  # rank 0's tracker only
    assert not (root / "output" / ".trainer").exists()


@pytest.mark.slow
def test_an_accelerate_config_file_is_passed_through(tmp_path, nano_model):
    root = make_project(
        tmp_path / "p",
        nano_model,
        method="lora",
        n_train=32,
        training={"epochs_min": 1, "epochs_max": 1},
        compute={"num_processes": 2, "accelerate_config": "ddp.yaml"},
    )
    (root / "ddp.yaml").write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\n"
        "num_machines: 1\nnum_processes: 2\nmixed_precision: 'no'\n"
    )
    proc = train(root)
    assert "training in 2 processes (accelerate, config ddp.yaml)" in proc.stdout
    assert json.loads((root / "output" / "adapter" / "forge_meta.json").read_text())["world_size"] == 2


def test_a_failing_check_is_one_line_before_any_process_starts(tmp_path, nano_model):
    root = make_project(tmp_path / "p", nano_model, method="lora", compute={"num_processes": 2})
    (root / "dataset" / "canonical.jsonl").write_text("")
    proc = subprocess.run([FORGE, "train", "-p", str(root)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "Error: dataset/canonical.jsonl: no training examples yet (add some, or `forge generate`)"
    ]
    assert "processes" not in proc.stdout


def test_an_error_inside_the_workers_is_one_line(tmp_path, nano_model):
    root = make_project(
        tmp_path / "p",
        nano_model,
        method="lora",
        compute={"num_processes": 2},
        lora={"target_modules": ["no_such_proj"]},
    )
    proc = subprocess.run([FORGE, "train", "-p", str(root)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1 and "no_such_proj" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "no_such_proj" not in proc.stdout
    assert not (root / "output" / "adapter").exists()
