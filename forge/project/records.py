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
from forge.data.answers import category, cmd_of, name_noun
from forge.data.datasets import file_hash, load_examples
from forge.errors import ForgeError

EXPERIMENTS = "experiments.jsonl"
BEST = "best_score.json"
HEARTBEAT = "flywheel_heartbeat.json"
RESULTS, FAILURES = "eval_results.json", "eval_failures.jsonl"
FLYWHEEL_LOG = "flywheel.log"
SPEND_FILE = "llm_spend.json"  # LLM spend per model, written by forge.llm.client
JUDGE_CACHE = "judge_cache.jsonl"  # the judge scorer's verdicts by hash (forge.evaluation.judge)
JUDGE_CALIBRATION = "judge_calibration.json"  # the last `forge judge calibrate`
NOISE_FLOOR = "noise_floor.json"  # the seed-to-seed spread of one configuration (forge.sweep), for promotion
META_FILE = "forge_meta.json"  # beside a trained model: its base, method and training settings
CONTEXT_FILE, PLAN_FILE, BACKGROUND_FILE = "AGENT_CONTEXT.md", "PLAN.md", "BACKGROUND.md"
MISSION_FILE = "mission.md"
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
        noun = name_noun(row.get("expected", ""))
        text = f"inputs whose correct {noun} is {expected!r}; the model failed with: {_kind(row.get('reason'))}"
        if said and said != expected:
            text += f" (it answered {name_noun(row.get('actual', ''))} {said!r} instead)"
        cats[text] += 1
    return cats


def log(project, line: str) -> None:
    project.output.mkdir(parents=True, exist_ok=True)
    with open(project.output / FLYWHEEL_LOG, "a", encoding="utf-8") as fh:
        fh.write(f"{now()} {line}\n")


def heartbeat(
    project, status: str, iteration: int, accuracy: float | None, *, run_id: str | None = None, error: str | None = None
) -> None:
    """The run's liveness record; pid and host let `forge status` tell a dead run from a live one."""
    data = {
        "iteration": iteration,
        "status": status,
        "accuracy": accuracy,
        "timestamp": now(),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "run": run_id,
    }
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
    if (
        status == "running"
        and beat.get("pid")
        and beat.get("host") == socket.gethostname()
        and not process_alive(int(beat["pid"]))
    ):
        return "stale"
    return status


BASELINE, TEACHER = "baseline", "teacher"


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


def judge_identity(cfg) -> dict:
    """The judge scorer's model and the hash of its rubric: what a judge verdict or calibration depends on."""
    from forge.hashing import content_hash

    model = cfg.eval.judge_model or cfg.datagen.model
    return {"model": model, "rubric_hash": content_hash(json.dumps([cfg.eval.judge_rubric.strip(), model]))}


def schema_hash_now(project) -> str | None:
    schema = project.output_schema()
    return schema.hash if schema else None


def measured_now(project, row: dict | None) -> bool:
    """Whether `row` (an experiment, baseline, teacher or best row) was measured on the gold set and under the
    output schema the project has now, so its score compares with today's."""
    gold = file_hash(project.gold_path) if project.gold_path.is_file() else None
    return bool(row) and row.get("gold_hash") == gold and row.get("schema_hash") == schema_hash_now(project)  # type: ignore[union-attr]


def baseline_now(project) -> dict | None:
    """The newest zero-shot baseline row measured on the current gold set and schema."""
    return next(
        (r for r in reversed(experiments(project, baseline=True)) if is_baseline(r) and measured_now(project, r)), None
    )


def teacher_now(project) -> dict | None:
    """The newest teacher row measured on the current gold set and schema."""
    return next((r for r in reversed(teacher_rows(project)) if measured_now(project, r)), None)


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
    if meta.get("grpo"):  # a GRPO run (forge.training.grpo): from which adapter, its steps and rewards
        return {
            "method": "grpo",
            "start": "grpo",
            "grpo": meta["grpo"],
            "trained_on": meta.get("dataset_size"),
            "train_wall_s": meta.get("wall_s"),
        }
    if not meta.get("epoch_losses"):
        return {}
    warm = meta.get("warm_start")
    return {
        "epoch_losses": meta["epoch_losses"],
        "val_losses": meta.get("val_losses") or None,
        "start": "warm" if warm else "fresh",
        **({"warm_start": warm} if warm else {}),
        "trained_on": meta.get("dataset_size") if not warm else warm["new"] + warm["replayed"],
        "train_wall_s": meta.get("wall_s"),
    }


SEALED_KEYS = ("accuracy", "correct", "total", "ci95")


def record_experiment(
    project,
    *,
    run_id: str,
    iteration: int,
    hypothesis: str,
    results: dict,
    kind: str | None = None,
    sweep: dict | None = None,
) -> dict:
    """One row per iteration (train then eval), or the baseline's (kind "baseline"); a sweep's variant says which
    (`sweep`: its id, variant, configuration, seed and settings). Idempotent: an eval redone after a crash adds
    no second row."""
    for row in experiments(project, baseline=True):
        if row.get("run") == run_id and row["iteration"] == iteration:
            return row
    cfg = project.config
    spend = project.read_state(SPEND_FILE) or {}
    row = {
        "iteration": iteration,
        **({"kind": kind} if kind else {}),
        **({"sweep": sweep} if sweep else {}),
        "run": run_id,
        "time": now(),
        "accuracy": results["accuracy"],
        "ci95": results["ci95"],
        "correct": results["correct"],
        "total": results["total"],
        "hypothesis": hypothesis,
        "config": {"training": vars(cfg.training), "lora": vars(cfg.lora)},
        "train_size": 0 if kind == BASELINE else len(load_examples(project.canonical_path, missing_ok=True)),
        "gold_size": results["total"],
        "gold_hash": results.get("gold", {}).get("hash"),
        "model_hash": (results.get("model") or {}).get("hash"),
        "schema_hash": schema_hash_of(results),
        "schema_valid": results.get("schema_valid"),
        "constrained": results.get("constrained", False),
        "per_field": results.get("per_field") or {},
        **({"free": results["free"]} if results.get("free") else {}),
        **({"judge": results["judge"]} if results.get("judge") else {}),
        "sealed_hash": (results.get("sealed") or {}).get("hash"),
        # aggregates only, for people (report, status); the planner's context leaves them out
        **({"sealed": {k: results["sealed"][k] for k in SEALED_KEYS}} if results.get("sealed") else {}),
        "llm_spend_usd": spend.get("total_usd", 0.0),
        "eval_wall_s": results["wall_s"],
        "per_cmd": results["per_cmd"],
        **_training(project, results),
    }
    append_bytes_atomic(project.output / EXPERIMENTS, (json.dumps(row) + "\n").encode())
    return row


def write_noise_floor(project, floor: dict) -> None:
    write_json_atomic(project.output / NOISE_FLOOR, floor)


def noise_floor_now(project) -> dict | None:
    """The noise floor measured on the current gold set and schema (forge.sweep), or None."""
    floor = project.read_state(NOISE_FLOOR)
    return floor if floor and measured_now(project, floor) else None


def sweep_records(project) -> list[dict]:
    """The records of the sweeps run on this project (forge.sweep: plan, where each variant stands, the table),
    oldest first."""
    folder = project.sweeps_dir
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def start_text(row: dict) -> str:
    """How an iteration's model started: 'warm from iter 2: 40 new + 40 replayed', 'fresh', or '' (the baseline,
    or a row from before forge recorded it)."""
    warm, grpo = row.get("warm_start"), row.get("grpo")
    if grpo:
        source = f"iter {grpo['from_iteration']}" if grpo.get("from_iteration") is not None else grpo["from"]
        return (
            f"grpo from {source or 'a fresh adapter'}: {grpo['steps']} steps, reward {grpo['reward_first']} -> "
            f"{grpo['reward_last']}"
        )
    if not warm:
        return row.get("start") or ""
    source = f"iter {warm['from_iteration']}" if warm.get("from_iteration") is not None else warm["from"]
    return f"warm from {source}: {warm['new']} new + {warm['replayed']} replayed"


_warned: set[tuple[str, int, str]] = set()


def read_context_file(project, name: str, limit: int | None = None, default: str = "(none yet)") -> str:
    """A context file (BACKGROUND.md, mission.md, system_prompt.md, AGENT_CONTEXT.md, PLAN.md) as it may reach any
    prompt: its last `limit` characters, every line holding a gold or sealed input left out with a warning naming
    the file and line (once per process: a hand edit can paste one in); `default` when nothing is left. The one
    reader of these files for prompts, so no prompt gets a context file unfiltered."""
    import sys

    path = project.root / name
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    gold_guard, kept = project.gold_guard(), []
    for n, line in enumerate(text.splitlines(), start=1):
        hit = gold_guard.contained(line) if line.strip() else None
        if hit is None:
            kept.append(line)
        elif (name, n, hit) not in _warned:
            _warned.add((name, n, hit))
            sys.stderr.write(f"warning: {name}:{n}: contains a gold/sealed input ({hit}); left out of every prompt\n")
    text = "\n".join(kept)
    return (text[-limit:] if limit else text).strip() or default


def write_plan(project, text: str) -> None:
    write_text_atomic(project.root / PLAN_FILE, text.strip() + "\n")


def read_meta(model_dir: Path) -> dict:
    """The META_FILE of a trained model directory ({} when it has none)."""
    path = Path(model_dir) / META_FILE
    return json.loads(path.read_text()) if path.is_file() else {}
