"""Sweeps on Ray, for real, on this machine: a private cluster with logical GPUs runs variants two at once, a
killed worker is retried or becomes a failed row, a Python error is a failed row, SIGTERM leaves no Ray process;
a `ray start --head` cluster takes jobs through its Jobs API, and a forge killed with -9 reattaches without
starting any job twice. Promotion honours the noise floor, and the heuristic planner measures it."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from forge.agent import lifecycle
from forge.agent.budgets import Budgets
from forge.agent.planners import HeuristicPlanner
from forge.agent.transcript import read_events
from forge.config import load as config_io
from forge.errors import ConfigError, ForgeError
from forge.evaluation.promotion import PromotionRefused, check
from forge.project import records
from forge.project.project import Project
from forge.sweep.sweep import run_sweep
from forge.sweep.variants import parse_set, plan

from engine_fixtures import make_agent_project, make_project

VENV_BIN = Path(sys.executable).parent
QUICK = {"training": {"epochs_min": 1, "epochs_max": 1}}


def ray_pids(marker: str) -> list[int]:
    """Pids of live processes whose command line holds `marker` (a cluster's temp dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def no_ray_left(marker: str, within_s: float = 15) -> None:
    end = time.monotonic() + within_s
    while ray_pids(marker) and time.monotonic() < end:
        time.sleep(0.3)
    assert ray_pids(marker) == []


def sweep_project(root: Path, model: Path, **ray) -> Project:
    ray = {"local_cpus": 2, **ray}
    make_project(root, model, method="lora", n_train=16, compute={"device": "cpu", "ray": ray}, **QUICK)
    return Project.open(root)


def when_started(variants_dir: Path, count: int = 1, timeout_s: float = 120) -> list[dict]:
    """The first attempt line of `count` variants, once they exist."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        lines = [
            json.loads(p.read_text().splitlines()[0])
            for p in sorted(variants_dir.glob("*/attempts.jsonl"))
            if p.read_text().strip()
        ]
        if len(lines) >= count:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"no variant started in {variants_dir}")


def test_the_plan_is_a_grid_of_overlays_over_seeds(tmp_path, nano_model):
    project = sweep_project(tmp_path / "p", nano_model)
    variants = plan(project, [parse_set("training.learning_rate=1e-4,2e-4"), parse_set("lora.r=8,16")], seeds=2)
    assert len(variants) == 8 and len({v.id for v in variants}) == 8 and len({v.config_id for v in variants}) == 4
    assert variants[0].overlay == {
        "training": {"learning_rate": 1e-4, "seed": 42, "warm_start": "none"},
        "lora": {"r": 8},
    }
    assert [v.seed for v in variants[:2]] == [42, 43]
    assert len(plan(project, [parse_set("lora.r=4,8,16,32")], random_n=2)) == 2
    for bad, said in (
        ("eval.target_accuracy=0.5,0.9", "cannot be swept"),
        ("training.seed=1,2", "set by --seeds"),
        ("training.lerning_rate=1", "not a forge.yaml key"),
        ("training.learning_rate=-1", "training.learning_rate: must be > 0"),
        ("lora.r", "expected KEY=VALUE"),
    ):
        with pytest.raises(ConfigError, match=said):
            plan(project, [parse_set(bad)])
    with pytest.raises(ConfigError, match="excludes compute.remote"):
        config_io.patch_file(project.config_path, {"compute": {"remote": "ssh://h/p"}})
    with pytest.raises(ConfigError, match="compute.ray.storage: needed"):
        config_io.patch_file(project.config_path, {"compute": {"ray": {"address": "http://127.0.0.1:1"}}})


def test_a_private_cluster_runs_two_variants_at_once_on_their_own_gpus(tmp_path, nano_model):
    project = sweep_project(tmp_path / "p", nano_model, local_gpus=2, gpus_per_experiment=1)
    lines: list[str] = []
    result = run_sweep(project, plan(project, [parse_set("training.learning_rate=1e-2,5e-3,2e-3")]), echo=lines.append)
    assert "2 GPUs" in result.where
    rows = sorted(result.rows, key=lambda r: r["started_at"])
    assert [r["ok"] for r in rows] == [True] * 3
    # two at once, each on its own logical GPU; the third waited for one to end
    assert {rows[0]["cuda_visible_devices"], rows[1]["cuda_visible_devices"]} == {"0", "1"}
    assert rows[1]["started_at"] < rows[0]["ended_at"]
    assert rows[2]["started_at"] >= min(rows[0]["ended_at"], rows[1]["ended_at"]) - 0.5
    folders = sorted(p.name for p in project.variants_dir.iterdir())
    assert len(folders) == 3 and all((project.variants_dir / f / "adapter").is_dir() for f in folders)
    assert sorted(p.name for p in project.tracker_dir.iterdir()) == folders
    sweep_rows = [r for r in records.experiments(project) if r.get("sweep")]
    assert len(sweep_rows) == 3 and {r["sweep"]["id"] for r in sweep_rows} == {result.id}
    assert [t["tried"] for t in result.table] == [1, 1, 1]
    # the best is installed with its eval: `promote` takes it, under the variant's iteration number
    best = result.best
    assert best is not None
    installed = project.read_state(records.RESULTS)
    assert installed["sweep"] == {"id": result.id, "variant": best["id"], "iteration": best["iteration"]}
    assert check(project)["accuracy"] == best["accuracy"]
    from forge.evaluation.promotion import promote

    assert promote(project)["iteration"] == best["iteration"]
    assert any(f"variant {best['id']}" in line for line in lines)
    no_ray_left("/tmp/forge-ray-")


@pytest.mark.slow
def test_a_killed_worker_is_run_again(tmp_path, nano_model):
    project = sweep_project(tmp_path / "p", nano_model, retries=1)
    lines: list[str] = []

    def kill_first_attempt():
        first = when_started(project.variants_dir)[0]
        os.kill(first["pid"], signal.SIGKILL)

    killer = threading.Thread(target=kill_first_attempt)
    killer.start()
    result = run_sweep(project, plan(project, [parse_set("training.learning_rate=1e-2")]), echo=lines.append)
    killer.join()
    assert result.rows[0]["ok"] and result.rows[0]["attempt"] == 2
    assert any("its worker died; Ray ran it again (attempt 2)" in line for line in lines)
    attempts = next(project.variants_dir.glob("*/attempts.jsonl")).read_text().splitlines()
    assert len(attempts) == 2
    no_ray_left("/tmp/forge-ray-")


def test_without_retries_a_killed_worker_and_a_python_error_are_failed_rows(tmp_path, nano_model):
    project = sweep_project(tmp_path / "p", nano_model, retries=0, max_parallel=1)
    lines: list[str] = []

    def kill_first():
        os.kill(when_started(project.variants_dir)[0]["pid"], signal.SIGKILL)

    killer = threading.Thread(target=kill_first)
    killer.start()
    axes = [parse_set('lora.target_modules=["q_proj"],["no_such_module"],["v_proj"]')]
    result = run_sweep(project, plan(project, axes), echo=lines.append)
    killer.join()
    by_label = {r["label"]: r for r in result.rows}
    killed = by_label["lora.target_modules=['q_proj']"]
    assert not killed["ok"] and "worker died 1 time(s) (compute.ray.retries: 0)" in killed["error"]
    bad = by_label["lora.target_modules=['no_such_module']"]
    assert not bad["ok"] and "no_such_module" in bad["error"] and "\n" not in bad["error"]
    assert by_label["lora.target_modules=['v_proj']"]["ok"]
    assert result.best and result.best["label"] == "lora.target_modules=['v_proj']"
    assert len([r for r in records.experiments(project) if r.get("sweep")]) == 1
    assert sum("failed:" in line for line in lines) == 2
    no_ray_left("/tmp/forge-ray-")


@pytest.mark.slow
def test_sigterm_stops_the_sweep_and_every_ray_process(tmp_path, nano_model):
    project = sweep_project(tmp_path / "p", nano_model)
    config_io.patch_file(project.config_path, {"training": {"epochs_min": 30, "epochs_max": 30}})
    proc = subprocess.Popen(
        [str(VENV_BIN / "forge"), "sweep", "--set", "training.learning_rate=1e-2,5e-3", "-p", str(project.root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    when_started(project.variants_dir, count=2)
    assert ray_pids("/tmp/forge-ray-")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Error: sweep stopped: SIGTERM received" in err and "Traceback" not in err
    no_ray_left("/tmp/forge-ray-")
    record = json.loads(next(project.sweeps_dir.glob("*.json")).read_text())
    assert not record["ended"]  # the same command resumes it


def free_ports(n: int) -> list[int]:
    """n distinct free ports (all held open while picked, so none is picked twice)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


PORT_FLAGS = (
    "--port",
    "--dashboard-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
    "--metrics-export-port",
    "--ray-client-server-port",
    "--node-manager-port",
    "--object-manager-port",
)


@pytest.fixture
def ray_head(tmp_path, monkeypatch):
    """A Ray cluster of its own (`ray start --head`, Jobs API on, every port its own), token auth on, stopped by
    SIGTERM to its pid however the test ends."""
    temp = Path(f"/tmp/forge-head-{secrets.token_hex(3)}")
    temp.mkdir()
    token = temp / "token"
    token.write_text(secrets.token_hex(32))
    env = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from ray._raylet import AuthenticationTokenLoader

    # Ray keeps the token it read first for the process: an earlier test's private cluster read ~/.ray's
    AuthenticationTokenLoader.instance().reset_cache()
    ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
    head = subprocess.Popen(
        [str(VENV_BIN / "ray"), "start", "--head", "--block", "--temp-dir", str(temp), "--num-cpus", "2"]
        + ["--include-dashboard", "true", *(x for flag, port in ports.items() for x in (flag, str(port)))],
        env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    from ray.job_submission import JobSubmissionClient

    address = f"http://127.0.0.1:{ports['--dashboard-port']}"
    try:
        end = time.monotonic() + 120
        while True:
            try:
                client = JobSubmissionClient(address)
                client.list_jobs()
                break
            except Exception:
                if time.monotonic() > end or head.poll() is not None:
                    raise
                time.sleep(0.5)
        yield address, client
    finally:
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=60)
        no_ray_left(str(temp), within_s=30)
        monkeypatch.undo()
        AuthenticationTokenLoader.instance().reset_cache()
        import shutil

        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_jobs_on_a_cluster_reattach_after_kill_9_and_start_nothing_twice(tmp_path, nano_model, ray_head):
    address, client = ray_head
    storage = tmp_path / "storage"
    project = sweep_project(tmp_path / "p", nano_model, address=address, storage=str(storage), retries=0)
    argv = [str(VENV_BIN / "forge"), "sweep", "--set", "training.learning_rate=1e-2,5e-3,2e-3", "-p", str(project.root)]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = when_started_in(storage, count=1, forge=first)
    first.kill()  # kill -9 of forge: its jobs go on on the cluster
    first.communicate(timeout=30)
    os.kill(started[0]["pid"], signal.SIGKILL)  # and one job's process dies: a failed row (retries: 0)
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    said = again.stdout + again.stderr
    assert "resuming" in said and "reattached to job" in said, said
    record = json.loads(next(project.sweeps_dir.glob("*.json")).read_text())
    assert record["ended"]
    states = list(record["state"].values())
    assert sorted(s["status"] for s in states) == ["done", "done", "failed"]
    failed = next(s for s in states if s["status"] == "failed")
    assert "ended FAILED" in failed["error"] and "without a result" in failed["error"]
    jobs = [j for j in client.list_jobs() if (j.metadata or {}).get("forge_sweep") == record["id"]]
    assert len(jobs) == 3 and len({j.submission_id for j in jobs}) == 3  # none started twice
    assert len(list(project.variants_dir.glob("*/adapter"))) == 2
    assert len([r for r in records.experiments(project) if r.get("sweep")]) == 2
    assert "\n".join(json.dumps(r) for r in records.experiments(project)).count(str(storage)) == 0
    # `forge remote cancel` stops the jobs of a sweep whose forge was killed
    long_runs = ["--set", "training.epochs_min=100", "--set", "training.epochs_max=100", "--set", "lora.r=4,16"]
    cancelled = subprocess.Popen(argv[:2] + long_runs + argv[4:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    when_started_in(storage, count=4, forge=cancelled)
    cancelled.kill()
    cancelled.communicate(timeout=30)
    said = subprocess.run([argv[0], "remote", "cancel", "-p", str(project.root)], capture_output=True, text=True)
    assert said.returncode == 0 and said.stdout.count("stopped job forge-") == 2, said
    for line in said.stdout.splitlines():
        submission = line.split()[2]
        end = time.monotonic() + 30
        while str(client.get_job_status(submission)) not in ("STOPPED", "JobStatus.STOPPED"):
            assert time.monotonic() < end, client.get_job_status(submission)
            time.sleep(0.2)


def when_started_in(storage: Path, count: int, forge: subprocess.Popen, timeout_s: float = 180) -> list[dict]:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if forge.poll() is not None:
            raise AssertionError(f"forge ended before a job started: {forge.communicate()}")
        found = [json.loads(p.read_text().splitlines()[0]) for p in storage.glob("*/*/attempts.jsonl") if p.read_text()]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no job started in {storage}")


def test_an_unreachable_cluster_is_one_line(tmp_path, nano_model, cli):
    project = sweep_project(tmp_path / "p", nano_model, address=f"http://127.0.0.1:{free_port()}", storage="/tmp/x")
    result = subprocess.run(
        [str(VENV_BIN / "forge"), "sweep", "--set", "lora.r=4,8", "-p", str(project.root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert (
        lines[-1].startswith("Error: compute.ray.address http://127.0.0.1:") and "no Ray cluster answers" in lines[-1]
    )
    assert "Traceback" not in result.stderr


def test_storage_may_be_an_fsspec_url(tmp_path):
    from forge.sweep.ray_jobs import copy_tree

    src = tmp_path / "variant"
    (src / "adapter").mkdir(parents=True)
    (src / "adapter" / "w.safetensors").write_bytes(b"weights")
    (src / "summary.json").write_text("{}")
    url = f"file://{tmp_path}/bucket/sweep/v1"
    copy_tree(str(src), url)  # what a job does at its end
    back = tmp_path / "back"
    copy_tree(url, str(back))  # what forge does when the job ended
    assert (back / "adapter" / "w.safetensors").read_bytes() == b"weights" and (back / "summary.json").is_file()


def test_a_project_above_rays_upload_limit_is_refused_in_one_line(tmp_path, nano_model):
    from forge.sweep.ray_jobs import JobsCluster, upload_limit

    project = sweep_project(tmp_path / "p", nano_model, address="http://127.0.0.1:9", storage="/tmp/x")
    with open(project.root / "dataset" / "big.bin", "wb") as fh:  # sparse: no disk used
        fh.truncate(upload_limit() + 2**20)
    with pytest.raises(ForgeError, match=r"MiB to carry as each job's working_dir, above Ray's 512 MiB"):
        JobsCluster(project.config.compute.ray, project.root, "s", {}, lambda: None).start()
    (project.root / "output" / "big.bin").parent.mkdir(exist_ok=True)
    (project.root / "dataset" / "big.bin").rename(project.root / "output" / "big.bin")  # output/ is not carried
    with pytest.raises(ForgeError, match="no Ray cluster answers there"):
        JobsCluster(project.config.compute.ray, project.root, "s", {}, lambda: None).start()


def test_promotion_needs_a_gain_above_the_noise_floor(tmp_path, nano_model):
    project = sweep_project(tmp_path / "p", nano_model)
    run_sweep(project, plan(project, [parse_set("training.learning_rate=1e-2")]))
    results = project.read_state(records.RESULTS)
    ids = sorted(results["per_example"])
    gold = {"gold_hash": results["gold"]["hash"], "schema_hash": records.schema_hash_of(results)}

    def best_with(correct: int) -> None:
        per = {k: i < correct for i, k in enumerate(ids)}
        best = {"accuracy": correct / len(ids), "iteration": 0, "per_example": per, **gold}
        (project.output / records.BEST).write_text(json.dumps(best))

    n = len(ids)
    results["per_example"] = {k: True for k in ids}
    results["accuracy"], results["correct"] = 1.0, n
    (project.output / records.RESULTS).write_text(json.dumps(results))
    floor = {"sweep": "s", "label": "x", "accuracies": [0.5, 0.6, 0.75], "spread": 0.25, **gold}
    records.write_noise_floor(project, floor)
    best_with(n - 2)  # +2 examples: inside the floor
    with pytest.raises(PromotionRefused, match="inside the noise floor of 25.0 points"):
        check(project)
    records.write_noise_floor(project, {**floor, "spread": 0.05})
    with pytest.raises(PromotionRefused, match="McNemar's test gives p=0.500"):
        check(project)
    best_with(n - 8)  # +8 of 16: above the floor, and p < 0.05
    assert check(project)["accuracy"] == 1.0
    records.write_noise_floor(project, {**floor, "gold_hash": "another"})  # measured on another gold set: void
    best_with(n - 1)
    assert check(project)["accuracy"] == 1.0


@pytest.mark.slow
def test_the_heuristic_planner_measures_the_noise_floor_first(tmp_path, nano_model):
    root = make_agent_project(
        tmp_path / "p",
        nano_model,
        compute={"device": "cpu", "ray": {"local_cpus": 2}},
        agent={"noise_floor_seeds": 3},
        **QUICK,
    )
    project = Project.open(root)
    outcome, transcript = lifecycle.start(
        project, "reach the target", HeuristicPlanner(project), Budgets(max_iterations=4)
    )
    calls = [e for e in read_events(transcript.path) if e["event"] == "tool_call"]
    assert calls[0]["name"] == "sweep" and calls[0]["input"]["noise_floor"] is True
    floor = records.noise_floor_now(project)
    assert floor is not None and len(floor["accuracies"]) == 3
    from forge.project.status import collect, render

    assert f"Noise floor: {floor['spread'] * 100:.1f} points (3 seeds of" in render(collect(project))
    from forge.project.report import build

    page = build(project)
    assert "<h2>Sweeps</h2>" in page and "spread (max − min)" in page and "Noise floor:" in page
    assert floor["spread"] == round(max(floor["accuracies"]) - min(floor["accuracies"]), 6)
    sweep_rows = [r for r in records.experiments(project) if r.get("sweep")]
    assert sorted(r["sweep"]["seed"] for r in sweep_rows) == [42, 43, 44]
    # the sweep counted three iterations: one train was left of the budget of four
    assert [c["name"] for c in calls].count("train") == 1
    assert "iteration budget" in outcome.reason or outcome.reason == "the planner finished"
