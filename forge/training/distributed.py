"""Data-parallel training on one machine in compute.num_processes processes, through accelerate's launcher
(torch.distributed underneath): DDP, with NCCL on GPUs and gloo on CPU.

The process the user started checks everything, then launches the workers and shows rank 0's output
(its progress bar too). Every worker runs forge.training.sft.train on its share of each batch; only rank 0
writes: checkpoints' resume record, tracker logs, the adapter with its forge_meta.json, and the
result, which the launching process returns. Steps share one request/result format with
compute.remote (forge.remote.steps).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from forge.atomic import write_json_atomic
from forge.errors import ForgeError


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def in_worker() -> bool:
    return "LOCAL_RANK" in os.environ


def worker_device(device: str) -> str:
    """A worker's own GPU (cuda:LOCAL_RANK) in a data-parallel run; `device` otherwise."""
    return f"cuda:{os.environ['LOCAL_RANK']}" if in_worker() and device.startswith("cuda") else device


def any_rank(flag: bool) -> bool:
    """`flag` OR-ed over all processes: a stop decision every process must take at the same step."""
    import torch
    import torch.distributed as dist

    if world_size() == 1 or not dist.is_initialized():
        return flag
    device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(project, n: int, device: str, kwargs: dict, echo, deadline: float | None):
    """forge.training.sft.train(project, **kwargs) in n processes; returns rank 0's TrainResult."""
    import json
    import shutil

    from forge.live_bar import ENV as BAR_ENV
    from forge.live_bar import LogLines, wants_events
    from forge.remote.steps import encode, seconds_left, value_of

    if device.startswith("cuda"):
        import torch

        if torch.cuda.device_count() < n:
            raise ForgeError(
                f"compute.num_processes {n}: this machine has {torch.cuda.device_count()} GPU(s); "
                "use at most one process per GPU"
            )
    work = project.distributed_dir
    shutil.rmtree(work, ignore_errors=True)
    request = {
        "function": "forge.training.sft:train",
        "kwargs": encode(kwargs, project.root),
        "echo": True,
        "deadline_in_s": seconds_left(deadline),
    }
    write_json_atomic(work / "request.json", request)
    env = {k: v for k, v in os.environ.items() if k != BAR_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    if wants_events():
        env[BAR_ENV] = "events"
    if not device.startswith("cuda"):
        env["ACCELERATE_USE_CPU"] = "true"
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n)))
    config = project.config.compute.accelerate_config
    if config:  # FSDP, DeepSpeed...: the file decides (a mode flag here would override it)
        if not project.path(config).is_file():
            raise ForgeError(f"compute.accelerate_config {config}: file not found")
        mode, how = ["--config_file", str(project.path(config))], f"config {config}"
    else:  # precision is forge's own choice (TrainingArguments), not the launcher's
        mode = ["--multi_gpu", "--mixed_precision", "no", "--dynamo_backend", "no"]
        how = f"DDP over {'nccl' if device.startswith('cuda') else 'gloo'}"
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *mode,
        "--num_processes",
        str(n),
        "--num_machines",
        "1",
        "--main_process_port",
        str(_free_port()),
        "-m",
        "forge.training.distributed",
        str(work),
    ]
    echo(f"training in {n} processes (accelerate, {how})")
    lines = LogLines(echo)
    with open(work / "log", "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=project.root)
        assert proc.stdout is not None  # stdout=PIPE
        try:
            while chunk := os.read(proc.stdout.fileno(), 65536):
                log.write(chunk)
                lines.feed(chunk)
        finally:
            lines.close()
            rc = proc.wait()
    result_path = work / "result.json"
    if not result_path.is_file():
        raise ForgeError(f"the {n} training processes failed (exit {rc}); their output: {project.rel(work / 'log')}")
    return value_of(json.loads(result_path.read_text(encoding="utf-8")), project.root)


if __name__ == "__main__":  # one worker, started by accelerate's launcher
    from forge.project.project import find_root
    from forge.remote.steps import run_step

    step_dir = Path(sys.argv[1])
    run_step(find_root(step_dir), step_dir, main=is_main())
    raise SystemExit(0)  # the result file carries any error: no launcher traceback on top of forge's line
