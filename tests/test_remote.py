"""compute.remote against a real OpenSSH server on loopback (tests/loopback_sshd.py): steps run there, results
come back, a dropped connection or a killed client reattaches, a dead step is reported, and every ssh
failure is one line. No ssh is mocked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loopback_sshd import start_sshd

from forge import __version__
from forge.config import load as config_io
from forge.errors import ForgeError
from forge.remote.ssh import Remote
from forge.remote.steps import decode, encode, error_from
from forge.training.sft import TrainingStopped, TrainResult

from engine_fixtures import make_project

VENV_BIN = Path(sys.executable).parent
FORGE = str(VENV_BIN / "forge")
SETUP = f"export PATH={VENV_BIN}:$PATH HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


def remote_project(root: Path, model: Path, sshd, there: Path, setup: str = SETUP, n_train=48, **patch) -> Path:
    make_project(root, model, method="lora", n_train=n_train, **patch)
    config_io.patch_file(
        root / "forge.yaml",
        {"compute": {"remote": sshd.url(there), "ssh_options": sshd.ssh_options(), "remote_setup": setup}},
    )
    return root


def forge(root: Path, *args, check=True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([FORGE, *args, "-p", str(root)], capture_output=True, text=True, timeout=600, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"forge {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_url_forms():
    class C:
        remote, ssh_options, remote_setup = "ssh://ann@gpu.lab:2222/~/proj", ["-i", "k"], None

    r = Remote.from_config(C)
    assert (r.destination, r.port, r.path) == ("ann@gpu.lab", 2222, "~/proj")
    assert r.quoted_path("output/x y") == "~/'proj/output/x y'"
    assert r.ssh_argv()[:3] == ["ssh", "-i", "k"]  # the user's options first: ssh keeps the first value
    C.remote = "ssh://gpu/srv/p/"
    r = Remote.from_config(C)
    assert (r.destination, r.port, r.path) == ("gpu", None, "/srv/p")
    C.remote = "ssh://gpu:x/p"
    with pytest.raises(ForgeError, match="port is not a number"):
        Remote.from_config(C)


FAKE_SSH = """#!/bin/bash
# ssh [options] destination command: the command runs here, in a shell whose PATH has {path}
while [[ "$1" == -* ]]; do case "$1" in -o|-p|-i|-l|-F) shift 2;; *) shift;; esac; done
shift
{body}
"""


@pytest.mark.parametrize(
    "body,expected",
    [
        ('PATH=/nonexistent exec /bin/bash -c "$*"', "rsync is missing on gpu"),  # rsync's exit 127 (or 12)
        # the stream breaks before rsync hears why (exit 12): the remote is asked, and has no rsync
        (
            'case "$*" in *"rsync --server"*) exit 0;; *) PATH=/nonexistent exec /bin/bash -c "$*";; esac',
            "rsync is missing on gpu",
        ),
        ('echo "kex_exchange_identification: read: Connection reset by peer" >&2; exit 255', "cannot reach gpu"),
    ],
)
def test_rsync_failures_are_told_apart_by_exit_status(tmp_path, monkeypatch, body, expected):
    """rsync's own exit status says which failure it was (127: no rsync there; 255: ssh failed), not its words."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH.format(path="no rsync", body=body))
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

    class C:
        remote, ssh_options, remote_setup = f"ssh://gpu{tmp_path}/copy", [], None

    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "a.txt").write_text("a")
    with pytest.raises(ForgeError, match=expected):
        Remote.from_config(C).push(tmp_path / "project")


def test_codec_keeps_types_and_project_paths(tmp_path):
    r = TrainResult(tmp_path / "output" / "adapter", "transformers", "cpu", "lora", 2, [0.5, 0.25], 0.25, 1.0, 9.0, 4)
    wire = json.loads(json.dumps(encode(r, tmp_path)))
    assert wire["fields"]["output_dir"] == {"__path__": "output/adapter"}
    assert decode(wire, tmp_path / "elsewhere") == TrainResult(
        tmp_path / "elsewhere" / "output" / "adapter", *list(vars(r).values())[1:]
    )
    with pytest.raises(ForgeError, match="outside the project"):
        encode(Path("/somewhere/else"), tmp_path)
    err = error_from({"ok": False, "error": "budget", "error_type": "forge.training.sft:TrainingStopped"})
    assert isinstance(err, TrainingStopped) and str(err) == "budget"
    assert type(error_from({"error": "x", "error_type": "os:system"})) is ForgeError


def test_train_and_eval_run_remotely(tmp_path, nano_model, sshd):
    there = tmp_path / "there"
    root = remote_project(tmp_path / "here", nano_model, sshd, there)
    check = forge(root, "remote", "check", "--json")
    facts = json.loads(check.stdout)
    assert facts["forge"] == __version__ and facts["gpu"] == "none" and facts["missing"] == []
    assert facts["python"].count(".") == 2 and float(facts["disk_free_gb"]) > 0

    out = forge(root, "train", "--epochs", "3").stdout
    assert "remote: step" in out and "started on 127.0.0.1" in out
    assert "epoch 3/3: loss" in out  # the remote's progress lines, streamed back
    meta = json.loads((root / "output" / "adapter" / "forge_meta.json").read_text())
    assert meta["epochs_run"] == 3 and meta["device"] == "cpu"
    assert (there / "dataset" / "canonical.jsonl").read_bytes() == (root / "dataset" / "canonical.jsonl").read_bytes()
    assert list((root / "output" / "tb").rglob("events.out.tfevents.*"))  # tracker logs come back too
    assert not (root / "output" / "remote" / "step.json").exists()

    res = json.loads(forge(root, "eval", "--json").stdout)
    local = json.loads((root / "output" / "eval_results.json").read_text())
    assert (local["accuracy"], local["correct"]) == (res["accuracy"], res["correct"])
    assert local["model"]["hash"] == json.loads((there / "output" / "eval_results.json").read_text())["model"]["hash"]
    steps = sorted((there / ".forge-remote" / "steps").iterdir())
    assert len(steps) == 2 and all((s / "exit").read_text().strip() == "0" for s in steps)

    base = json.loads(forge(root, "eval", "--base", "--json").stdout)  # the base is resolved on the remote
    assert json.loads((root / "output" / "eval_results.json").read_text())["model"]["kind"] == "full"
    assert base["accuracy"] <= res["accuracy"]

    # A record of a step that never started (kill -9 between saving it and the launch) is dropped, not followed.
    from forge.project.project import Project
    from forge.remote.run import step_key
    from forge.remote.steps import request_for
    from forge.training.sft import train

    request, _, _ = request_for(train.__wrapped__, Project.open(root), (), {"epochs": 3, "resume": False})
    record = root / "output" / "remote" / "step.json"
    record.write_text(
        json.dumps(
            {"id": "20260101-000000-000000", "step": "train", "key": step_key(request), "offset": 0, "events": False}
        )
    )
    out = forge(root, "train", "--epochs", "3").stdout
    assert "reattaching" not in out and "started on 127.0.0.1" in out and not record.exists()

    # A failing step's own error comes back as one line, and nothing is pulled.
    (root / "dataset" / "canonical.jsonl").write_text("")
    err = forge(root, "train", check=False)
    assert err.returncode == 1 and err.stderr.strip().splitlines() == [
        "Error: dataset/canonical.jsonl: no training examples yet (add some, or `forge generate`)"
    ]


def _wait_for(predicate, timeout=120, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_dropped_connection_and_killed_client_reattach(tmp_path, nano_model, sshd):
    there = tmp_path / "there"
    root = remote_project(
        tmp_path / "here", nano_model, sshd, there, n_train=240, training={"epochs_min": 60, "epochs_max": 60}
    )
    record = root / "output" / "remote" / "step.json"
    log = open(tmp_path / "client.log", "w")
    client = subprocess.Popen(
        [FORGE, "train", "-p", str(root)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    _wait_for(lambda: record.exists() and json.loads(record.read_text())["offset"] > 0, what="the log to stream")
    step_id = json.loads(record.read_text())["id"]
    # Drop the connection: kill the ssh processes (the shared master and the log follower).
    subprocess.run(["pkill", "-KILL", "-f", f"127.0.0.1 cd .*{step_id}"], check=False)
    subprocess.run(["pkill", "-KILL", "-f", "forge-ssh-.*\\[mux\\]"], check=False)
    _wait_for(lambda: "reattaching in" in (tmp_path / "client.log").read_text(), what="a reconnect")
    # Then kill the client itself, as a kill -9 of the whole run would.
    os.killpg(client.pid, signal.SIGKILL)
    client.wait()
    offset = json.loads(record.read_text())["offset"]
    assert offset > 0 and not (there / ".forge-remote" / "steps" / step_id / "exit").exists()

    again = forge(root, "train").stdout
    assert f"reattaching to step {step_id}" in again
    steps = list((there / ".forge-remote" / "steps").iterdir())
    assert [s.name for s in steps] == [step_id]  # not started twice
    remote_log = (steps[0] / "log").read_text()
    assert remote_log.count("backend: ") == 1
    assert (root / "output" / "adapter" / "forge_meta.json").exists() and not record.exists()
    shown = (tmp_path / "client.log").read_text() + again
    assert shown.count("epoch 60/60: loss") == 1  # each log line shown once across the two clients


def test_dead_step_is_reported_not_rerun(tmp_path, nano_model, sshd):
    there = tmp_path / "there"
    root = remote_project(
        tmp_path / "here", nano_model, sshd, there, n_train=240, training={"epochs_min": 60, "epochs_max": 60}
    )
    record = root / "output" / "remote" / "step.json"
    client = subprocess.Popen(
        [FORGE, "train", "-p", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    _wait_for(lambda: record.exists() and json.loads(record.read_text())["offset"] > 0, what="the step to start")
    step = there / ".forge-remote" / "steps" / json.loads(record.read_text())["id"]
    os.killpg(client.pid, signal.SIGKILL)
    client.wait()
    os.killpg(int((step / "pid").read_text()), signal.SIGKILL)  # the remote machine loses the step
    err = forge(root, "train", check=False)
    assert err.returncode == 1
    # the killed client's run lock is taken over with its one-line note; the step's fate is one line
    lines = [line for line in err.stderr.splitlines() if not line.startswith("note: took over the run lock")]
    assert "died without an exit status" in err.stderr and len(lines) == 1, err.stderr
    assert len(list(step.parent.iterdir())) == 1 and not record.exists()


def test_ssh_failures_are_one_line(tmp_path, nano_model, sshd):
    from loopback_sshd import free_port

    root = remote_project(tmp_path / "here", nano_model, sshd, tmp_path / "there")
    cases = {
        "cannot reach 127.0.0.1": {"remote": f"ssh://127.0.0.1:{free_port()}/x"},
        "authentication to 127.0.0.1 failed": {
            "ssh_options": [
                "-i",
                str(tmp_path / "no-such-key"),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "IdentityAgent=none",
                *sshd.ssh_options()[4:],
            ]
        },
        "forge is not installed on 127.0.0.1": {"remote_setup": "export PATH=/usr/bin:/bin"},
        f"has forge 9.9.9, this machine {__version__}": {"remote_setup": f"export PATH={tmp_path / 'fake'}:$PATH"},
    }
    fake = tmp_path / "fake" / "forge"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'forge, version 9.9.9'\n")
    fake.chmod(0o755)
    saved = (root / "forge.yaml").read_text()
    for expected, compute in cases.items():
        (root / "forge.yaml").write_text(saved)
        config_io.patch_file(root / "forge.yaml", {"compute": compute})
        err = forge(root, "train", check=False)
        assert err.returncode == 1, expected
        assert expected in err.stderr and err.stderr.count("\n") == 1, err.stderr
        assert not (root / "output" / "adapter").exists()


def test_bar_events_are_drawn_or_passed_on_never_printed(monkeypatch, capsys):
    from forge import live_bar

    monkeypatch.setenv(live_bar.ENV, "events")
    bar = live_bar.open_bar("training", 10)
    assert isinstance(bar, live_bar.EventBar)
    bar.update(3, "loss 0.5")
    bar.update(4, "loss 0.4")  # within the second: not sent
    bar.stop()
    events = capsys.readouterr().out
    assert events.count(live_bar.MARK) == 2 and '"completed": 3' in events and '"stop": true' in events

    shown = []
    lines = live_bar.LogLines(shown.append)  # itself a remote step: events go on to its own client
    used = lines.feed(b"epoch 1/2: loss 0.5\n" + events.encode() + b"torn")
    assert shown == ["epoch 1/2: loss 0.5"] and capsys.readouterr().out == events
    assert used == len(b"epoch 1/2: loss 0.5\n" + events.encode())  # the torn line waits for its end

    monkeypatch.delenv(live_bar.ENV)
    renderer = live_bar.EventRenderer()
    for line in events.splitlines():
        renderer.feed(line)
    assert renderer.bars == {}  # drawn, then stopped
    renderer.feed(live_bar.MARK + "{not json")  # a torn event is ignored
    lines = live_bar.LogLines(shown.append, events=False)
    lines.feed(events.encode())
    assert shown == ["epoch 1/2: loss 0.5"]  # never printed as text


@pytest.mark.slow
def test_the_agent_plans_here_and_trains_there(tmp_path, nano_model, sshd):
    """A whole offline agent run (heuristic planner) with compute.remote: every train and eval runs remotely,
    the records, transcript and commits stay here."""
    from forge.agent import lifecycle
    from forge.agent.budgets import Budgets
    from forge.agent.planners import HeuristicPlanner
    from forge.project.project import Project

    from engine_fixtures import make_agent_project

    there = tmp_path / "there"
    root = make_agent_project(
        tmp_path / "here",
        nano_model,
        eval={"target_accuracy": 0.75},
        compute={"remote": sshd.url(there), "ssh_options": sshd.ssh_options(), "remote_setup": SETUP},
    )
    project = Project.open(root)
    _, transcript = lifecycle.start(
        project, "reach target", HeuristicPlanner(project), Budgets(max_iterations=2), baseline=True
    )
    rows = project.read_jsonl_state("experiments.jsonl")
    assert rows[0]["kind"] == "baseline" and len(rows) >= 2
    assert all(r.get("epoch_losses") for r in rows[1:])  # each row read the pulled adapter's forge_meta
    events = [json.loads(line) for line in transcript.path.read_text().splitlines()]
    calls = [e["name"] for e in events if e["event"] == "tool_call" and e["name"] in ("train", "eval")]
    steps = list((there / ".forge-remote" / "steps").iterdir())
    assert len(steps) == len(calls) + 1 >= 3  # + the baseline's eval
    assert all((s / "exit").read_text().strip() == "0" for s in steps)
    assert not (there / "output" / "runs").exists()  # the transcript never leaves this machine
    assert not (root / "output" / "remote" / "step.json").exists()
