"""A real OpenSSH server on 127.0.0.1, started by the tests: a temporary host key, a temporary client key in
its authorized_keys, a random port. `make setup` installs Debian's openssh-server and rsync where missing."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


@dataclass
class LoopbackSshd:
    port: int
    user: str
    client_key: Path
    known_hosts: Path
    proc: subprocess.Popen

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def ssh_options(self) -> list[str]:
        return [
            "-i",
            str(self.client_key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=accept-new",
        ]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sshd(workdir: Path) -> LoopbackSshd:
    if not Path(SSHD).exists() or not shutil.which("rsync"):
        raise RuntimeError("sshd or rsync is not installed: `make setup` installs openssh-server and rsync")
    workdir.mkdir(parents=True, exist_ok=True)
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
    subprocess.run([*keygen, "-f", str(workdir / "host_key")], check=True)
    subprocess.run([*keygen, "-f", str(workdir / "client_key")], check=True)
    auth = workdir / "authorized_keys"
    shutil.copy(workdir / "client_key.pub", auth)
    auth.chmod(0o600)
    port = free_port()
    config = workdir / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {workdir / "host_key"}
AuthorizedKeysFile {auth}
PidFile {workdir / "sshd.pid"}
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
MaxSessions 50
MaxStartups 50
""")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=open(workdir / "sshd.log", "wb"))
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH-"):
                    break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(workdir / 'sshd.log').read_text()}") from None
            time.sleep(0.05)
    return LoopbackSshd(port, getpass.getuser(), workdir / "client_key", workdir / "known_hosts", proc)
