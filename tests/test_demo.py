"""The embedded default, end to end: examples/run-demo with a smaller budget (what `make demo` runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import git
import pytest

from conftest import assert_gguf_verified

ROOT = Path(__file__).resolve().parents[1]


def offline_env(**extra: str) -> dict:
    """The demo scripts' environment: this venv's forge, no API key or base URL (the offline planner)."""
    env = {**os.environ, "FORGE": str(Path(sys.executable).parent / "forge"), **extra}
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        env.pop(var, None)
    return env


@pytest.mark.slow
def test_demo_runs_offline_and_improves(tmp_path):
    work = tmp_path / "demo"
    env = offline_env(ITERS="2")
    proc = subprocess.run(
        [str(ROOT / "examples" / "run-demo"), str(work)], env=env, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "planner: heuristic (no API key: offline heuristic)" in proc.stdout
    out = work / "output"
    for name in (
        "experiments.jsonl",
        "flywheel_heartbeat.json",
        "best_score.json",
        "eval_results.json",
        "report.html",
        "flywheel.log",
    ):
        assert (out / name).is_file(), name
    assert list(out.glob("best_adapter_*")) and list(out.glob("runs/*/transcript.jsonl"))
    rows = [json.loads(line) for line in (out / "experiments.jsonl").read_text().splitlines()]
    assert [(r["iteration"], r.get("kind")) for r in rows] == [(0, "baseline"), (1, None), (2, None)]
    assert rows[2]["accuracy"] > rows[1]["accuracy"], rows
    assert json.loads((out / "flywheel_heartbeat.json").read_text())["status"] == "completed"
    messages = [c.message for c in git.Repo(work).iter_commits()]
    assert sum(m.startswith("forge iter ") for m in messages) == 2
    report = (out / "report.html").read_text()
    assert report.count("<svg") == 3 and "target" in report and "loss per epoch, one line per iteration" in report
    assert list((out / "tb" / "1").glob("events.out.tfevents.*"))  # TensorBoard logs per iteration
    assert_gguf_verified(out / "export_gguf_f16" / "verify.json", 20)  # it answers like the promoted adapter
    assert (out / "export_gguf_f16" / "Modelfile").is_file()


@pytest.mark.slow
def test_demo_real_reaches_the_bar_from_a_measured_baseline(tmp_path):
    """`make demo-real`: SmolLM2-135M-Instruct (GGUF from PyPI) with LoRA, from its zero-shot score to >= 0.85."""
    work = tmp_path / "demo-real"
    env = offline_env()
    proc = subprocess.run(
        [str(ROOT / "examples" / "run-demo-real"), str(work)], env=env, capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (work / "output" / "experiments.jsonl").read_text().splitlines()]
    assert rows[0]["kind"] == "baseline" and rows[0]["iteration"] == 0 and len(rows) >= 2
    best = json.loads((work / "output" / "best_score.json").read_text())
    assert best["accuracy"] >= 0.85 > rows[0]["accuracy"], rows
    assert "pre_tokenizer: smollm" in proc.stdout and "verify_tokens_match: 20/20" in proc.stdout
    assert "Loading weights" not in proc.stdout + proc.stderr  # no library bars in forge's output


@pytest.mark.slow
def test_demo_home_keeps_the_contract(tmp_path):
    """`make demo-home`, one iteration: every answer under the schema keeps it, the call scorer sees the
    arguments, and the q8_0 GGUF decoded under its grammar scores what transformers scored."""
    work = tmp_path / "home"
    env = offline_env(ITERS="1")
    proc = subprocess.run(
        [str(ROOT / "examples" / "run-demo-home"), str(work)], env=env, capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (work / "output" / "experiments.jsonl").read_text().splitlines()]
    assert [r.get("kind") for r in rows] == ["baseline", None]
    assert all(r["constrained"] and r["schema_valid"] == 1.0 and r["free"]["total"] == 56 for r in rows), rows
    assert rows[1]["accuracy"] > rows[0]["accuracy"] and rows[1]["per_field"], rows
    out = work / "output" / "export_gguf_q8_0"
    assert (out / "home-q8_0.gbnf").is_file() and (out / "home-q8_0.schema.json").is_file()
    verify = json.loads((out / "verify.json").read_text())
    assert verify["passed"] and verify["constrained"] and verify["tokens_match"] == 56, verify
    assert "verify_gold_gguf: " in proc.stdout
