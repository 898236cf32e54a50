"""An existing Ray cluster, reached through Ray Jobs (compute.ray.address): each variant is one job.

A job carries the project as its working_dir (the compute.remote mirror's excludes, and output/; refused here in
one line above Ray's upload limit), runs forge.sweep.variant_run through this module's `main`, and leaves its
folder in compute.ray.storage (a shared path, or an fsspec URL it uploads to), from where forge fetches it. The
submission id is saved before the job is submitted and Ray refuses a second job under it, so a forge killed
at any point reattaches to its jobs and never starts one twice. A job that dies without a summary (killed, its
node lost) is submitted again under a new id, up to compute.ray.retries times.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from forge.errors import ForgeError, first_line
from forge.remote.ssh import PUSH_EXCLUDES

REQUEST_ENV = "FORGE_VARIANT_REQUEST"
EXCLUDES = [*PUSH_EXCLUDES, "/output/"]
ENDED = ("SUCCEEDED", "FAILED", "STOPPED")
SUBMIT_TRIES_S = 120


def is_url(storage: str) -> bool:
    return "://" in storage


def upload_size(root: Path) -> int:
    """Bytes of the project Ray would zip as the job's working_dir (its own walk, excludes and .gitignore)."""
    from ray._private.runtime_env.packaging import _dir_travel, _get_excludes

    total = 0

    def add(path: Path) -> None:
        nonlocal total
        if path.is_file():
            total += path.stat().st_size

    _dir_travel(root, [_get_excludes(root, list(EXCLUDES))], add, include_gitignore=True)
    return total


def upload_limit() -> int:
    from ray._private.runtime_env.packaging import GCS_STORAGE_MAX_SIZE

    return GCS_STORAGE_MAX_SIZE


def copy_tree(source: str, dest: str) -> None:
    """Copy a folder between this machine and storage (a path or an fsspec URL), replacing `dest`."""
    if not is_url(source) and not is_url(dest):
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(source, dest)
        return
    import fsspec

    remote, local, up = (dest, source, True) if is_url(dest) else (source, dest, False)
    fs, path = fsspec.core.url_to_fs(remote)
    if up:
        fs.put(local.rstrip("/") + "/", path, recursive=True)
    else:
        shutil.rmtree(local, ignore_errors=True)
        fs.get(path.rstrip("/") + "/", local, recursive=True)


def storage_dir(storage: str, sweep_id: str, variant_id: str) -> str:
    return f"{storage.rstrip('/')}/{sweep_id}/{variant_id}"


class JobsCluster:
    """The sweep backend of an existing cluster: submit a variant as a job, poll the jobs, stop them."""

    def __init__(self, ray_cfg, root: Path, sweep_id: str, jobs: dict, save):
        self.cfg, self.root, self.sweep_id = ray_cfg, Path(root), sweep_id
        self.jobs = jobs  # variant id -> {"submission_id", "attempt", "storage", ...}: part of the sweep's record
        self.save = save  # writes the sweep's record
        self.client: Any = None  # ray.job_submission.JobSubmissionClient, once started

    def start(self) -> str:
        size, limit = upload_size(self.root), upload_limit()
        if size > limit:
            raise ForgeError(
                f"{self.root}: {size / 2**20:.0f} MiB to carry as each job's working_dir, above Ray's "
                f"{limit / 2**20:.0f} MiB: keep big files (a base model) on the cluster and name them in model.base"
            )
        address = self.cfg.address
        try:  # with a timeout: Ray's client would wait on an address that drops packets
            urllib.request.urlopen(f"{address.rstrip('/')}/api/version", timeout=10).close()
        except urllib.error.HTTPError:
            pass  # it answers (401: Ray's token auth, which the Jobs client sends)
        except (OSError, ValueError) as exc:
            raise ForgeError(
                f"compute.ray.address {address}: no Ray cluster answers there ({first_line(exc)})"
            ) from None
        from ray.job_submission import JobSubmissionClient

        try:
            self.client = JobSubmissionClient(address)
        except Exception as exc:  # Ray's client raises plain exceptions (auth, version mismatch)
            raise ForgeError(
                f"compute.ray.address {address}: the cluster refused forge's Jobs client ({type(exc).__name__}: "
                f"{first_line(exc)}); with token auth, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH"
            ) from None
        return f"the Ray cluster at {address}, results through {self.cfg.storage}"

    def submission_id(self, variant_id: str, attempt: int) -> str:
        return f"forge-{self.sweep_id}-{variant_id}-a{attempt}"

    def submit(self, variant_id: str, overlay: dict, out_dir: Path, deadline_in_s: float | None) -> None:
        job = self.jobs.setdefault(variant_id, {"attempt": 0})
        job["attempt"] += 1
        job.pop("ended", None)
        job["submission_id"] = self.submission_id(variant_id, job["attempt"])
        job["storage"] = storage_dir(self.cfg.storage, self.sweep_id, variant_id)
        job["local"] = str(out_dir)
        job["request"] = {"variant_id": variant_id, "overlay": overlay, "deadline_in_s": deadline_in_s}
        self.save()  # before the submission: a kill -9 in between must not start the job twice
        self._submit(variant_id)

    def _submit(self, variant_id: str) -> None:
        """Submit the job; a refusal is tried again for SUBMIT_TRIES_S (a cluster that just started has no job agent
        yet), unless Ray already has a job under this id (a submission that got through before the error)."""
        import logging

        from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

        job = self.jobs[variant_id]
        env = {name: os.environ[name] for name in self.cfg.env_vars if name in os.environ}
        request = {**job["request"], "storage": job["storage"]}
        gpus = self.cfg.gpus_per_experiment
        logging.getLogger("ray").setLevel(logging.ERROR)  # its packaging notes, once per job, say nothing new

        def submit() -> None:
            try:
                self.client.submit_job(
                    entrypoint=f"{Path(sys.executable).name} -m forge.sweep.ray_jobs",
                    submission_id=job["submission_id"],
                    runtime_env={
                        "working_dir": str(self.root),
                        "excludes": list(EXCLUDES),
                        "env_vars": {**env, REQUEST_ENV: json.dumps(request)},
                    },
                    entrypoint_num_cpus=self.cfg.cpus_per_experiment,
                    entrypoint_num_gpus=gpus,
                    metadata={"forge_sweep": self.sweep_id, "forge_variant": variant_id},
                )
            except RuntimeError:  # Ray's client raises RuntimeError for every refused request
                if not self._exists(job["submission_id"]):
                    raise

        tries = Retrying(
            retry=retry_if_exception_type(RuntimeError),
            stop=stop_after_delay(SUBMIT_TRIES_S),
            wait=wait_exponential(multiplier=0.5, max=8),
            reraise=True,
        )
        try:
            tries(submit)
        except RuntimeError as exc:
            raise ForgeError(
                f"compute.ray.address {self.cfg.address}: job {job['submission_id']} was refused "
                f"for {SUBMIT_TRIES_S} s: {first_line(exc)}"
            ) from None

    def _exists(self, submission_id: str) -> bool:
        try:
            self.client.get_job_info(submission_id)
            return True
        except RuntimeError:  # 404: Ray has no job under this id
            return False

    def reattach(self, variant_id: str) -> bool:
        """A job saved as submitted: followed again, and submitted now if Ray never got it (a kill -9 between the
        save and the call)."""
        if variant_id not in self.jobs:
            return False
        if not self._exists(self.jobs[variant_id]["submission_id"]):
            self._submit(variant_id)
        return True

    def running(self) -> int:
        return sum(1 for j in self.jobs.values() if not j.get("ended"))

    def wait(self, timeout_s: float) -> list[tuple[str, dict]]:
        assert self.client is not None
        time.sleep(timeout_s)
        out = []
        for variant_id, job in self.jobs.items():
            if job.get("ended"):
                continue
            info = self.client.get_job_info(job["submission_id"])
            status = str(getattr(info.status, "value", info.status))
            if status not in ENDED:
                continue
            summary = self._fetch(job)
            if summary is None and status != "STOPPED" and job["attempt"] <= self.cfg.retries:
                self._submit_retry(variant_id)
                continue
            job["ended"] = status
            if summary is None:
                code = info.driver_exit_code
                summary = {
                    "id": variant_id,
                    "attempt": job["attempt"],
                    "ok": False,
                    "error": f"job {job['submission_id']} ended {status}"
                    + (f" (exit {code})" if code is not None else "")
                    + " without a result",
                }
            out.append((variant_id, summary))
        self.save()
        return out

    def _submit_retry(self, variant_id: str) -> None:
        job = self.jobs[variant_id]
        job["attempt"] += 1
        job["submission_id"] = self.submission_id(variant_id, job["attempt"])
        self.save()
        self._submit(variant_id)

    def _fetch(self, job: dict) -> dict | None:
        """The job's summary from storage, its folder copied to job['local'] (None: it left no summary)."""
        here = job["local"]
        try:
            copy_tree(job["storage"], here)
        except (OSError, FileNotFoundError):
            return None
        path = Path(here) / "summary.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def stop_all(self) -> list[str]:
        """Stop every job still running; their submission ids."""
        stopped = []
        for job in self.jobs.values() if self.client is not None else []:
            if not job.get("ended") and job.get("submission_id") and self._exists(job["submission_id"]):
                self.client.stop_job(job["submission_id"])
                job["ended"] = "STOPPED"
                stopped.append(job["submission_id"])
        return stopped

    def close(self) -> None:
        """Jobs outlive this process by design (reattach); an interrupted sweep stops them (`stop_all`)."""


def main() -> int:
    """A job's entrypoint, in its working_dir (the project's copy): run the variant, leave its folder in storage."""
    from forge.sweep.variant_run import run_variant

    request = json.loads(os.environ[REQUEST_ENV])
    storage = request["storage"]
    with tempfile.TemporaryDirectory() as tmp:
        out = storage if not is_url(storage) else str(Path(tmp) / "variant")
        summary = run_variant(str(Path.cwd()), request["variant_id"], request["overlay"], out, request["deadline_in_s"])
        if is_url(storage):
            copy_tree(out, storage)
    return 0 if summary.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
