"""The project's records: one name for each file, and the functions that write and read them.

output/experiments.jsonl (one row per iteration), output/best_score.json, the heartbeat, the
last eval's results and failures, output/flywheel.log, and the context files the planner keeps
in the project root: AGENT_CONTEXT.md (rebuilt from the experiments after every eval, its most
recent ~5000 characters kept) and PLAN.md. Everyone (engine, tools, agent, status, report)
names these files through this module.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections import Counter
from pathlib import Path

from forge.atomic import append_bytes_atomic, write_json_atomic, write_text_atomic
from forge.clock import now
from forge.data.answers import category, cmd_of
from forge.data.datasets import load_examples
from forge.errors import ForgeError

EXPERIMENTS = "experiments.jsonl"
BEST = "best_score.json"
HEARTBEAT = "flywheel_heartbeat.json"
RESULTS, FAILURES = "eval_results.json", "eval_failures.jsonl"
FLYWHEEL_LOG = "flywheel.log"
SPEND_FILE = "llm_spend.json"  # LLM spend per model, written by forge.llm.client
JUDGE_CACHE = "judge_cache.jsonl"  # the judge scorer's verdicts by hash (forge.evaluation.judge)
JUDGE_CALIBRATION = "judge_calibration.json"  # the last `forge judge calibrate`
META_FILE = "forge_meta.json"  # beside a trained model: its base, method and training settings
CONTEXT_FILE, PLAN_FILE, BACKGROUND_FILE = "AGENT_CONTEXT.md", "PLAN.md", "BACKGROUND.md"
CONTEXT_CHARS = 5000


def _kind(reason: str | None) -> str:
    reason = reason or "wrong"
    return re.sub(r"\s*[:'(].*$", "", reason).strip() or "wrong"


def failure_categories(project, missing_ok: bool = False) -> Counter:
    """Focus description -> count, one per failure category of the last eval (empty with `missing_ok`
    when there was no eval yet).

    A category is (expected cmd, kind of failure, the cmd the model said instead). The text
    names no gold input or output, so it can go into a data-generation prompt as it is.
    """
    if not (project.output / FAILURES).exists():
        if missing_ok:
            return Counter()
        raise ForgeError(f"output/{FAILURES}: not found (run `forge eval` first)")
    cats: Counter = Counter()
    for row in project.read_jsonl_state(FAILURES):
        expected, said = category(row.get("expected", "")), cmd_of(row.get("actual", ""))
        text = f"inputs whose correct cmd is {expected!r}; the model failed with: {_kind(row.get('reason'))}"
        if said and said != expected:
            text += f" (it answered cmd {said!r} instead)"
        cats[text] += 1
    return cats


def log(project, line: str) -> None:
    project.output.mkdir(parents=True, exist_ok=True)
    with open(project.output / FLYWHEEL_LOG, "a", encoding="utf-8") as fh:
        fh.write(f"{now()} {line}\n")


def heartbeat(project, status: str, iteration: int, accuracy: float | None, *, run_id: str | None = None,
              error: str | None = None) -> None:
    """The run's liveness record; pid and host let `forge status` tell a dead run from a live one."""
    data = {"iteration": iteration, "status": status, "accuracy": accuracy, "timestamp": now(),
            "pid": os.getpid(), "host": socket.gethostname(), "run": run_id}
    if error:
        data["error"] = error
    write_json_atomic(project.output / HEARTBEAT, data)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by its parent) is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def heartbeat_state(beat: dict | None) -> str | None:
    """The heartbeat's status, or 'stale' for a 'running' one whose process on this host is gone."""
    if not beat:
        return None
    status = beat.get("status")
    if status == "running" and beat.get("pid") and beat.get("host") == socket.gethostname() \
            and not process_alive(int(beat["pid"])):
        return "stale"
    return status


BASELINE, TEACHER = "baseline", "teacher"
# (best - base) / (teacher - base) at or above which the best model is worth shipping, or worth retuning; below
# the second, the training data is the problem (distil labs' deploy gate)
DEPLOY_CLOSURE, RETUNE_CLOSURE = 0.8, 0.4


def is_baseline(row: dict) -> bool:
    """The zero-shot baseline row (forge.evaluation.baseline), not a trained iteration."""
    return row.get("kind") == BASELINE


def experiments(project, baseline: bool = False) -> list[dict]:
    """The rows of trained iterations; with `baseline`, the zero-shot baseline row (forge.evaluation.baseline) first.
    Teacher rows are never among them (`teacher_rows`)."""
    rows = [r for r in project.read_jsonl_state(EXPERIMENTS) if r.get("kind") != TEACHER]
    return rows if baseline else [r for r in rows if not is_baseline(r)]


def teacher_rows(project) -> list[dict]:
    """The teacher baselines measured (forge.evaluation.teacher), oldest first."""
    return [r for r in project.read_jsonl_state(EXPERIMENTS) if r.get("kind") == TEACHER]


def record_teacher(project, row: dict) -> None:
    append_bytes_atomic(project.output / EXPERIMENTS, (json.dumps(row) + "\n").encode())


def gap(project) -> dict | None:
    """The best model's place between the base model and the teacher on the current gold set and schema:
    {base, teacher, best, closure, advice}; closure is None while the best or a teacher above the base is missing.
    None without both a baseline and a teacher measured on this gold set."""
    from forge.data.datasets import file_hash

    gold = file_hash(project.gold_path) if project.gold_path.is_file() else None
    schema = schema_hash_now(project)

    def same(r: dict | None) -> bool:  # measured on this gold set, under this schema
        return bool(r) and r.get("gold_hash") == gold and r.get("schema_hash") == schema  # type: ignore[union-attr]

    base = next((r for r in experiments(project, baseline=True) if is_baseline(r) and same(r)), None)
    teacher = next((r for r in reversed(teacher_rows(project)) if same(r)), None)
    if not (base and teacher):
        return None
    top = best(project)
    student = top["accuracy"] if top and same(top) else None
    out = {"base": base["accuracy"], "teacher": teacher["accuracy"], "teacher_model": teacher["model"],
           "best": student, "closure": None, "advice": None}
    if teacher["accuracy"] <= base["accuracy"]:
        out["advice"] = "the teacher scores no higher than the base model: gap closure is undefined"
    elif student is not None:
        closure = (student - base["accuracy"]) / (teacher["accuracy"] - base["accuracy"])
        out["closure"] = round(closure, 4)
        out["advice"] = ("deploy" if closure >= DEPLOY_CLOSURE else "retune" if closure >= RETUNE_CLOSURE
                         else "regenerate data")
    return out


def gap_text(g: dict | None) -> str | None:
    """'0.82 of the gap (base 45.0% -> best 86.0%, teacher 95.0%): deploy', or None without a teacher."""
    if not g:
        return None
    scores = (f"base {100 * g['base']:.1f}% -> best " + (f"{100 * g['best']:.1f}%" if g["best"] is not None else "none")
              + f", teacher {100 * g['teacher']:.1f}% ({g['teacher_model']})")
    if g["closure"] is None:
        return f"{g['advice'] or 'no best model yet'} ({scores})"
    return f"{g['closure']:.2f} of the gap closed ({scores}): {g['advice']}"


def gap_reached(project) -> str | None:
    """Why agent.stop_at_gap_closure ends the run now (the best closed that share of the gap), or None."""
    rule = project.config.agent.stop_at_gap_closure
    g = gap(project) if rule else None
    if not (g and g["closure"] is not None and g["closure"] >= rule):
        return None
    return f"gap closure {g['closure']:.2f} reached agent.stop_at_gap_closure {rule:g} ({gap_text(g)})"


def judge_identity(cfg) -> dict:
    """The judge scorer's model and the hash of its rubric: what a judge verdict or calibration depends on."""
    from forge.hashing import content_hash

    model = cfg.eval.judge_model or cfg.datagen.model
    return {"model": model, "rubric_hash": content_hash(json.dumps([cfg.eval.judge_rubric.strip(), model]))}


def schema_hash_now(project) -> str | None:
    schema = project.output_schema()
    return schema.hash if schema else None


def next_iteration(project) -> int:
    """The project-wide number the next training run gets (the baseline is iteration 0 and not counted)."""
    return len(experiments(project)) + 1


def best(project) -> dict | None:
    return project.read_state(BEST)


def schema_hash_of(results: dict) -> str | None:
    """The output schema an eval was scored under (None: no schema)."""
    return (results.get("schema") or {}).get("hash")


def crosses_gold_change(best: dict | None, gold_hash: str | None, schema_hash: str | None) -> bool:
    """True when the best was measured on a gold set other than `gold_hash` (unknown for old records), or
    under another output schema than `schema_hash`: scores under two contracts are not comparable."""
    if not best:
        return False
    return bool(best.get("gold_hash") and best["gold_hash"] != gold_hash) or best.get("schema_hash") != schema_hash


def _training(project, results: dict) -> dict:
    """The evaluated model's training record (its forge_meta.json): epoch losses, train and validation, and how
    it started (`start`: fresh, or warm with `warm_start` saying from which model and on how many new and
    replayed examples); none for a model forge did not train (the baseline's base)."""
    meta = read_meta(project.path(results["model"]["path"]))
    if not meta.get("epoch_losses"):
        return {}
    warm = meta.get("warm_start")
    return {"epoch_losses": meta["epoch_losses"], "val_losses": meta.get("val_losses") or None,
            "start": "warm" if warm else "fresh", **({"warm_start": warm} if warm else {}),
            "trained_on": meta.get("dataset_size") if not warm else warm["new"] + warm["replayed"],
            "train_wall_s": meta.get("wall_s")}


def record_experiment(project, *, run_id: str, iteration: int, hypothesis: str, results: dict,
                      kind: str | None = None) -> dict:
    """One row per iteration (train then eval), or the baseline's (kind "baseline"). Idempotent: an eval
    redone after a crash adds no second row."""
    for row in experiments(project, baseline=True):
        if row.get("run") == run_id and row["iteration"] == iteration:
            return row
    cfg = project.config
    spend = project.read_state(SPEND_FILE) or {}
    row = {"iteration": iteration, **({"kind": kind} if kind else {}), "run": run_id, "time": now(),
           "accuracy": results["accuracy"],
           "ci95": results["ci95"], "correct": results["correct"], "total": results["total"],
           "hypothesis": hypothesis, "config": {"training": vars(cfg.training), "lora": vars(cfg.lora)},
           "train_size": 0 if kind == BASELINE else len(load_examples(project.canonical_path, missing_ok=True)),
           "gold_size": results["total"], "gold_hash": results.get("gold", {}).get("hash"),
           "schema_hash": schema_hash_of(results), "schema_valid": results.get("schema_valid"),
           "constrained": results.get("constrained", False), "per_field": results.get("per_field") or {},
           **({"free": results["free"]} if results.get("free") else {}),
           **({"judge": results["judge"]} if results.get("judge") else {}),
           "sealed_hash": (results.get("sealed") or {}).get("hash"), "llm_spend_usd": spend.get("total_usd", 0.0),
           "eval_wall_s": results["wall_s"], "per_cmd": results["per_cmd"], **_training(project, results)}
    append_bytes_atomic(project.output / EXPERIMENTS, (json.dumps(row) + "\n").encode())
    return row


def _contract_note(row: dict) -> str:
    """' (schema-valid 100%, free 61.1%)' for a row scored under an output schema; '' otherwise."""
    if row.get("schema_valid") is None:
        return ""
    free = row.get("free")
    return (f" (schema-valid {100 * row['schema_valid']:.0f}%" + (f", free decoding {100 * free['accuracy']:.1f}%"
            if free else "") + ("" if row.get("constrained") else ", decoded free") + ")")


def start_text(row: dict) -> str:
    """How an iteration's model started: 'warm from iter 2: 40 new + 40 replayed', 'fresh', or '' (the baseline,
    or a row from before forge recorded it)."""
    warm = row.get("warm_start")
    if not warm:
        return row.get("start") or ""
    source = f"iter {warm['from_iteration']}" if warm.get("from_iteration") is not None else warm["from"]
    return f"warm from {source}: {warm['new']} new + {warm['replayed']} replayed"


def update_context(project) -> str:
    """Rewrite AGENT_CONTEXT.md from the experiment history; returns its (truncated) text."""
    rows, top = experiments(project, baseline=True), best(project)
    lines = ["# Agent context", "", "## Scores by iteration", ""]
    prev = None
    for r in rows:
        delta = "" if prev is None else f" ({100 * (r['accuracy'] - prev):+.1f} pts)"
        contract = _contract_note(r)
        warm = f" ({start_text(r)})" if r.get("warm_start") else ""
        if is_baseline(r):
            lines.append(f"- base model, zero-shot (not promotable): {100 * r['accuracy']:.1f}%{contract}")
        else:
            lines.append(f"- iter {r['iteration']}: {100 * r['accuracy']:.1f}%{delta}{contract}, {r['train_size']} "
                         f"training examples{warm}: {r['hypothesis']}")
        prev = r["accuracy"]
    if top:
        lines += ["", f"Best: {100 * top['accuracy']:.1f}% (iter {top.get('iteration')}), {top.get('path')}"]
    closure = gap_text(gap(project))
    if closure:
        lines += ["", f"Teacher gap: {closure}"]
    if rows and rows[-1].get("per_field"):
        lines += ["", "## Wrong fields (last eval)", ""] + [f"- {k}: {n}" for k, n in rows[-1]["per_field"].items()]
    cats = failure_categories(project, missing_ok=True)
    if cats:
        lines += ["", "## Failure categories (last eval)", ""] + [f"- {k}: {n}" for k, n in cats.most_common()]
    worked = [r for i, r in enumerate(rows) if i and r["accuracy"] > rows[i - 1]["accuracy"]]
    if worked:
        lines += ["", "## What worked", ""] + [f"- iter {r['iteration']}: {r['hypothesis']}" for r in worked]
    text = ("\n".join(lines) + "\n")[-CONTEXT_CHARS:]
    write_text_atomic(project.root / CONTEXT_FILE, text)
    return text


def read_context_file(project, name: str, limit: int | None = None) -> str:
    """A context file's text (its last `limit` characters), or '(none yet)'."""
    path = project.root / name
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    return (text[-limit:] if limit else text).strip() or "(none yet)"


def write_plan(project, text: str) -> None:
    write_text_atomic(project.root / PLAN_FILE, text.strip() + "\n")


def read_meta(model_dir: Path) -> dict:
    """The META_FILE of a trained model directory ({} when it has none)."""
    path = Path(model_dir) / META_FILE
    return json.loads(path.read_text()) if path.is_file() else {}
