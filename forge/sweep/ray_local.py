"""A private Ray cluster on this machine, for one sweep: started by forge, each variant a Ray task, stopped
when the sweep ends (or is interrupted: Ray's processes are children of this one and go with it).

Each task runs forge.sweep.variant_run in a fresh worker process (max_calls=1, so a trained model's memory goes
back with it), holding compute.ray's CPUs and GPUs: Ray gives it its own CUDA_VISIBLE_DEVICES, and a variant
that does not fit waits for one that ends. A worker that dies is run again up to compute.ray.retries times by
Ray itself; a Python error is caught inside the task and comes back as a failed summary.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from forge.errors import ForgeError, first_line

QUIET = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}


class LocalCluster:
    """The sweep backend of a private cluster: start, submit a variant, wait for finished ones, close."""

    def __init__(self, ray_cfg, root: Path, max_memory_gb: float | None = None):
        self.cfg, self.root = ray_cfg, Path(root)
        self.max_memory_gb = max_memory_gb  # training.max_memory_gb of forge.yaml (None: automatic)
        self.memory_share_gb: float | None = None
        self.refs: dict = {}  # Ray ObjectRef -> variant id
        self.temp_dir: str | None = None
        self.gpus = 0.0

    def start(self) -> str:
        import ray

        for key, value in QUIET.items():
            os.environ.setdefault(key, value)
        # Ray names unix sockets after its temp dir; a short one keeps them under the 107-byte limit
        self.temp_dir = tempfile.mkdtemp(prefix="forge-ray-", dir="/tmp")
        env = {name: os.environ[name] for name in self.cfg.env_vars if name in os.environ}
        ray.init(
            num_cpus=self.cfg.local_cpus,
            num_gpus=self.cfg.local_gpus,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            _temp_dir=self.temp_dir,
            runtime_env={"env_vars": env} if env else None,
        )
        resources = ray.cluster_resources()
        self.gpus = resources.get("GPU", 0.0)
        if self.per_experiment_gpus() > self.gpus or self.cfg.cpus_per_experiment > resources.get("CPU", 0):
            self.close()
            raise ForgeError(
                f"compute.ray: an experiment asks for {self.cfg.cpus_per_experiment:g} CPUs and "
                f"{self.per_experiment_gpus():g} GPUs; the private cluster has "
                f"{resources.get('CPU', 0):g} and {self.gpus:g}"
            )
        shared = self._memory_share()
        return f"a private Ray cluster: {resources.get('CPU', 0):g} CPUs, {self.gpus:g} GPUs" + shared

    def _memory_share(self) -> str:
        """Experiments that share this machine's RAM (no GPU of their own) split its budget: each gets
        training.max_memory_gb (or 85% of the free RAM) over how many run at once."""
        from forge.models.memory import FREE_SHARE, GB, available_bytes

        at_once = min(self.fits(), self.cfg.max_parallel or self.fits())
        if self.per_experiment_gpus() >= 1 or at_once < 2:
            return ""
        free = available_bytes()
        total = self.max_memory_gb if self.max_memory_gb is not None else (FREE_SHARE * free / GB if free else None)
        if total is None:
            return ""
        self.memory_share_gb = round(total / at_once, 2)
        return f"; {at_once} at once share the RAM: training.max_memory_gb {self.memory_share_gb:g} each"

    def per_experiment_gpus(self) -> float:
        wanted = self.cfg.gpus_per_experiment
        return (1.0 if self.gpus else 0.0) if wanted is None else wanted

    def fits(self) -> int:
        """How many experiments the cluster runs at once (its CPUs and GPUs over each one's share)."""
        import ray

        res = ray.cluster_resources()
        counts = []
        if self.cfg.cpus_per_experiment:
            counts.append(int(res.get("CPU", 0) // self.cfg.cpus_per_experiment))
        if self.per_experiment_gpus():
            counts.append(int(res.get("GPU", 0) // self.per_experiment_gpus()))
        return max(1, min(counts)) if counts else 1

    def submit(self, variant_id: str, overlay: dict, out_dir: Path, deadline_in_s: float | None) -> None:
        import ray

        from forge.sweep.variant_run import run_variant

        task = ray.remote(max_calls=1)(run_variant).options(  # a fresh worker per variant: its memory goes back
            num_cpus=self.cfg.cpus_per_experiment,
            num_gpus=self.per_experiment_gpus(),
            max_retries=self.cfg.retries,
            retry_exceptions=False,
            name=f"forge-variant-{variant_id}",
        )
        if self.memory_share_gb is not None and "max_memory_gb" not in overlay.get("training", {}):
            overlay = {**overlay, "training": {**overlay.get("training", {}), "max_memory_gb": self.memory_share_gb}}
        ref = task.remote(str(self.root), variant_id, overlay, str(out_dir), deadline_in_s)
        self.refs[ref] = variant_id

    def wait(self, timeout_s: float) -> list[tuple[str, dict]]:
        """(variant id, summary) of the variants that ended within `timeout_s`; a dead worker past its retries is
        a failed summary."""
        import ray
        from ray.exceptions import RayError

        if not self.refs:
            return []
        done, _ = ray.wait(list(self.refs), num_returns=len(self.refs), timeout=timeout_s)
        out = []
        for ref in done:
            variant_id = self.refs.pop(ref)
            try:
                out.append((variant_id, ray.get(ref)))
            except RayError as exc:
                tries = self.cfg.retries + 1
                why = f"its worker died {tries} time(s) (compute.ray.retries: {self.cfg.retries})"
                out.append((variant_id, {"id": variant_id, "ok": False, "error": f"{why}: {type(exc).__name__}"}))
            except Exception as exc:  # ray.get re-raises a task's error; run_variant catches its own
                out.append((variant_id, {"id": variant_id, "ok": False, "error": first_line(exc)}))
        return out

    def running(self) -> int:
        return len(self.refs)

    def reattach(self, variant_id: str) -> bool:
        """Never: a private cluster died with the forge that started it, and its variants run again."""
        return False

    def stop_all(self) -> list[str]:
        """Cancel every variant still running (their workers are killed); their ids."""
        import ray

        stopped = list(self.refs.values())
        for ref in list(self.refs) if ray.is_initialized() else []:
            ray.cancel(ref, force=True, recursive=True)
        self.refs.clear()
        return stopped

    def close(self) -> None:
        """Cancel what still runs and stop the cluster (every Ray process of it)."""
        import ray

        if not ray.is_initialized():
            return
        self.stop_all()
        ray.shutdown()
        if self.temp_dir:
            import shutil

            shutil.rmtree(self.temp_dir, ignore_errors=True)
