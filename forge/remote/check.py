"""`forge remote check`: what the machine of compute.remote has (Python, forge, GPU, free disk, rsync) and
what it lacks for running forge's steps, in one ssh call."""

from __future__ import annotations

import shlex
from pathlib import Path

from forge import __version__
from forge.errors import ForgeError
from forge.remote.ssh import Remote

PROBE = r"""
setup=ok
{setup} || setup=failed
echo "setup: $setup"
if command -v python3 > /dev/null; then echo "python: $(python3 -c 'import platform; print(platform.python_version())')"
else echo "python: missing"; fi
if command -v forge > /dev/null; then echo "forge: $(forge --version | awk '{{print $NF}}')"; else echo "forge: missing"; fi
if command -v rsync > /dev/null; then echo "rsync: $(rsync --version | head -n 1 | awk '{{print $3}}')"
else echo "rsync: missing"; fi
gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | paste -sd ';' -)
echo "gpu: ${{gpu:-none}}"
echo "disk_free_gb: $(df -Pk . | awk 'NR==2 {{printf "%.1f", $4 / 1048576}}')"
{base_check}
"""


def check_remote(project) -> tuple[dict[str, str], list[str]]:
    """(facts as key: value, what is missing) for the project's compute.remote."""
    compute = project.config.compute
    if not compute.remote:
        raise ForgeError("compute.remote is not set in forge.yaml (ssh://[user@]host[:port]/path)")
    remote = Remote.from_config(compute)
    base = project.config.model.base
    base_check = ""
    if Path(base).is_absolute():  # a relative base travels with the project; an absolute one must be there
        base_check = f'if [ -e {shlex.quote(base)} ]; then echo "base: present"; else echo "base: missing"; fi'
    script = PROBE.format(setup=compute.remote_setup or "true", base_check=base_check)
    proc = remote.run(f"mkdir -p {remote.quoted_path()} && cd {remote.quoted_path()} && {{ {script} }}")
    facts = {"host": remote.host, "path": remote.path}
    for line in proc.stdout.decode(errors="replace").splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            facts[key.strip()] = value.strip()
    missing = []
    if facts.get("setup") == "failed":
        missing.append(f"compute.remote_setup `{compute.remote_setup}` failed")
    for key in ("python", "forge", "rsync"):
        if facts.get(key, "missing") == "missing":
            missing.append(key)
    if facts.get("forge") not in (None, "missing", __version__):
        missing.append(f"forge {__version__} (it has {facts['forge']})")
    if facts.get("base") == "missing":
        missing.append(f"model.base {base}")
    return facts, missing
