"""`forge status`: where a project stands, as data and as a text block."""

from __future__ import annotations

import os
from datetime import datetime, timezone

from forge.data.datasets import file_hash, load_examples, load_numbered
from forge.data.datasets import schema_violations as violations
from forge.project import gap, records, run_lock
from forge.project.project import Project


def _age_seconds(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    return max(0.0, (datetime.now(timezone.utc) - then).total_seconds())


def collect(project: Project) -> dict:
    cfg = project.config
    best = records.best(project)
    last = project.read_state(records.RESULTS)
    beat = project.read_state(records.HEARTBEAT)
    spend = project.read_state(records.SPEND_FILE)
    experiments = records.experiments(project)
    base, teacher = records.baseline_now(project), records.teacher_now(project)
    sealed = project.sealed_path
    return {
        "project": cfg.name,
        "root": str(project.root),
        "best": {"accuracy": best["accuracy"], "iteration": best.get("iteration"), "path": best.get("path")}
        if best
        else None,
        "last": {"accuracy": last["accuracy"], "correct": last.get("correct"), "total": last.get("total")}
        if last
        else None,
        "baseline": {"accuracy": base["accuracy"], "correct": base["correct"], "total": base["total"]}
        if base
        else None,
        "teacher": {k: teacher[k] for k in ("accuracy", "correct", "total", "model")} if teacher else None,
        "target_accuracy": cfg.eval.target_accuracy,
        "dataset": {
            "training": len(
                load_examples(project.canonical_path, project.rel(project.canonical_path), missing_ok=True)
            ),
            "gold": len(load_examples(project.gold_path, project.rel(project.gold_path), missing_ok=True)),
            "sealed": len(load_examples(sealed, project.rel(sealed), missing_ok=True)) if sealed else None,
        },
        "iterations": {"done": len(experiments), "max": cfg.agent.max_iterations},
        "heartbeat": {
            **beat,
            "age_seconds": _age_seconds(beat.get("timestamp")),
            "state": records.heartbeat_state(beat),
        }
        if beat
        else None,
        "llm_spend_usd": spend.get("total_usd") if spend else None,
        "gold": gold_integrity(project, best),
        "held_by": run_lock.holder(project.output),  # who holds the run lock (forge.project.run_lock), or None
        "scorer": scorer_state(project),
        "gap": gap.gap(project),
        "noise_floor": records.noise_floor_now(project),  # a sweep's seed-to-seed spread (forge.sweep), or None
    }


def scorer_state(project: Project) -> dict:
    """The scorer; for the judge, its model and the last calibration (stale when the rubric or model changed)."""
    cfg = project.config
    if cfg.eval.scorer != "judge":
        return {"name": cfg.eval.scorer}
    judge = records.judge_identity(cfg)
    calibration = project.read_state(records.JUDGE_CALIBRATION)
    if calibration:
        calibration = {
            **calibration,
            "stale": calibration.get("rubric_hash") != judge["rubric_hash"]
            or calibration.get("model") != judge["model"],
        }
    return {"name": "judge", "model": judge["model"], "calibration": calibration}


def scorer_text(sc: dict) -> str:
    if sc["name"] != "judge":
        return sc["name"]
    cal = sc.get("calibration")
    if not cal:
        return f"judge ({sc['model']}); not calibrated: `forge judge calibrate FILE` with hand labels"
    kappa = "n/a" if cal["kappa"] is None else f"{cal['kappa']:.2f}"
    text = (
        f"judge ({sc['model']}); calibrated {cal['time'][:10]}: agreement {100 * cal['agreement']:.1f}%, "
        f"kappa {kappa} on {cal['items']} labels"
    )
    if cal["items"] < CALIBRATION_FEW:
        text += f" (under {CALIBRATION_FEW}: a rough estimate)"
    return text + ("; stale: the rubric or judge model changed since" if cal["stale"] else "")


def gold_integrity(project: Project, best: dict | None) -> dict:
    """Training examples that overlap gold/sealed, and whether gold changed since the best was measured."""
    rel = project.rel(project.canonical_path)
    overlap = project.gold_guard().overlaps(load_numbered(project.canonical_path, rel, missing_ok=True), rel)
    schema = project.output_schema()
    outside = (
        violations(schema, project.gold_path, project.rel(project.gold_path), project.config.eval.tool_choice)
        if schema
        else []
    )
    return {
        "overlap": len(overlap),
        "overlap_first": overlap[:3],
        "changed_since_best": records.crosses_gold_change(
            best, file_hash(project.gold_path), records.schema_hash_now(project)
        ),
        "schema": {
            "path": schema.display,
            "hash": schema.hash,
            "gold_outside": len(outside),
            "gold_outside_first": outside[:3],
        }
        if schema
        else None,
    }


CALIBRATION_FEW = 50  # labels under which a judge calibration's kappa is too uncertain to trust

# The budgets of a run (forge.agent.budgets), in the order every view lists them: what a budgets snapshot
# calls the amount used -> its label in `status` and `forge agent log`. Each one's limit is max_<name> (0: none).
BUDGETS = {
    "iterations": "iterations",
    "tool_calls": "tool calls",
    "minutes": "minutes",
    "cost_usd": "USD",
    "new_examples": "new examples",
}
LIMITS = tuple(f"max_{name}" for name in BUDGETS)
_USED_FORMAT = {"minutes": "{:.0f}", "cost_usd": "{:.4f}"}


def budgets_text(b: dict, minutes: bool = True) -> str:
    """A run's budgets snapshot as one line: used/limit for each ('-': no limit)."""
    return ", ".join(
        f"{label} {_USED_FORMAT.get(name, '{}').format(b[name])}/{b[f'max_{name}'] or '-'}"
        for name, label in BUDGETS.items()
        if minutes or name != "minutes"
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "unknown age"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def render(s: dict) -> str:
    best = f"{_pct(s['best']['accuracy'])} (iter {s['best']['iteration']})" if s["best"] else "none yet"
    last = f"{_pct(s['last']['accuracy'])} ({s['last']['correct']}/{s['last']['total']})" if s["last"] else "none yet"
    ds = s["dataset"]
    dataset = f"{ds['training']} training / {ds['gold']} gold" + (
        f" / {ds['sealed']} sealed" if ds["sealed"] is not None else ""
    )
    max_iter = s["iterations"]["max"] or "no limit"
    beat = s["heartbeat"]
    heartbeat = (
        "none yet"
        if not beat
        else (
            f"{beat.get('state') or beat.get('status', '?')} (iter {beat.get('iteration', '?')}, "
            f"{_age(beat['age_seconds'])})" + (f": {beat['error']}" if beat.get("error") else "")
        )
    )
    if beat and beat.get("state") == "stale":
        heartbeat += (
            f": run {beat.get('run')} (pid {beat.get('pid')}) is gone without ending; "
            "finish it with `forge agent run --resume latest`"
        )
    spend = "none yet" if s["llm_spend_usd"] is None else f"${s['llm_spend_usd']:.4f}"
    b = s.get("baseline")
    base = (
        f"{_pct(b['accuracy'])} ({b['correct']}/{b['total']}, base model zero-shot)"
        if b
        else "not measured on this gold set (`forge eval --base`)"
    )
    rows = [
        ("Project", f"{s['project']} ({s['root']})"),
        ("Best score", best),
        ("Last score", last),
        ("Baseline", base),
        ("Target", _pct(s["target_accuracy"])),
        ("Scorer", scorer_text(s["scorer"])),
        ("Dataset", dataset),
        ("Iterations", f"{s['iterations']['done']} / {max_iter}"),
        ("Heartbeat", heartbeat),
        ("LLM spend", spend),
    ]
    t = s.get("teacher")
    if t:
        closure = (
            gap.gap_text(s["gap"])
            if s.get("gap")
            else "gap closure: undefined without a zero-shot baseline on this gold set (`forge eval --base`)"
        )
        rows.insert(4, ("Teacher", f"{_pct(t['accuracy'])} ({t['correct']}/{t['total']}, {t['model']}); {closure}"))
    n = s.get("noise_floor")
    if n:
        rows.append(
            (
                "Noise floor",
                f"{n['spread'] * 100:.1f} points ({len(n['accuracies'])} seeds of {n['label']}, sweep {n['sweep']}): "
                "a promotion must gain more, with McNemar p <= 0.05",
            )
        )
    if s.get("held_by") and s["held_by"].get("pid") != os.getpid():  # a run's own status needs no such line
        rows.append(("Held by", run_lock.describe(s["held_by"])))
    g = s.get("gold") or {}
    if g.get("overlap"):
        rows.append(
            (
                "Gold overlap",
                f"{g['overlap']} training example(s) overlap gold/sealed "
                f"({', '.join(g['overlap_first'])}): `forge clean --gold-overlap`",
            )
        )
    if g.get("changed_since_best"):
        rows.append(
            (
                "Gold",
                "changed since the best was measured (gold set or output schema): scores before and "
                "after are not comparable",
            )
        )
    sc = g.get("schema")
    if sc:
        text = f"{sc['path']} (hash {sc['hash']})"
        if sc["gold_outside"]:
            text += (
                f"; {sc['gold_outside']} gold answer(s) outside it ({', '.join(sc['gold_outside_first'])}): "
                "fix the gold or the schema"
            )
        rows.append(("Contract", text))
    return "\n".join(f"{k + ':':<12} {v}" for k, v in rows)
