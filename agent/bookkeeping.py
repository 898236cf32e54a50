"""The flywheel's records: experiments.jsonl, the heartbeat, AGENT_CONTEXT.md, PLAN.md, flywheel.log.

AGENT_CONTEXT.md is rebuilt from experiments.jsonl and the last failures after every eval, and
only its most recent ~5000 characters are kept (and shown to the planner).
"""

from __future__ import annotations

import json
import time
from collections import Counter

from forge.atomic import append_bytes_atomic, write_json_atomic, write_text_atomic
from forge.datasets import load_examples
from forge.llm_client import SPEND_FILE
from forge.project import Project

CONTEXT_FILE, PLAN_FILE = "AGENT_CONTEXT.md", "PLAN.md"
CONTEXT_CHARS = 5000
HEARTBEAT = "flywheel_heartbeat.json"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def log(project: Project, line: str) -> None:
    project.output.mkdir(parents=True, exist_ok=True)
    with open(project.output / "flywheel.log", "a", encoding="utf-8") as fh:
        fh.write(f"{now()} {line}\n")


def heartbeat(project: Project, status: str, iteration: int, accuracy: float | None, error: str | None = None):
    data = {"iteration": iteration, "status": status, "accuracy": accuracy, "timestamp": now()}
    if error:
        data["error"] = error
    write_json_atomic(project.output / HEARTBEAT, data)


def record_experiment(project: Project, state, results: dict) -> dict:
    """One row per iteration (train then eval)."""
    cfg = project.config
    spend = project.read_state(SPEND_FILE) or {}
    row = {"iteration": state.iteration, "time": now(), "accuracy": results["accuracy"], "ci95": results["ci95"],
           "correct": results["correct"], "total": results["total"], "hypothesis": state.hypothesis,
           "config": {"training": vars(cfg.training), "lora": vars(cfg.lora)},
           "train_size": len(load_examples(project.canonical_path, missing_ok=True)),
           "gold_size": results["total"], "llm_spend_usd": spend.get("total_usd", 0.0),
           "eval_wall_s": results["wall_s"], "per_cmd": results["per_cmd"]}
    append_bytes_atomic(project.output / "experiments.jsonl", (json.dumps(row) + "\n").encode())
    return row


def failure_taxonomy(project: Project) -> Counter:
    rows = project.read_jsonl_state("eval_failures.jsonl")
    return Counter((r.get("reason") or "wrong").split(":")[0].split("'")[0].strip() for r in rows)


def update_context(project: Project) -> str:
    """Rewrite AGENT_CONTEXT.md from the experiment history; returns its (truncated) text."""
    rows = project.read_jsonl_state("experiments.jsonl")
    best = project.read_state("best_score.json")
    lines = ["# Agent context", "", "## Scores by iteration", ""]
    prev = None
    for r in rows:
        delta = "" if prev is None else f" ({100 * (r['accuracy'] - prev):+.1f} pts)"
        lines.append(f"- iter {r['iteration']}: {100 * r['accuracy']:.1f}%{delta}, {r['train_size']} training "
                     f"examples: {r['hypothesis']}")
        prev = r["accuracy"]
    if best:
        lines += ["", f"Best: {100 * best['accuracy']:.1f}% (iter {best.get('iteration')}), {best.get('path')}"]
    tax = failure_taxonomy(project)
    if tax:
        lines += ["", "## Failure taxonomy (last eval)", ""] + [f"- {k}: {n}" for k, n in tax.most_common()]
    worked = [r for i, r in enumerate(rows) if i and r["accuracy"] > rows[i - 1]["accuracy"]]
    if worked:
        lines += ["", "## What worked", ""] + [f"- iter {r['iteration']}: {r['hypothesis']}" for r in worked]
    text = "\n".join(lines) + "\n"
    text = text[-CONTEXT_CHARS:]
    write_text_atomic(project.root / CONTEXT_FILE, text)
    return text


def read_file(project: Project, name: str, limit: int | None = None) -> str:
    path = project.root / name
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    return (text[-limit:] if limit else text) or "(none yet)"
