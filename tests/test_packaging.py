"""The wheel carries forge, forge.agent, forge.tools, forge.prompts and the prompt/scaffold files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contents(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for pkg in ("forge", "forge/cli", "forge/agent", "forge/tools", "forge/prompts"):
        assert f"{pkg}/__init__.py" in names, pkg
    # every package of the source tree ships (pyproject lists them one by one)
    missing = [str(p.relative_to(ROOT)) for p in (ROOT / "forge").rglob("__init__.py")
               if f"{p.relative_to(ROOT)}" not in names and "__pycache__" not in p.parts]
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
