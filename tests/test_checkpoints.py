"""Validation split and checkpoints: a validation loss per epoch that early stopping watches, and
`forge train --resume` after a real kill -9 in epoch 3 of 4, ending exactly as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from forge.data.val_split import held_out, split
from forge.project.project import Project
from forge.training.callbacks import EpochLosses
from forge.training.sft import train

from engine_fixtures import make_project, routing_examples

FORGE = str(Path(sys.executable).with_name("forge"))


def test_the_split_is_stable_as_the_set_grows():
    small, large = routing_examples(200, seed=1), routing_examples(400, seed=1)
    assert large[:200] == small
    _, val_small = split(small, 0.2)
    _, val_large = split(large, 0.2)
    first = {id(e) for e in large[:200]}
    assert val_small == [e for e in val_large if id(e) in first]  # growing the set moved nothing across
    assert 20 <= len(val_small) <= 60
    assert split(small, 0.0) == (small, [])
    assert all(held_out(e, 1.0) for e in small[:5])


def _control():
    return SimpleNamespace(should_training_stop=False, should_save=True)


def test_early_stopping_watches_the_validation_loss():
    """Training loss still falling, validation loss rising: only the val watcher stops. The epoch a run ends
    on writes no checkpoint (the run's trainer directory goes right after); the others do."""
    args = SimpleNamespace(num_train_epochs=4)
    for watch_val, stops in ((True, True), (False, False)):
        cb = EpochLosses(min_epochs=1, tolerance=0.01, watch_val=watch_val)
        saved = []
        for epoch, (train_loss, val_loss) in enumerate(((1.0, 0.9), (0.5, 0.95)), start=1):
            control = _control()
            cb.on_log(args, None, control, logs={"loss": train_loss})
            cb.on_epoch_end(args, SimpleNamespace(epoch=float(epoch)), control)
            cb.on_evaluate(args, SimpleNamespace(epoch=float(epoch)), control, metrics={"eval_loss": val_loss})
            saved.append(control.should_save)
        assert control.should_training_stop is stops and cb.val_losses == [0.9, 0.95]
        assert saved == [True, not stops]
    control = _control()
    cb.on_epoch_end(args, SimpleNamespace(epoch=4.0), control)  # the last epoch: no checkpoint either
    assert control.should_save is False
    restored = EpochLosses(**cb.state()["args"])
    restored.restore(cb.state())
    assert (restored.losses, restored.val_losses) == (cb.losses, cb.val_losses)


def test_validation_losses_go_into_the_meta(tmp_path, nano_model, cli):
    root = make_project(
        tmp_path / "p", nano_model, method="full", training={"epochs_min": 2, "epochs_max": 2, "val_fraction": 0.25}
    )
    result = cli("train", "-p", root)
    assert result.exit_code == 0, result.output
    meta = json.loads((root / "output" / "adapter" / "forge_meta.json").read_text())
    assert meta["val_size"] > 0 and len(meta["val_losses"]) == 2 and meta["final_val_loss"] == meta["val_losses"][-1]
    assert "held out for validation" in result.output and ", val loss " in result.output
    assert not (root / "output" / ".trainer").exists()  # checkpoints go once the run is done


@pytest.mark.slow
def test_kill_9_in_epoch_3_resumes_from_the_epoch_2_checkpoint(tmp_path, nano_model):
    patch = {"training": {"epochs_min": 4, "epochs_max": 4, "batch_size": 8, "val_fraction": 0.1}}
    root = make_project(tmp_path / "killed", nano_model, method="full", n_train=800, **patch)
    proc = subprocess.Popen(
        [FORGE, "train", "-p", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    work = root / "output" / ".trainer"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        # The Trainer writes the state file in place and drops the older checkpoint only after the newer one
        # is saved: wait for a whole file and for the epoch-2 checkpoint alone, however slow the disk.
        try:
            states = [json.loads(p.read_text()) for p in work.glob("checkpoint-*/trainer_state.json")]
        except (OSError, ValueError):
            states = []
        if [round(s["epoch"]) for s in states] == [2] and len(list(work.glob("checkpoint-*"))) == 1:
            break
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (checkpoint,) = work.glob("checkpoint-*")  # only the last one is kept
    assert round(json.loads((checkpoint / "trainer_state.json").read_text())["epoch"]) == 2
    assert not (root / "output" / "adapter").exists()

    resumed = subprocess.run(
        [FORGE, "train", "--resume", "--json", "-p", str(root)], capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {checkpoint.name} (after epoch 2)" in resumed.stderr
    got = json.loads(resumed.stdout)

    whole = make_project(tmp_path / "whole", nano_model, method="full", n_train=800, **patch)
    expected = train(Project.open(whole), echo=lambda _m: None)
    assert got["epochs_run"] == expected.epochs_run == 4
    assert got["epoch_losses"] == pytest.approx(expected.epoch_losses, rel=1e-4)
    assert got["val_losses"] == pytest.approx(expected.val_losses, rel=1e-4)


def test_resume_refuses_another_run_and_nothing(tmp_path, nano_model, cli):
    root = make_project(tmp_path / "p", nano_model, method="full", training={"epochs_min": 1, "epochs_max": 1})
    result = cli("train", "--resume", "-p", root)
    assert result.exit_code == 1 and "nothing to resume: no checkpoint in output/.trainer" in result.output
    # a checkpoint of a run on other data
    from forge.training import checkpoints

    project = Project.open(root)
    work = checkpoints.start_fresh(project, {"config_hash": "x", "dataset_hash": "y", "overrides": {}})
    (work / "checkpoint-8").mkdir()
    (work / "checkpoint-8" / "trainer_state.json").write_text("{}")
    result = cli("train", "--resume", "-p", root)
    assert (
        result.exit_code == 1
        and "cannot resume checkpoint-8: the config changed since that run started" in result.output
    )
