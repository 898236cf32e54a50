"""The wheel carries forge, forge.agent, forge.tools, forge.prompts and the prompt/scaffold files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contents(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for pkg in ("forge", "forge/cli", "forge/agent", "forge/tools", "forge/prompts"):
        assert f"{pkg}/__init__.py" in names, pkg
    # every package of the source tree ships (pyproject lists them one by one)
    missing = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "forge").rglob("__init__.py")
        if f"{p.relative_to(ROOT)}" not in names and "__pycache__" not in p.parts
    ]
    assert missing == [], f"not in pyproject's packages: {missing}"
    assert "forge/prompts/planner_system.md" in names
    assert "forge/project_templates/BACKGROUND.md" in names and "forge/project_templates/gitignore" in names
    assert not any(n.startswith(("agent/", "tools/", "prompts/")) for n in names), "top-level agent/tools installed"
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "forge = forge.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_installed_mapping_resolves_to_repo_dirs():
    import forge.agent
    import forge.prompts
    import forge.tools

    assert Path(forge.agent.__file__).parent.name == "agent"
    assert Path(forge.tools.__file__).parent.name == "tools"
    assert "{{goal}}" in forge.prompts.load("planner_system")


def test_the_locks_match_pyproject():
    import lockfile

    assert [p for name in lockfile.SETS for p in lockfile.problems(name)] == []


def test_a_dependency_changed_without_make_lock_is_caught(tmp_path):
    import lockfile

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text((ROOT / "pyproject.toml").read_text().replace('"anthropic>=2.10"', '"anthropic>=9.0"'))
    found = lockfile.problems("cpu", pyproject=pyproject)
    assert any("compiled from another pyproject.toml" in p for p in found), found
    assert any("anthropic==" in p and "outside pyproject's 'anthropic>=9.0'" in p for p in found), found


def test_this_environment_is_the_lock():
    """`make setup` installed what the lock says (the CUDA set where unsloth is installed, else the CPU set)."""
    import importlib.metadata as md

    import lockfile

    name = "cuda" if any(d.metadata["Name"] == "unsloth" for d in md.distributions()) else "cpu"
    pinned = lockfile.pins(lockfile.lock_path(name).read_text())
    installed = {lockfile.normalize(d.metadata["Name"]): d.version.split("+")[0] for d in md.distributions()}
    differ = {n: (v, installed[n]) for n, v in pinned.items() if n in installed and installed[n] != v}
    missing = sorted(set(pinned) - set(installed))
    assert differ == {} and missing == [], f"locked vs installed: {differ}; not installed: {missing}"
