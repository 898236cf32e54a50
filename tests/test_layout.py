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
FORBIDDEN = {"forge": ("forge.agent", "forge.tools"), "tools": ("forge.agent", "forge.cli"), "agent": ("forge.cli",)}
# ... except these: the agent's own commands (agent/cli.py, loaded through forge.cli's lazy table) share the CLI's
# click options and output; forge.cli.options imports nothing of the commands, so the one way stays one way.
EXCEPT = {"agent": ("forge.cli.options",)}


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
                allowed = any(module == a or module.startswith(a + ".") for a in EXCEPT.get(layer, ()))
                if not allowed and any(module == b or module.startswith(b + ".") for b in banned):
                    problems.append(f"{path.relative_to(root)}:{line}: imports {module} ({layer} must not)")
    return sorted(set(problems))


def test_imports_point_one_way():
    assert upward_imports(ROOT) == []


def test_agent_tools_and_prompts_are_imported_through_forge_only():
    """agent/, tools/ and prompts/ install as forge.agent, forge.tools, forge.prompts; imported as top-level
    packages (which `python -m pytest` from the repository root would allow) they load twice, as other modules."""
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for layer in ("forge", "agent", "tools", "prompts", "tests", "bench")
        for path in sorted((ROOT / layer).rglob("*.py"))
        for line, module in imported_modules(path.read_text(encoding="utf-8"))
        if module.split(".")[0] in PACKAGES.values()
    ]
    assert found == []


def test_the_check_catches_an_upward_import(tmp_path):
    for layer in FORBIDDEN:
        (tmp_path / layer).mkdir()
    (tmp_path / "forge" / "status.py").write_text("def f():\n    from forge.agent import lifecycle\n")
    (tmp_path / "tools" / "eval.py").write_text("from forge import agent\nfrom forge.agent.budgets import B\n")
    (tmp_path / "agent" / "cli.py").write_text("import forge.cli.options\nimport forge.cli.engine_cmds\n")
    assert upward_imports(tmp_path) == [
        "agent/cli.py:2: imports forge.cli.engine_cmds (agent must not)",
        "forge/status.py:2: imports forge.agent (forge must not)",
        "forge/status.py:2: imports forge.agent.lifecycle (forge must not)",
        "tools/eval.py:1: imports forge.agent (tools must not)",
        "tools/eval.py:2: imports forge.agent.budgets (tools must not)",
        "tools/eval.py:2: imports forge.agent.budgets.B (tools must not)",
    ]


def test_forge_help_loads_no_agent_code():
    import subprocess
    import sys

    code = (
        "import sys; from click.testing import CliRunner; from forge.cli import main; "
        "r = CliRunner().invoke(main, ['--help']); assert 'flywheel' in r.output, r.output; "
        "print(sorted(m for m in sys.modules if m.startswith(('forge.agent', 'forge.tools', 'torch', "
        "'anthropic', 'transformers'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# The folders inside forge/ as a DAG: each names the folders it builds on directly; a module may import its own
# folder and every folder reachable from it, never another. Siblings stay apart: llm, remote and models know
# nothing of each other, curation (the training set's sources) nothing of models, inference or training, export
# nothing of training or curation. "shared" is the modules at forge/'s top level (errors, atomic writes, JSONL).
LAYERS: dict[str, tuple[str, ...]] = {
    "shared": (),
    "config": ("shared",),
    "data": ("config",),
    "project": ("data",),
    "llm": ("project",),  # the Anthropic client and its prompts
    "remote": ("project",),  # ssh, rsync and the step records
    "models": ("project",),  # loading, chat formats, tiny local models
    "inference": ("models",),
    "evaluation": ("inference", "llm", "remote"),  # the judge and the teacher ask the API; eval runs remote
    "training": ("evaluation",),  # GRPO's reward is evaluation's scorer
    "curation": ("llm",),  # generate, augment, audit: the API and the project's data, no model
    "export": ("evaluation",),  # verify scores the exported file as eval does
    "sweep": ("training",),  # many train -> eval experiments at once, on Ray
    "cli": ("sweep", "curation", "export"),
}


def below(layer: str) -> set[str]:
    """The folders `layer` may import: those it names, and theirs, all the way down."""
    seen: set[str] = set()
    todo = list(LAYERS[layer])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(LAYERS[name])
    return seen


PACKAGES = {"forge.agent": "agent", "forge.tools": "tools", "forge.prompts": "prompts"}


def module_name(root: Path, path: Path) -> str:
    """forge.* name of a source file under root (agent/ is forge.agent, tools/ forge.tools, ...)."""
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[0] != "forge":
        parts = ["forge", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the forge modules it imports (function-level imports included; `from forge.x import y`
    counts as forge.x.y when that is a module, else forge.x)."""
    files = [
        p
        for layer in ("forge", *PACKAGES.values())
        if (root / layer).is_dir()
        for p in sorted((root / layer).rglob("*.py"))
    ]
    names = {module_name(root, p): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        deps = set()
        for _, module in imported_modules(path.read_text(encoding="utf-8")):
            while module and module not in names:
                module = module.rpartition(".")[0]
            if module and module != name and module != "forge":
                deps.add(module)
        graph[name] = deps
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 2 or module in PACKAGES or any(module.startswith(p + ".") for p in PACKAGES):
        return None
    return parts[1] if parts[1] in LAYERS else "shared"


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, deps in sorted(graph.items()):
        mine = layer_of(module)
        for dep in sorted(deps):
            theirs = layer_of(dep)
            if mine and theirs and theirs != mine and theirs not in below(mine):
                problems.append(f"{module} ({mine}) imports {dep} ({theirs})")
    return problems


def test_no_import_cycle_anywhere():
    assert import_cycles(import_graph(ROOT)) == []


def test_layers_inside_forge_point_down():
    assert all(layer not in below(layer) for layer in LAYERS)  # a DAG: no folder reaches itself
    assert below("cli") == set(LAYERS) - {"cli"}
    graph = import_graph(ROOT)
    assert {layer_of(m) for m in graph} - {None} <= set(LAYERS)
    assert layer_violations(graph) == []


def test_the_checks_catch_a_cycle_and_an_upward_layer(tmp_path):
    for folder in ("forge/data", "forge/training", "agent"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "forge" / "errors.py").write_text("")
    (tmp_path / "forge" / "data" / "datasets.py").write_text("def f():\n    from forge.training import sft\n")
    (tmp_path / "forge" / "training" / "sft.py").write_text("from forge.data.datasets import f\n")
    (tmp_path / "agent" / "loop.py").write_text("from forge.errors import X\n")
    (tmp_path / "forge" / "curation").mkdir()
    (tmp_path / "forge" / "curation" / "augment.py").write_text("from forge.training import sft\n")  # a sibling
    graph = import_graph(tmp_path)
    assert graph["forge.agent.loop"] == {"forge.errors"}
    assert import_cycles(graph) == [["forge.data.datasets", "forge.training.sft"]]
    assert layer_violations(graph) == [
        "forge.curation.augment (curation) imports forge.training (training)",
        "forge.curation.augment (curation) imports forge.training.sft (training)",
        "forge.data.datasets (data) imports forge.training (training)",
        "forge.data.datasets (data) imports forge.training.sft (training)",
    ]


# A project file's name -> the modules allowed to write it as a literal: its owner, which everyone else imports.
# scaffold.py maps project files to the templates of the same names in forge/project_templates/; locks.py finds the
# project root below forge.config, which imports it.
FILE_NAMES = {
    "forge.yaml": ("forge/config/load.py", "forge/locks.py"),
    "system_prompt.md": ("forge/project/project.py", "forge/project/scaffold.py"),
    **{
        name: ("forge/project/records.py", "forge/project/scaffold.py")
        for name in ("BACKGROUND.md", "mission.md", "AGENT_CONTEXT.md", "PLAN.md")
    },
    **{
        name: ("forge/project/records.py",)
        for name in (
            "experiments.jsonl",
            "best_score.json",
            "eval_results.json",
            "eval_failures.jsonl",
            "llm_spend.json",
            "flywheel.log",
            "forge_meta.json",
            "noise_floor.json",
        )
    },
    **{
        name: ("forge/project/project.py",)
        for name in (
            "tb",
            ".trainer",
            "runs",
            "remote/step.json",
            ".distributed",
            ".run.lock",
            "run_lock.json",
            "variants",
            "sweeps",
        )
    },
    "transcript.jsonl": ("agent/transcript.py",),
    "resume.json": ("forge/training/checkpoints.py",),
    "examples_seen.txt": ("forge/training/warm_start.py",),
    "forge_import.json": ("forge/models/importing.py",),
}
OWNED_DIRS = {"adapter": "forge/project/project.py"}  # joined onto a path (`/ "adapter"`) only by its owner


def file_name_literals(root: Path) -> list[str]:
    """`path:line: name` of each project file or directory name written as a literal outside its owner."""
    import re

    problems = []
    for layer in ("forge", "agent", "tools"):
        for path in sorted((root / layer).rglob("*.py")):
            rel, source = path.relative_to(root).as_posix(), path.read_text(encoding="utf-8")
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Constant) and node.value in FILE_NAMES and rel not in FILE_NAMES[node.value]:
                    problems.append(f"{rel}:{node.lineno}: {node.value}")
            for name, owner in OWNED_DIRS.items():
                for match in re.finditer(rf"/\s*[\"']{name}[\"']", source):
                    if rel != owner:
                        problems.append(f"{rel}:{source.count(chr(10), 0, match.start()) + 1}: {name}")
    return problems


def test_file_names_have_one_owner():
    assert file_name_literals(ROOT) == []


def test_the_check_catches_a_file_name_literal(tmp_path):
    (tmp_path / "forge" / "export").mkdir(parents=True)
    (tmp_path / "agent").mkdir()
    (tmp_path / "tools").mkdir()
    (tmp_path / "forge" / "export" / "card.py").write_text(
        'def f(p):\n    return (p.root / "system_prompt.md").read_text()\n'
    )
    (tmp_path / "agent" / "plan.py").write_text('def g(p):\n    return p.output / "adapter"\n')
    assert file_name_literals(tmp_path) == ["forge/export/card.py:2: system_prompt.md", "agent/plan.py:2: adapter"]
