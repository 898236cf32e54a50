"""Running a sweep: its variants on Ray, a row in experiments.jsonl per variant that finished, the table (per
configuration: runs, mean and spread over seeds, wall time, cost), and the best variant installed as
output/adapter with its eval results, so `promote` takes it like any evaluated iteration.

output/sweeps/<id>.json records the plan and where each variant stands, written before anything starts and
after every change; running the same plan again while it is unfinished resumes it: finished variants are
kept, jobs on a cluster are reattached, the rest run again. A variant that failed is a row of the table
with its first error line; the sweep goes on. Ctrl-C, SIGTERM or the time budget stop every variant.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from forge import stop_signal
from forge.atomic import write_json_atomic
from forge.clock import id_stamp, now
from forge.config.fields import RaySection
from forge.errors import ForgeError
from forge.hashing import content_hash
from forge.project import records
from forge.project.project import Project
from forge.project.run_lock import holds_run_lock
from forge.remote.steps import seconds_left
from forge.result_lines import ResultLine, fraction
from forge.sweep.landing import install, move_tracker, record_noise_floor, record_row
from forge.sweep.table import representative, summarize, table_text
from forge.sweep.variants import Variant

POLL_S = 1.0
DEADLINE_GRACE_S = 120  # past the run's deadline (each variant stops itself at its next step), stop them


class Backend(Protocol):
    """Where a sweep's variants run: a private cluster (forge.sweep.ray_local) or Ray Jobs (forge.sweep.ray_jobs)."""

    def start(self) -> str: ...  # says where
    def submit(self, variant_id: str, overlay: dict, out_dir: Path, deadline_in_s: float | None) -> None: ...
    def reattach(self, variant_id: str) -> bool: ...  # a variant a killed forge left running: followed again?
    def wait(self, timeout_s: float) -> list[tuple[str, dict]]: ...  # (variant id, summary) of those that ended
    def running(self) -> int: ...
    def stop_all(self) -> list[str]: ...  # what it stopped, named
    def close(self) -> None: ...


class SweepStopped(stop_signal.Interrupted, ForgeError):
    """SIGTERM or SIGHUP stopped a sweep: one line at the CLI; in an agent run, a call `--resume` runs again."""


@dataclass
class SweepResult:
    id: str
    rows: list[dict]  # per variant: id, config, label, seed, ok, accuracy or error, wall_s, iteration
    table: list[dict]  # per configuration, best first
    best: dict | None  # the variant installed as output/adapter
    noise_floor: dict | None
    where: str

    def lines(self) -> list[ResultLine]:
        ok = sum(r["ok"] for r in self.rows)
        lines = [
            ResultLine("sweep", self.id, f"{self.id} on {self.where}"),
            ResultLine(
                "finished", {"ok": ok, "failed": len(self.rows) - ok}, f"{ok} finished, {len(self.rows) - ok} failed"
            ),
            ResultLine("table", self.table, "\n" + table_text(self.table)),
        ]
        failed = [r for r in self.rows if not r["ok"]]
        if failed:
            lines.append(ResultLine("failed", failed, "\n" + "\n".join(f"  {r['id']}: {r['error']}" for r in failed)))
        if self.best:
            b = self.best
            shown = (
                f"{b['id']} ({b['label']}, seed {b['seed']}): {fraction(b['accuracy'])}, iteration {b['iteration']}; "
                "installed as output/adapter, with its eval: `promote` makes it the best"
            )
            lines.append(ResultLine("best", b["id"], shown))
            lines.append(ResultLine("iteration", b["iteration"], None))
        if self.noise_floor:
            n = self.noise_floor
            shown = f"{n['spread'] * 100:.1f} points (the spread of {len(n['accuracies'])} seeds of {n['label']})"
            lines.append(ResultLine("noise_floor", n["spread"], shown))
        return lines


def backend_for(project: Project, sweep_id: str, jobs: dict, save) -> Backend:
    ray_cfg = project.config.compute.ray or RaySection()
    if project.config.compute.remote:
        raise ForgeError(
            "compute.remote: a sweep runs on Ray (compute.ray), not over ssh; set compute.remote to null, or "
            "give compute.ray an address"
        )
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ForgeError("a sweep needs Ray: pip install 'forge-slm[ray]'") from None
    if ray_cfg.address:
        from forge.sweep.ray_jobs import JobsCluster

        return JobsCluster(ray_cfg, project.root, sweep_id, jobs, save)
    from forge.sweep.ray_local import LocalCluster

    return LocalCluster(ray_cfg, project.root, project.config.training.max_memory_gb)


def _record_path(project: Project, sweep_id: str) -> Path:
    return project.sweeps_dir / f"{sweep_id}.json"


def unfinished(project: Project, key: str) -> dict | None:
    """The newest sweep record of this plan that did not end, to resume."""
    return next((r for r in reversed(records.sweep_records(project)) if r["key"] == key and not r["ended"]), None)


@holds_run_lock("sweep")
def run_sweep(
    project: Project, variants: list[Variant], *, noise_floor: bool = False, echo=print, deadline: float | None = None
) -> SweepResult:
    """Run every variant (train -> eval) on Ray; record, tabulate and install the best. See the module doc."""
    say = echo or (lambda _line: None)
    key = content_hash(json.dumps([[v.id, v.overlay] for v in variants], sort_keys=True))
    record = unfinished(project, key)
    if record:
        say(
            f"sweep {record['id']}: resuming ({sum(s['status'] in ('done', 'failed') for s in record['state'].values())} of {len(variants)} variants ended)"
        )
    else:
        record = {
            "id": f"{id_stamp()}-{uuid.uuid4().hex[:4]}",
            "key": key,
            "started": now(),
            "noise_floor": noise_floor,
            "plan": [{"id": v.id, "config": v.config_id, "label": v.label, "seed": v.seed} for v in variants],
            "state": {v.id: {"status": "queued"} for v in variants},
            "jobs": {},
            "ended": None,
        }
    sweep_id, path = record["id"], _record_path(project, record["id"])
    save = lambda: write_json_atomic(path, record)  # noqa: E731
    save()
    backend = backend_for(project, sweep_id, record["jobs"], save)
    out_of = {v.id: project.variants_dir / f"{sweep_id}-{v.id}" for v in variants}
    by_id = {v.id: v for v in variants}
    where = backend.start()
    say(f"sweep {sweep_id}: {len(variants)} runs on {where}")
    with stop_signal.handling(say):
        try:
            _drive(project, backend, record, by_id, out_of, save, say, deadline)
        except BaseException:
            stopped = backend.stop_all()
            if stopped:
                say(f"sweep {sweep_id}: stopped {', '.join(stopped)}")
            for vid, job in record["jobs"].items():  # run again on resume, as a new job
                if job.get("submission_id") in stopped:
                    record["state"][vid]["status"] = "queued"
            save()
            raise
        finally:
            backend.close()
    rows = [{**planned, **record["state"][planned["id"]]} for planned in record["plan"]]
    rows = [{k: v for k, v in r.items() if k != "status"} for r in rows]
    table = summarize(rows)
    best = None
    if table and table[0]["mean"] is not None:
        best = representative(rows, table[0]["config"])
        install(project, out_of[best["id"]], sweep_id, best)
    floor = None
    if noise_floor:
        floor = record_noise_floor(project, sweep_id, rows, project.read_state(records.RESULTS) or {})
    record.update(ended=now(), table=table, best=best["id"] if best else None)
    save()
    return SweepResult(sweep_id, rows, table, best, floor, where)


def _drive(project, backend, record, by_id, out_of, save, say, deadline) -> None:
    state = record["state"]
    for vid, st in state.items():  # a resumed sweep: jobs on a cluster go on; the rest run again
        if st["status"] == "running" and backend.reattach(vid):
            say(f"variant {vid}: reattached to job {record['jobs'][vid]['submission_id']}")
        elif st["status"] == "running":
            st["status"] = "queued"
    limit = (project.config.compute.ray or RaySection()).max_parallel or len(state)
    while True:
        if stop_signal.requested.is_set():
            raise SweepStopped(f"sweep stopped: {stop_signal.reason()}; run the same command again to resume it")
        if deadline is not None and time.monotonic() > deadline + DEADLINE_GRACE_S:
            raise ForgeError("the time budget ran out; the sweep's variants were stopped")
        for vid, st in state.items():
            if st["status"] == "queued" and backend.running() < limit:
                v = by_id[vid]
                backend.submit(vid, v.overlay, out_of[vid], seconds_left(deadline))
                st["status"] = "running"
                save()
        if not any(st["status"] in ("queued", "running") for st in state.values()):
            return
        for vid, summary in backend.wait(POLL_S):
            _finish(project, record, by_id[vid], out_of[vid], summary, say)
            save()


def _finish(project, record, v: Variant, out: Path, summary: dict, say) -> None:
    sweep_id = record["id"]
    st = record["state"][v.id]
    if summary.get("attempt", 1) > 1:
        say(f"variant {v.id}: its worker died; Ray ran it again (attempt {summary['attempt']})")
    if not summary.get("ok"):
        st.update(status="failed", ok=False, error=summary.get("error", "no result"), wall_s=summary.get("wall_s"))
        say(f"variant {v.id} ({v.label}, seed {v.seed}): failed: {st['error']}")
        return
    move_tracker(project, out, f"{sweep_id}-{v.id}")
    iteration = record_row(project, sweep_id, v, out, summary)
    st.update(
        status="done",
        ok=True,
        accuracy=summary["accuracy"],
        correct=summary["correct"],
        total=summary["total"],
        wall_s=summary.get("wall_s"),
        cost_usd=summary.get("cost_usd", 0.0),
        iteration=iteration,
        attempt=summary.get("attempt", 1),
        cuda_visible_devices=summary.get("cuda_visible_devices"),
        started_at=summary.get("started_at"),
        ended_at=summary.get("ended_at"),
    )
    gpu = f", CUDA_VISIBLE_DEVICES={summary['cuda_visible_devices']}" if summary.get("cuda_visible_devices") else ""
    say(
        f"variant {v.id} ({v.label}, seed {v.seed}): {fraction(summary['accuracy'])} "
        f"({summary['correct']}/{summary['total']}), {summary.get('wall_s', 0):.0f} s{gpu}, iteration {iteration}"
    )


def cancel_jobs(project: Project) -> list[str]:
    """Stop the jobs of every unfinished sweep of this project on compute.ray.address and close those sweeps; a
    line per job stopped. (A private cluster's sweep has nothing to stop: its processes end with forge's.)"""
    ray_cfg = project.config.compute.ray
    if not ray_cfg or not ray_cfg.address:
        raise ForgeError("compute.ray.address is not set: there are no cluster jobs to stop")
    from forge.sweep.ray_jobs import JobsCluster

    lines = []
    for record in records.sweep_records(project):
        if record["ended"] or not record["jobs"]:
            continue
        backend = JobsCluster(ray_cfg, project.root, record["id"], record["jobs"], lambda: None)
        backend.start()
        for submission in backend.stop_all():
            lines.append(f"stopped job {submission} of sweep {record['id']}")
        for st in record["state"].values():
            if st["status"] in ("queued", "running"):
                st.update(status="failed", ok=False, error="cancelled (`forge remote cancel`)")
        record["ended"] = now()
        write_json_atomic(_record_path(project, record["id"]), record)
    return lines or ["no unfinished sweep jobs"]
