"""The remote machine of `compute.remote: ssh://[user@]host[:port]/path`: commands through the system `ssh`
client (so the user's ~/.ssh/config, keys and agent apply) and files through `rsync` over the same ssh.

ssh runs in batch mode (a walk-away run must never wait at a password prompt), with a connect timeout,
keep-alives that notice a dead link within a minute, and one shared connection per host (ControlMaster),
so the several commands of a step pay for one handshake. Options from compute.ssh_options come first:
ssh keeps the first value it sees, so the user's choices win over these defaults.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from forge.errors import ForgeError
from forge.hashing import content_hash

STEPS_DIR = ".forge-remote/steps"
# Never mirrored to the remote: the local repo, the agent's transcripts and what only the remote writes
# (checkpoints, tracker logs, step records). rsync --delete leaves excluded paths alone on the remote too.
PUSH_EXCLUDES = (
    "/.git/",
    "/output/runs/",
    "/output/remote/",
    "/output/.trainer/",
    "/output/tb/",
    "/.forge-remote/",
    "__pycache__/",
    "/.venv/",
)
DEFAULTS = (
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=15",
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=4",
    "-o",
    "ControlMaster=auto",
    "-o",
    "ControlPersist=120",
)
RSYNC_STALL_S = 300  # seconds without data before rsync gives up
RSYNC_NOT_FOUND = 127  # rsync's exit status when the remote shell finds no rsync (RERR_CMD_NOTFOUND)
RSYNC_LINK_LOST = (12, 255)  # rsync's exit status when its stream broke (RERR_STREAMIO) or the shell failed
AUTH_FAILURES = (
    "Permission denied",
    "Host key verification failed",
    "Too many authentication failures",
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
)


@dataclass(frozen=True)
class Remote:
    url: str
    destination: str  # host or user@host, as ssh takes it
    port: int | None
    path: str  # the project copy there: absolute, or ~/... under the home directory
    ssh_options: tuple[str, ...] = ()
    setup: str | None = None

    @classmethod
    def from_config(cls, compute) -> "Remote":
        url = compute.remote
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise ForgeError(f"compute.remote {url}: the port is not a number") from None
        if parts.scheme != "ssh" or not parts.hostname or len(parts.path) < 2:
            raise ForgeError(f"compute.remote {url}: expected ssh://[user@]host[:port]/path")
        path = parts.path[1:] if parts.path.startswith("/~") else parts.path
        user = f"{parts.username}@" if parts.username else ""
        return cls(
            url, user + parts.hostname, port, path.rstrip("/") or "/", tuple(compute.ssh_options), compute.remote_setup
        )

    @property
    def host(self) -> str:
        return self.destination.split("@")[-1]

    # -- ssh ----------------------------------------------------------------------------------
    def ssh_argv(self) -> list[str]:
        # One shared connection per host, port, user (%C) and option set: changed options (another key) get a
        # fresh, freshly authenticated connection.
        options = content_hash("\0".join(self.ssh_options), 8)
        control = Path(tempfile.gettempdir()) / f"forge-ssh-{options}-%C"
        port = ["-p", str(self.port)] if self.port else []
        return ["ssh", *self.ssh_options, *DEFAULTS, "-o", f"ControlPath={control}", *port]

    def quoted_path(self, rel: str = "") -> str:
        """The shell spelling of path/rel on the remote (a leading ~ left unquoted, so it expands)."""
        full = f"{self.path}/{rel}" if rel else self.path
        if full.startswith("~/"):
            return "~/" + shlex.quote(full[2:])
        return shlex.quote(full)

    def in_project(self, script: str) -> str:
        """`script` run in the project copy, after compute.remote_setup."""
        setup = f"{self.setup} && " if self.setup else ""
        return f"cd {self.quoted_path()} && {setup}{script}"

    def run(
        self, script: str, *, timeout: float = 60, stdin: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        """Run `script` in the remote shell; ssh's own failures become one-line errors."""
        proc = self._call([*self.ssh_argv(), self.destination, script], stdin, timeout)
        if proc.returncode == 255:
            raise self.connection_error(proc.stderr)
        if check and proc.returncode != 0:
            raise ForgeError(
                f"compute.remote {self.url}: `{script[:80]}` failed on {self.host} "
                f"(exit {proc.returncode}): {last_line(proc.stderr)}"
            )
        return proc

    def _call(self, argv: list[str], stdin: bytes | None, timeout: float | None) -> subprocess.CompletedProcess:
        """Run ssh or rsync here; a missing program or no end within `timeout` is one line."""
        try:
            return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
        except FileNotFoundError:
            package = "openssh-client" if argv[0] == "ssh" else argv[0]
            raise ForgeError(f"compute.remote: {argv[0]} is not installed here (apt install {package})") from None
        except subprocess.TimeoutExpired:
            raise ForgeError(
                f"compute.remote {self.url}: {argv[0]} to {self.host} made no end within {timeout:.0f}s"
            ) from None

    def connection_error(self, stderr: bytes) -> ForgeError:
        text = stderr.decode(errors="replace")
        if any(s in text for s in AUTH_FAILURES):
            return ForgeError(
                f"compute.remote {self.url}: authentication to {self.host} failed ({last_line(stderr)}); "
                "ssh runs in batch mode: install a key (ssh-copy-id) or set compute.ssh_options "
                "[-i, KEY]"
            )
        return ForgeError(f"compute.remote {self.url}: cannot reach {self.host} ({last_line(stderr)})")

    def popen(self, script: str) -> subprocess.Popen:
        """A long remote command whose stdout is read as it comes (a step's log)."""
        return subprocess.Popen(
            [*self.ssh_argv(), self.destination, script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )

    # -- rsync --------------------------------------------------------------------------------
    def _rsync_path(self, rel: str = "") -> str:
        path = self.path[2:] if self.path.startswith("~/") else self.path  # rsync: relative = under home
        return f"{self.destination}:{path}/{rel}"

    def rsync(self, *args: str, stdin: bytes | None = None) -> None:
        # No limit on the whole transfer (a base model over a slow link takes long); rsync's own --timeout
        # ends one that stalls.
        argv = ["rsync", "-a", f"--timeout={RSYNC_STALL_S}", "-e", shlex.join(self.ssh_argv()), *args]
        proc = self._call(argv, stdin, None)
        if proc.returncode == 0:
            return
        if proc.returncode == RSYNC_NOT_FOUND or proc.returncode in RSYNC_LINK_LOST:
            # A sender may see the stream break (12) before the remote shell's 127: ask the remote itself; `run`
            # raises the connection error when ssh is what failed (its exit status 255).
            if proc.returncode == RSYNC_NOT_FOUND or self.run("command -v rsync", timeout=60, check=False).returncode:
                raise ForgeError(f"compute.remote {self.url}: rsync is missing on {self.host} (install it there)")
        raise ForgeError(f"compute.remote {self.url}: rsync failed (exit {proc.returncode}): {last_line(proc.stderr)}")

    def push(self, root: Path) -> None:
        """Mirror the project to the remote copy; rsync sends only what changed."""
        excludes = [f"--exclude={p}" for p in PUSH_EXCLUDES]
        self.rsync("-z", "--delete", *excludes, f"{root}/", self._rsync_path())

    def pull_files(self, root: Path, rels: list[str]) -> None:
        """Copy files back into the project; each lands whole (rsync renames a finished temp file)."""
        if rels:
            self.rsync("-z", "--files-from=-", self._rsync_path(), f"{root}/", stdin="\n".join(rels).encode())

    def pull_dir(self, root: Path, rel: str, merge: bool = False) -> None:
        """Copy a directory back: swapped in whole (or, with `merge`, files added into it). Unchanged files are
        hard-linked from the local copy instead of sent."""
        from forge.atomic import replace_dir

        final = root / rel
        if merge:
            final.mkdir(parents=True, exist_ok=True)
            self.rsync("-z", "--ignore-missing-args", self._rsync_path(rel) + "/", f"{final}/")
            return
        tmp = final.with_name(f".{final.name}.pull")
        link = [f"--link-dest={final.resolve()}"] if final.is_dir() else []
        self.rsync("-z", "--delete", *link, self._rsync_path(rel) + "/", f"{tmp}/")
        replace_dir(tmp, final)


def last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    lines = [ln for ln in lines if not re.match(r"^(Warning: Permanently added|mux_client)", ln)]
    return lines[-1] if lines else "no message"
