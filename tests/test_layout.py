"""The shape of the code: imports point one way, forge <- tools <- agent, read from the import statements.

The package-dir map (agent/ installed as forge.agent, tools/ as forge.tools) hides an upward
import from a reader and from import-graph tools, so this test reads every `import` and
`from ... import` in the source and fails on one that points up.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# layer directory -> the forge.* packages it must never import
FORBIDDEN = {"forge": ("forge.agent", "forge.tools"), "tools": ("forge.agent", "forge.cli"),
             "agent": ("forge.cli",)}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import statement, including those inside functions."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return out


def upward_imports(root: Path) -> list[str]:
    problems = []
    for layer, banned in FORBIDDEN.items():
        for path in sorted((root / layer).rglob("*.py")):
            for line, module in imported_modules(path.read_text(encoding="utf-8")):
                if any(module == b or module.startswith(b + ".") for b in banned):
                    problems.append(f"{path.relative_to(root)}:{line}: imports {module} ({layer} must not)")
    return sorted(set(problems))


def test_imports_point_one_way():
    assert upward_imports(ROOT) == []


def test_the_check_catches_an_upward_import(tmp_path):
    for layer in FORBIDDEN:
        (tmp_path / layer).mkdir()
    (tmp_path / "forge" / "status.py").write_text("def f():\n    from forge.agent import runner\n")
    (tmp_path / "tools" / "eval.py").write_text("from forge import agent\nfrom forge.agent.budgets import B\n")
    (tmp_path / "agent" / "cli.py").write_text("import forge.cli.options\n")
    assert upward_imports(tmp_path) == [
        "agent/cli.py:1: imports forge.cli.options (agent must not)",
        "forge/status.py:2: imports forge.agent (forge must not)",
        "forge/status.py:2: imports forge.agent.runner (forge must not)",
        "tools/eval.py:1: imports forge.agent (tools must not)",
        "tools/eval.py:2: imports forge.agent.budgets (tools must not)",
        "tools/eval.py:2: imports forge.agent.budgets.B (tools must not)"]


def test_record_files_are_named_in_one_place():
    """Each record file's name appears as a string literal only in forge/records.py."""
    names = ("best_score.json", "experiments.jsonl", "flywheel_heartbeat.json", "eval_results.json",
             "eval_failures.jsonl", "AGENT_CONTEXT.md", "PLAN.md")
    offenders = []
    for layer in ("forge", "tools", "agent"):
        for path in sorted((ROOT / layer).rglob("*.py")):
            if path.name == "records.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in names:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert offenders == []


def test_forge_help_loads_no_agent_code():
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from forge.cli import main; "
            "r = CliRunner().invoke(main, ['--help']); assert 'flywheel' in r.output, r.output; "
            "print(sorted(m for m in sys.modules if m.startswith(('forge.agent', 'forge.tools', 'torch', "
            "'anthropic', 'transformers'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
