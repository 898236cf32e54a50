"""Running one step on compute.remote: check the remote's forge, mirror the project there, start the step
detached, follow its log, and copy its results back.

Each step has an id. Its files live on the remote in .forge-remote/steps/<id>/: request.json, pid (of
its process group), fpid (forge's own), log, exit (written when it ends) and result.json. Here,
output/remote/step.json records the step being followed and how many bytes of its log were shown. Running the same call again
after a dropped connection, a Ctrl-C or a kill -9 reattaches: the log continues where it stopped and the
step is not started twice. A step whose process is gone without an exit status is reported as dead.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import time
import uuid

from forge import __version__
from forge.atomic import write_json_atomic
from forge.clock import id_stamp, now
from forge.errors import ForgeError
from forge.hashing import content_hash
from forge.live_bar import ENV as BAR_ENV
from forge.live_bar import MARK, LogLines, wants_events
from forge.remote.ssh import STEPS_DIR, Remote, last_line
from forge.remote.steps import ON_REMOTE, request_for, seconds_left, value_of

RECONNECTS = 5  # tries to reattach within one call before giving up (backoff 1, 2, 4, 8, 16 s)
DEADLINE_GRACE_S = 120  # past the run's deadline (the step stops itself at the next step), cancel it
_checked: set[str] = set()  # remotes whose forge was checked by this process


def check_forge(remote: Remote) -> None:
    """Make the project directory there and require the same forge version as here (once per process)."""
    if remote.url in _checked:
        return
    probe = "if command -v forge > /dev/null; then forge --version; else echo forge-missing; fi"
    out = remote.run(f"mkdir -p {remote.quoted_path()} && {remote.in_project(probe)}").stdout.decode().strip()
    if out.endswith("forge-missing"):
        after = f" after compute.remote_setup `{remote.setup}`" if remote.setup else ""
        raise ForgeError(
            f"compute.remote {remote.url}: forge is not installed on {remote.host} (no `forge` on "
            f"PATH{after}); install it there or set compute.remote_setup"
        )
    theirs = out.split()[-1] if out else "unknown"
    if theirs != __version__:
        raise ForgeError(
            f"compute.remote {remote.url}: {remote.host} has forge {theirs}, this machine {__version__}; "
            "install the same version there"
        )
    _checked.add(remote.url)


def _launch(remote: Remote, step_id: str, request: dict, events: bool) -> None:
    d = f"{STEPS_DIR}/{step_id}"
    env = f"{ON_REMOTE}=1 PYTHONUNBUFFERED=1" + (f" {BAR_ENV}=events" if events else "")
    # pid: the session leader (a kill of its group stops the step); fpid: forge itself, which the log follower
    # watches (its parent reaps it at once; an orphan's exit can wait on a slow init).
    inner = (
        f"echo $$ > {d}/pid; {env} forge remote step {step_id} > {d}/log 2>&1 & echo $! > {d}/fpid; "
        f"wait $!; echo $? > {d}/exit.tmp; mv {d}/exit.tmp {d}/exit"
    )
    wait_pid = f"i=0; while [ ! -s {d}/fpid ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; test -s {d}/fpid"
    remote.run(
        remote.in_project(
            f"mkdir -p {d} && cat > {d}/request.json && "
            f"(setsid nohup sh -c {shlex.quote(inner)} > /dev/null 2>&1 < /dev/null &) && "
            f"{wait_pid}"
        ),
        stdin=json.dumps(request).encode(),
    )


def _follow(remote: Remote, project, record: dict, echo, deadline: float | None) -> None:
    """Show the step's log from record['offset'] until its process ends; reconnect when the link drops."""
    lines = LogLines(echo, events=record["events"])
    last_save, failures = time.monotonic(), 0
    d = remote.quoted_path(f"{STEPS_DIR}/{record['id']}")
    try:
        while True:
            proc = remote.popen(f'cd {d} && exec tail -s 0.2 -c +{record["offset"] + 1} -f --pid="$(cat fpid)" log')
            stdout, stderr = proc.stdout, proc.stderr
            assert stdout is not None and stderr is not None  # Remote.popen pipes both
            lines.buf = b""  # the log is read again from the last complete line
            while True:
                ready, _, _ = select.select([stdout], [], [], 1.0)
                if deadline is not None and time.monotonic() > deadline + DEADLINE_GRACE_S:
                    proc.kill()
                    cancel(remote, record["id"])
                    _save(project, None)
                    raise ForgeError(f"the time budget ran out; remote step {record['id']} was stopped")
                if not ready:
                    continue
                chunk = os.read(stdout.fileno(), 65536)
                if not chunk:
                    break
                record["offset"] += lines.feed(chunk)
                if time.monotonic() - last_save > 2:
                    _save(project, record)
                    last_save = time.monotonic()
            rc = proc.wait()
            _save(project, record)
            if rc == 0:
                return
            # ssh says 255 for a dropped link; a killed client or a restarted sshd show other codes. Retry all.
            failures += 1
            if failures > RECONNECTS:
                raise ForgeError(
                    f"lost the remote step {record['id']} ({last_line(stderr.read())}); it goes on "
                    f"running there: run the same command again to reattach"
                )
            if echo is not None:
                echo(f"remote: connection to {remote.host} lost; reattaching in {2 ** (failures - 1)}s")
            time.sleep(2 ** (failures - 1))
    finally:
        lines.close()


def _outcome(remote: Remote, step_id: str, settle: bool = True) -> tuple[str, dict | None, str]:
    """(exit code, or 'running', 'dead' or 'missing'; result.json; the log's last lines). With `settle`, give a
    step whose forge just ended a moment to write its exit status."""
    d = remote.quoted_path(f"{STEPS_DIR}/{step_id}")
    alive = 's=$(ps -o stat= -p "$(cat pid)" 2>/dev/null); [ -n "$s" ] && [ "${s#Z}" = "$s" ]'  # zombies are dead
    wait = f"i=0; while [ ! -f exit ] && {alive} && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; " if settle else ""
    script = (
        f"cd {d} 2>/dev/null || {{ echo missing; exit 0; }}; {wait}"
        f"if [ -f exit ]; then cat exit; elif {alive}; then echo running; else echo dead; fi; "
        f"echo '\x1e'; cat result.json 2>/dev/null; echo '\x1e'; tail -n 3 log"
    )
    status, result, tail = (remote.run(script).stdout.decode(errors="replace").split("\x1e\n") + ["", ""])[:3]
    try:
        parsed = json.loads(result) if result.strip() else None
    except json.JSONDecodeError:
        parsed = None
    return status.strip(), parsed, " | ".join(ln for ln in tail.splitlines() if ln.strip() and not ln.startswith(MARK))


def cancel(remote: Remote, step_id: str) -> None:
    """Stop a remote step's whole process group."""
    d = remote.quoted_path(f"{STEPS_DIR}/{step_id}")
    remote.run(f'cd {d} && kill -TERM -- -"$(cat pid)" 2>/dev/null; true')


def _save(project, record: dict | None) -> None:
    path = project.remote_step_path
    if record is None:
        path.unlink(missing_ok=True)
    else:
        write_json_atomic(path, record)


def pending(project) -> dict | None:
    path = project.remote_step_path
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def cancel_pending(project) -> dict:
    """Stop the step this project follows and forget it; returns its record."""
    record = pending(project)
    if not record:
        raise ForgeError(f"{project.rel(project.remote_step_path)}: no remote step is being followed")
    cancel(Remote.from_config(project.config.compute), record["id"])
    _save(project, None)
    return record


def step_key(request: dict) -> str:
    """What makes two calls the same step (so the second reattaches): the function and its arguments."""
    return content_hash(json.dumps(request, sort_keys=True))


def run_remote(project, fn, pulls, args: tuple, kwargs: dict):
    """fn(project, *args, **kwargs), run on compute.remote; returns what fn returned there."""
    request, echo, deadline = request_for(fn, project, args, kwargs)
    key = step_key(request)
    remote = Remote.from_config(project.config.compute)
    say = echo if echo is not None else (lambda _line: None)
    record = pending(project)
    status = _outcome(remote, record["id"], settle=False)[0] if record else None
    # a record whose step never started (a kill -9 during the launch) is dropped below
    if record and record["key"] == key and status != "missing":
        say(f"remote: reattaching to step {record['id']} ({record['step']}) on {remote.host}")
    else:
        if record and status == "running":
            raise ForgeError(
                f"remote step {record['id']} ({record['step']}) is still running on {remote.host}: "
                f"run it again to follow it, or stop it with `forge remote cancel`"
            )
        if record:
            _save(project, None)
        check_forge(remote)
        remote.push(project.root)
        request["deadline_in_s"] = seconds_left(deadline)
        record = {
            "id": f"{id_stamp()}-{uuid.uuid4().hex[:6]}",
            "step": fn.__name__,
            "key": key,
            "offset": 0,
            "events": wants_events(),
            "started": now(),
        }
        _save(project, record)  # before the launch: a kill -9 in between must not start the step twice
        _launch(remote, record["id"], request, record["events"])
        say(f"remote: step {record['id']} ({fn.__name__}) started on {remote.host}")
    _follow(remote, project, record, echo, deadline)
    status, result, tail = _outcome(remote, record["id"])
    if status == "running":
        raise ForgeError(
            f"remote step {record['id']} ({record['step']}) is still running on {remote.host} but its log "
            "stopped: run the same command again to reattach"
        )
    if result is None:
        _save(project, None)
        what = (
            "died without an exit status (killed, out of memory, or a reboot)"
            if status == "dead"
            else f"exited with status {status} without a result"
        )
        raise ForgeError(
            f"remote step {record['id']} ({record['step']}) on {remote.host} {what}; last log lines: {tail or 'none'}"
        )
    if not result.get("ok"):
        _save(project, None)
    value = value_of(result, project.root)
    wanted = pulls(project, value)
    remote.pull_files(project.root, [p.rel for p in wanted if p.kind == "file"])
    for pull in wanted:
        if pull.kind != "file":
            remote.pull_dir(project.root, pull.rel, merge=pull.kind == "merge")
    _save(project, None)
    return value
