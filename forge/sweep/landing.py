"""What a finished variant leaves in the project: its TensorBoard logs under output/tb/<id>, its row in
experiments.jsonl, and for the best one, output/adapter with its eval results (what `promote` takes); and the
noise floor a seeds-only sweep measured."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

from forge.atomic import replace_dir, write_json_atomic
from forge.clock import now
from forge.errors import ForgeError
from forge.project import records
from forge.project.project import Project
from forge.sweep.variant_run import variant_project
from forge.sweep.variants import Variant


def move_tracker(project: Project, out: Path, full_id: str) -> None:
    logs = out / project.tracker_dir.name
    if logs.is_dir():
        dest = project.tracker_dir / full_id
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        logs.rename(dest)


def record_row(project: Project, sweep_id: str, v: Variant, out: Path, summary: dict) -> int:
    """The experiments row of a finished variant (once: a resumed sweep finds it); its iteration number."""
    for row in records.experiments(project):
        if (row.get("sweep") or {}).get("variant") == v.id and row["sweep"]["id"] == sweep_id:
            return row["iteration"]
    results = json.loads((out / records.RESULTS).read_text(encoding="utf-8"))
    vp = variant_project(project.root, v.overlay, out)
    # a job on a cluster named its model where it ran (storage); the model is here now
    results["model"]["path"] = project.rel(vp.adapter_dir)
    write_json_atomic(out / records.RESULTS, results)
    iteration = records.next_iteration(project)
    row = records.record_experiment(
        Project(project.root, vp.config),
        run_id=f"sweep-{sweep_id}",
        iteration=iteration,
        hypothesis=f"sweep {sweep_id}: {v.label}, seed {v.seed}",
        results=results,
        sweep={"id": sweep_id, "variant": v.id, "config": v.config_id, "seed": v.seed, "label": v.label},
    )
    return row["iteration"]


def install(project: Project, out: Path, sweep_id: str, row: dict) -> None:
    """Make a variant the current adapter with its eval results: what `promote` checks and copies."""
    tmp = project.output / ".adapter.installing"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(Project(project.root, project.config, output_dir=out).adapter_dir, tmp)
    replace_dir(tmp, project.adapter_dir)
    results = json.loads((out / records.RESULTS).read_text(encoding="utf-8"))
    results["model"]["path"] = project.rel(project.adapter_dir)
    results["sweep"] = {"id": sweep_id, "variant": row["id"], "iteration": row["iteration"]}
    failures = out / records.FAILURES
    if failures.is_file():
        shutil.copyfile(failures, project.output / records.FAILURES)
    write_json_atomic(project.output / records.RESULTS, results)


def record_noise_floor(project: Project, sweep_id: str, rows: list[dict], results: dict) -> dict:
    accs = [r["accuracy"] for r in rows if r["ok"]]
    if len({r["config"] for r in rows}) != 1 or len(accs) < 3:
        raise ForgeError(
            f"sweep {sweep_id}: a noise floor needs one configuration with 3 or more finished seeds, got "
            f"{len({r['config'] for r in rows})} configuration(s) and {len(accs)} finished run(s)"
        )
    floor = {
        "sweep": sweep_id,
        "label": rows[0]["label"],
        "seeds": [r["seed"] for r in rows if r["ok"]],
        "accuracies": accs,
        "spread": round(max(accs) - min(accs), 6),
        "stdev": round(statistics.stdev(accs), 6),
        "gold_hash": results["gold"]["hash"],
        "schema_hash": records.schema_hash_of(results),
        "time": now(),
    }
    records.write_noise_floor(project, floor)
    return floor
