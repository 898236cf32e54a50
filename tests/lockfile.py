"""The lock: the exact versions `make setup` and CI install, compiled by uv from pyproject.toml's ranges.

pyproject.toml keeps ranges, for people who install forge into an environment of their own; a
fresh clone of this repository installs what was tested instead, from one lock per set:
  requirements/cpu.lock   the CPU set: `.[dev]` with the CPU torch (torch==2.13.0, from this disk), without
                          the CUDA packages PyPI's torch names
  requirements/cuda.lock  the CUDA set: `.[dev,unsloth]` (unsloth caps transformers, trl, datasets, torch)
Both are pip constraint files (`pip install -c`) for CPython 3.11 on Linux x86_64, and each
opens with the hash of the pyproject.toml tables it was compiled from.

    python tests/lockfile.py write   # `make lock`: today's newest releases within the ranges
    python tests/lockfile.py check   # `make lint`: the locks match pyproject.toml, or one line saying why not
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK_DIR = ROOT / "requirements"
PYTHON, PLATFORM = "3.11", "x86_64-manylinux_2_28"
# name -> (extras of forge-slm, pins added to the ranges): the CPU set takes the CPU wheel this machine kind
# carries on disk (a bare `torch` from PyPI is a multi-GB CUDA build).
SETS = {"cpu": (("dev", "ray"), ("torch==2.13.0",)), "cuda": (("dev", "unsloth", "ray"), ())}
ALSO = ("pip",)  # installed by `make setup` too, so pinned as well
# PyPI's torch for Linux x86_64 is the CUDA build and names these; the CPU wheel the CPU set installs needs none.
CUDA_ONLY = ("nvidia-", "cuda-", "triton==")
HASH_PREFIX = "# pyproject-sha256: "


def lock_path(name: str) -> Path:
    return LOCK_DIR / f"{name}.lock"


def pyproject_hash(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The hash of what a lock is compiled from: requires-python, dependencies and the extras."""
    project = tomllib.loads(pyproject.read_text())["project"]
    tables = {k: project.get(k) for k in ("requires-python", "dependencies", "optional-dependencies")}
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()


def pins(text: str) -> dict[str, str]:
    """name (normalized) -> version, from a lock's `name==version` lines."""
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[normalize(name.split("[")[0])] = version.split(";")[0].strip()
    return out


def normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def direct_requirements(extras: tuple[str, ...], pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    return [*project["dependencies"], *(r for e in extras for r in project["optional-dependencies"][e])]


def problems(name: str, pyproject: Path = ROOT / "pyproject.toml", lock: Path | None = None) -> list[str]:
    """Why lock `name` does not match pyproject.toml (empty: it does)."""
    from packaging.requirements import Requirement

    lock = lock or lock_path(name)
    if not lock.exists():
        return [f"{lock.relative_to(ROOT)}: missing (run `make lock`)"]
    text = lock.read_text()
    first = next((ln for ln in text.splitlines() if ln.startswith(HASH_PREFIX)), "")
    out = []
    if first.removeprefix(HASH_PREFIX).strip() != pyproject_hash(pyproject):
        out.append(
            f"{lock.relative_to(ROOT)}: compiled from another pyproject.toml (dependencies changed since): "
            "run `make lock`"
        )
    pinned = pins(text)
    extras, added = SETS[name]
    for spec in [*direct_requirements(extras, pyproject), *added]:
        req = Requirement(spec)
        version = pinned.get(normalize(req.name))
        if version is None:
            out.append(f"{lock.relative_to(ROOT)}: {req.name} is not pinned (run `make lock`)")
        elif not req.specifier.contains(version, prereleases=True):
            out.append(
                f"{lock.relative_to(ROOT)}: {req.name}=={version} is outside pyproject's {spec!r} (run `make lock`)"
            )
    return out


def write(uv: str) -> None:
    LOCK_DIR.mkdir(exist_ok=True)
    digest = pyproject_hash()
    for name, (extras, added) in SETS.items():
        with tempfile.TemporaryDirectory() as tmp:
            extra_in = Path(tmp) / "also.in"
            extra_in.write_text("\n".join([*ALSO, *added]) + "\n")
            argv = [
                uv,
                "pip",
                "compile",
                "--quiet",
                "--no-header",
                "pyproject.toml",
                str(extra_in),
                *(f"--extra={e}" for e in extras),
                f"--python-version={PYTHON}",
                f"--python-platform={PLATFORM}",
                "--no-annotate",
            ]
            body = subprocess.run(
                argv, cwd=ROOT, check=True, capture_output=True, text=True, env={**os.environ, "UV_NO_CONFIG": "1"}
            ).stdout
        if name == "cpu":
            body = "".join(ln for ln in body.splitlines(keepends=True) if not ln.startswith(CUDA_ONLY))
        header = (
            f"# The {name.upper()} set of `make setup` and CI: `pip install -c` this file. Written by `make lock`\n"
            f"# (tests/lockfile.py) from pyproject.toml's ranges, extras {', '.join(extras)}"
            f"{', with ' + ', '.join(added) if added else ''}; CPython {PYTHON}, {PLATFORM}.\n"
            f"{HASH_PREFIX}{digest}\n"
        )
        lock_path(name).write_text(header + body)
        print(f"{lock_path(name).relative_to(ROOT)}: {len(pins(body))} pins")


def main(argv: list[str]) -> int:
    if argv[:1] == ["write"]:
        write(argv[1] if len(argv) > 1 else "uv")
        return 0
    if argv[:1] == ["check"]:
        found = [p for name in SETS for p in problems(name)]
        for line in found:
            print(line, file=sys.stderr)
        return 1 if found else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
