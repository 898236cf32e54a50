"""One writer at a time: concurrent commands lose no data, a run lock names its holder, faults lose nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from forge.data.datasets import load_examples
from forge.project.project import RUN_HOLDER_FILE as HOLDER_FILE
from forge.project.project import Project

from conftest import chat, write_jsonl

CLI = "import sys; from forge.cli import main; sys.exit(main())"


def forge_proc(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


def unique_rows(tag: str, n: int) -> list[dict]:
    return [chat(f"turn on the lights, request {tag}-{i}", '{"cmd": "lights_on"}') for i in range(n)]


def test_concurrent_imports_lose_nothing(project_dir, tmp_path):
    """Six `forge import`s at once, three rounds: every example lands (before the lock, most were lost)."""
    processes, rounds, per_file = 6, 3, 300
    for r in range(rounds):
        files = []
        for i in range(processes):
            files.append(tmp_path / f"in_{r}_{i}.jsonl")
            write_jsonl(files[-1], unique_rows(f"{r}.{i}", per_file))
        procs = [forge_proc("import", f, "-p", project_dir) for f in files]
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0 and f"kept: {per_file}" in out, err
    kept = load_examples(project_dir / "dataset" / "canonical.jsonl")
    assert len(kept) == processes * rounds * per_file


def hold_run_lock(output: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the project's run lock as `agent run`, until it is killed or `seconds` pass."""
    code = textwrap.dedent(f"""
        import sys, time
        from forge.project.run_lock import run_lock
        with run_lock({str(output)!r}, "agent run", "20261201-000000"):
            print("held", flush=True)
            time.sleep({seconds})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_command_that_would_change_a_run_is_refused_naming_the_holder(project_dir, cli):
    holder = hold_run_lock(project_dir / "output", 60)
    try:
        for args in (
            ["clean"],
            ["promote"],
            ["train"],
            ["eval"],
            ["tool", "run", "patch_config", "--json", '{"training": {"epochs_max": 3}}'],
        ):
            result = cli(*args, "-p", project_dir)
            assert result.exit_code == 1, (args, result.output)
            line = result.output.strip().splitlines()[-1]
            assert "the project is held by `forge agent run` (pid " in line and f"on {socket.gethostname()}" in line
            assert "run 20261201-000000, since " in line and "wait with --wait" in line, line
        # adding data goes through: import takes the file lock only
        write_jsonl(project_dir / "more.jsonl", unique_rows("x", 5))
        assert cli("import", project_dir / "more.jsonl", "-p", project_dir).exit_code == 0
        # read-only commands always work, and status names the holder
        status = cli("status", "-p", project_dir)
        assert status.exit_code == 0 and "Held by" in status.output and "`forge agent run` (pid" in status.output
    finally:
        holder.kill()
        holder.wait()


def test_wait_waits_for_the_holder_then_runs(project_dir):
    holder = hold_run_lock(project_dir / "output", 3)
    start = time.monotonic()
    proc = forge_proc("clean", "--wait", "-p", project_dir)
    out, err = proc.communicate(timeout=120)
    holder.wait()
    assert proc.returncode == 0, err
    assert "waiting for `forge agent run` (pid" in err and time.monotonic() - start >= 2


def test_a_dead_holder_is_taken_over_with_a_note_and_another_host_is_not(project_dir, cli):
    output = project_dir / "output"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    info = {
        "command": "flywheel",
        "pid": gone.pid,
        "host": socket.gethostname(),
        "run_id": "r1",
        "since": "2026-12-01T00:00:00Z",
    }
    (output / HOLDER_FILE).write_text(json.dumps(info))
    proc = forge_proc("clean", "-p", project_dir)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and f"note: took over the run lock of `forge flywheel` (pid {gone.pid}" in err
    assert "that process is gone" in err and not (output / HOLDER_FILE).exists()
    (output / HOLDER_FILE).write_text(json.dumps({**info, "host": "gpu-box-7"}))
    result = cli("clean", "-p", project_dir)
    assert result.exit_code == 1 and "holds the project from another host" in result.output
    assert (output / HOLDER_FILE).exists()  # never taken over silently


def test_the_run_lock_is_reentrant_and_released_by_a_kill(project_dir):
    from forge.project.run_lock import ProjectBusy, run_lock

    output = project_dir / "output"
    with run_lock(output, "agent run"):
        with run_lock(output, "train"):  # the agent's own train: same process
            pass
    holder = hold_run_lock(output, 60)
    with pytest.raises(ProjectBusy):
        with run_lock(output, "eval"):
            pass
    holder.kill()  # kill -9: the kernel drops the flock
    holder.wait()
    with run_lock(output, "eval", echo=lambda _l: None):
        pass


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (forge's tests run as root): writes into it run out of space."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root?)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_keeps_the_training_set_whole(small_disk, cli):
    from forge.project.scaffold import init_project

    root = small_disk / "p"
    init_project("p", root)
    canonical = root / "dataset" / "canonical.jsonl"
    write_jsonl(small_disk / "first.jsonl", unique_rows("a", 50))
    assert cli("import", small_disk / "first.jsonl", "-p", root).exit_code == 0
    before = canonical.read_bytes()
    big = [chat(f"request {i} " + "x" * 2000, '{"cmd": "lights_on"}') for i in range(400)]  # ~800 KB
    (small_disk / "filler").write_bytes(b"\0" * (2 * 1024 * 1024 - 3 * len(before) - 200_000))
    src = Path(os.environ.get("TMPDIR", "/tmp")) / f"big-{os.getpid()}.jsonl"
    write_jsonl(src, big)
    try:
        result = cli("import", src, "-p", root)
    finally:
        src.unlink()
    assert result.exit_code == 1
    line = result.output.strip()
    assert line.startswith(f"Error: {canonical}: no space left on the device (") and " free)" in line, line
    assert len(line.splitlines()) == 1 and "Traceback" not in result.output
    assert canonical.read_bytes() == before
    assert not [p for p in canonical.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_keeps_the_previous_adapter(small_disk):
    from forge.atomic import DiskFull
    from forge.training.model_io import save_swapped

    final = small_disk / "adapter"
    final.mkdir()
    (final / "adapter_model.safetensors").write_bytes(b"old weights")

    def save(tmp: Path) -> None:
        tmp.mkdir()
        (tmp / "adapter_model.safetensors").write_bytes(b"\1" * (3 * 1024 * 1024))  # more than the disk holds

    with pytest.raises(DiskFull, match=r"adapter: no space left on the device \(.* free\)"):
        save_swapped(final, {"base": "m"}, save)
    assert (final / "adapter_model.safetensors").read_bytes() == b"old weights"
    assert sorted(p.name for p in small_disk.iterdir()) == ["adapter"]


def test_a_full_disk_removes_a_partial_gguf(small_disk, nano_model):
    from forge.atomic import DiskFull
    from forge.export.gguf.convert import write_gguf
    from forge.export.gguf.vocab import build_vocab
    from forge.models.loading import load_causal_lm, load_tokenizer

    model, tok = load_causal_lm(str(nano_model), "cpu"), load_tokenizer(str(nano_model))
    (small_disk / "filler").write_bytes(b"\0" * (2 * 1024 * 1024 - 64 * 1024))
    vocab = build_vocab(tok, model.get_input_embeddings().weight.shape[0], None)
    with pytest.raises(DiskFull, match=r"m\.gguf: no space left on the device"):
        write_gguf(model.float(), vocab, small_disk / "m.gguf", "f32", "test")
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_a_record_cut_by_a_crash_reads_what_came_before(project_dir, cli):
    experiments = project_dir / "output" / "experiments.jsonl"
    rows = [{"iteration": 1, "accuracy": 0.5, "time": "2026-12-01T00:00:00Z"}]
    experiments.write_text(json.dumps(rows[0]) + "\n" + '{"iteration": 2, "accur')
    project = Project.open(project_dir)
    assert project.read_jsonl_state("experiments.jsonl") == rows
    status = forge_proc("status", "-p", project_dir)
    out, err = status.communicate(timeout=120)
    assert status.returncode == 0, err
    assert "warning: output/experiments.jsonl:2: the last line was cut by a crash mid-write" in err


def test_a_transcript_cut_by_a_crash_is_read_up_to_the_cut(tmp_path, capsys):
    from forge.agent.transcript import Transcript, read_events

    t = Transcript(tmp_path / "r1" / "transcript.jsonl")
    t.write("run_start", goal="g")
    t.write("note", text="n")
    with open(t.path, "a") as fh:
        fh.write('{"event": "model_resp')
    assert [e["event"] for e in read_events(t.path)] == ["run_start", "note"]
    assert "transcript.jsonl:3: the last line was cut by a crash mid-write" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_mid_training_stops_at_a_safe_point_and_resume_finishes(tmp_path, nano_model):
    """A plain `kill` (SIGTERM) during the agent's training: the run ends `stopped` at the next optimizer step
    with a stopped heartbeat and run end; `--resume latest` continues it to the end."""
    import signal

    from forge.agent.transcript import read_events
    from forge.config import load as config_io

    from engine_fixtures import make_agent_project

    root = make_agent_project(tmp_path / "p", nano_model, n_train=1500)
    config_io.patch_file(root / "forge.yaml", {"training": {"epochs_min": 3, "epochs_max": 3, "batch_size": 4}})
    run = forge_proc(
        "agent", "run", "--goal", "reach the target", "--planner", "heuristic", "--max-iterations", "1", "-p", root
    )
    runs = root / "output" / "runs"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # wait for the train call to start
        found = list(runs.glob("*/transcript.jsonl"))
        if found and '"name": "train"' in found[0].read_text():
            break
        time.sleep(0.2)
    time.sleep(1.0)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=240)
    events = read_events(found[0])
    end = events[-1]
    assert end["event"] == "run_end" and end["status"] == "stopped", (out, err)
    assert end["reason"].startswith("SIGTERM received: stopped at a safe point"), end
    # the cut-off train has no result: it was never finished, so --resume runs it again
    assert [e["event"] for e in events if e.get("name") == "train"] == ["tool_call"], events
    heartbeat = json.loads((root / "output" / "flywheel_heartbeat.json").read_text())
    assert heartbeat["status"] == "stopped"
    resumed = forge_proc("agent", "run", "--resume", "latest", "--planner", "heuristic", "-p", root)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    events = read_events(found[0])
    assert events[-1]["event"] == "run_end" and events[-1]["status"] != "error", events[-1]
    assert any(e["event"] == "tool_result" and e["name"] == "train" and not e["is_error"] for e in events)


@pytest.mark.slow
def test_imports_during_an_agent_runs_augment_all_land(tmp_path, nano_model):
    """Hand-written imports while an offline agent run trains and augments: every imported example is in the
    training set at the end, beside everything augment added."""
    from engine_fixtures import make_agent_project

    root = make_agent_project(tmp_path / "p", nano_model, n_train=64)
    run = forge_proc("flywheel", "--iters", "2", "-p", root)
    canonical = root / "dataset" / "canonical.jsonl"
    imported, rounds = set(), 0
    while run.poll() is None and rounds < 40:
        files = []
        for i in range(3):
            rows = unique_rows(f"r{rounds}.{i}", 50)
            imported |= {r["messages"][0]["content"] for r in rows}
            files.append(tmp_path / f"in_{rounds}_{i}.jsonl")
            write_jsonl(files[-1], rows)
        procs = [forge_proc("import", f, "-p", root) for f in files]
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
        rounds += 1
    out, err = run.communicate(timeout=900)
    assert run.returncode == 0, err
    texts = {e["messages"][0]["content"] for e in load_examples(canonical)}
    assert rounds >= 2 and imported <= texts, len(imported - texts)
    augmented = [e for e in load_examples(canonical) if e.get("provenance", {}).get("source") == "augment"]
    assert augmented, "the run augmented nothing: the test did not overlap an augment"


def test_a_full_disk_keeps_the_transcript_whole(small_disk):
    from forge.agent.transcript import Transcript, read_events
    from forge.atomic import DiskFull

    t = Transcript(small_disk / "r1" / "transcript.jsonl")
    t.write("run_start", goal="g")
    before = t.path.read_bytes()
    (small_disk / "filler").write_bytes(b"\0" * (2 * 1024 * 1024 - 8 * 1024))
    with pytest.raises(DiskFull, match=r"transcript\.jsonl: no space left on the device"):
        t.write("note", text="x" * 64_000)
    assert t.path.read_bytes() == before and [e["event"] for e in read_events(t.path)] == ["run_start"]


def test_a_partial_checkpoint_is_dropped(tmp_path):
    from forge.training.checkpoints import drop_partial

    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-8").mkdir()
    (tmp_path / "checkpoint-8" / "optimizer.pt").write_bytes(b"half")
    drop_partial(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-4"]
