"""`forge init`, `forge status`, `forge config`, root discovery and CLI start-up cost."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import git

from forge.project.scaffold import init_project

from conftest import chat, write_jsonl


def test_init_scaffolds_and_commits(tmp_path, cli):
    target = tmp_path / "intent"
    result = cli("init", "intent", "--dir", target)
    assert result.exit_code == 0, result.output
    for rel in (
        "forge.yaml",
        "BACKGROUND.md",
        "mission.md",
        "system_prompt.md",
        "llm.txt",
        ".gitignore",
        "dataset/seed.jsonl",
        "dataset/gold.jsonl",
        "dataset/canonical.jsonl",
    ):
        assert (target / rel).is_file(), rel
    background = (target / "BACKGROUND.md").read_text()
    for section in (
        "## Task",
        "## Output Format",
        "## Edge Cases",
        "## Common Failure Patterns",
        "## What Good Examples Look Like",
    ):
        assert section in background
    repo = git.Repo(target)
    assert repo.head.commit.message == "forge init intent"
    assert "forge.yaml" in [b.path for b in repo.head.commit.tree.traverse()]
    ignored = (target / ".gitignore").read_text()
    assert "output/*" in ignored and "!output/best_adapter*/" in ignored and "!output/best_score.json" in ignored
    assert "name: intent" in (target / "forge.yaml").read_text()


def test_init_refuses_to_overwrite(tmp_path, cli):
    target = tmp_path / "p"
    target.mkdir()
    (target / "BACKGROUND.md").write_text("mine")
    result = cli("init", "p", "--dir", target)
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == f"Error: {target}/BACKGROUND.md: already exists; refusing to overwrite (1 existing file(s))"
    )
    assert (target / "BACKGROUND.md").read_text() == "mine"
    assert not (target / "forge.yaml").exists()


def test_init_from_old_project(tmp_path, cli):
    old = tmp_path / "old"
    (old / "dataset").mkdir(parents=True)
    (old / "BACKGROUND.md").write_text("# old background\n")
    write_jsonl(old / "dataset" / "gold.jsonl", [chat("g1", "a"), chat("g2", "b")])
    write_jsonl(old / "dataset" / "seed.jsonl", [chat("s1", "a")])
    result = cli("init", "new", "--dir", tmp_path / "new", "--from", old)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new" / "BACKGROUND.md").read_text() == "# old background\n"
    status = cli("status", "-p", tmp_path / "new")
    assert "Dataset:     0 training / 2 gold" in status.output


def test_init_from_rejects_bad_dataset(tmp_path, cli):
    old = tmp_path / "old"
    (old / "dataset").mkdir(parents=True)
    (old / "dataset" / "gold.jsonl").write_text(json.dumps(chat("g", "a")) + "\nnot json\n")
    result = cli("init", "new", "--dir", tmp_path / "new", "--from", old)
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {old}/dataset/gold.jsonl:2: invalid JSON: Expecting value (column 1)"
    assert not (tmp_path / "new").exists()


def test_status_new_project(project_dir, cli):
    result = cli("status", "-p", project_dir)
    assert result.exit_code == 0
    assert "Best score:  none yet" in result.output
    assert "Iterations:  0 / 10" in result.output
    data = json.loads(cli("status", "-p", project_dir, "--json").output)
    assert data["best"] is None and data["dataset"] == {"training": 0, "gold": 0, "sealed": None}


def test_status_reads_state(project_dir, cli):
    out = project_dir / "output"
    (out / "best_score.json").write_text(json.dumps({"accuracy": 0.873, "iteration": 3, "path": "x"}))
    (out / "eval_results.json").write_text(json.dumps({"accuracy": 0.8, "correct": 16, "total": 20}))
    (out / "experiments.jsonl").write_text('{"iteration": 1}\n{"iteration": 2}\n')
    stamp = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    (out / "flywheel_heartbeat.json").write_text(
        json.dumps({"iteration": 2, "status": "error", "accuracy": 0.8, "timestamp": stamp, "error": "overloaded"})
    )
    (out / "llm_spend.json").write_text(json.dumps({"total_usd": 0.0312}))
    write_jsonl(project_dir / "dataset" / "canonical.jsonl", [chat("a", "b"), chat("c", "d")])
    text = cli("status", "-p", project_dir).output
    assert "Best score:  87.3% (iter 3)" in text
    assert "Last score:  80.0% (16/20)" in text
    assert "Dataset:     2 training / 0 gold" in text
    assert "Iterations:  2 / 10" in text
    assert "Heartbeat:   error (iter 2, 5m ago): overloaded" in text
    assert "LLM spend:   $0.0312" in text


def test_root_found_from_subdirectory(project_dir, cli, monkeypatch):
    monkeypatch.chdir(project_dir / "dataset")
    assert "Project:     proj" in cli("status").output


def test_no_project_is_one_line_error(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("status")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: no forge.yaml in {tmp_path.resolve()} or any parent directory (run `forge init NAME` or pass -p DIR)\n"
    )


def test_bad_config_is_one_line_error(project_dir, cli):
    (project_dir / "forge.yaml").write_text("training:\n  learning_rate: -1\n")
    result = cli("status", "-p", project_dir)
    assert result.exit_code == 1
    assert result.output == "Error: forge.yaml: training.learning_rate: must be > 0, got -1\n"


def test_malformed_yaml_is_one_line_error(project_dir, cli):
    (project_dir / "forge.yaml").write_text("training:\n  seed: [1\n")
    result = cli("config", "check", "-p", project_dir)
    assert result.exit_code == 1
    assert result.output.startswith("Error: forge.yaml:3:1: invalid YAML: ")
    assert result.output.count("\n") == 1


def test_broken_dataset_line_via_cli(project_dir, cli):
    rows = [json.dumps(chat(f"q{i}", "a")) for i in range(6)] + ["{oops"]
    (project_dir / "dataset" / "canonical.jsonl").write_text("\n".join(rows) + "\n")
    result = cli("config", "check", "-p", project_dir)
    assert result.exit_code == 1
    assert result.output == (
        "Error: dataset/canonical.jsonl:7: invalid JSON: Expecting property name enclosed in double quotes (column 2)\n"
    )


def test_gold_as_training_path_via_cli(project_dir, cli):
    (project_dir / "forge.yaml").write_text("dataset:\n  canonical: dataset/gold.jsonl\n")
    result = cli("config", "check", "-p", project_dir)
    assert result.exit_code == 1
    assert result.output == (
        "Error: dataset/gold.jsonl: is a gold/sealed eval set; refusing to use it as training data\n"
    )


def test_usage_error_exit_2():
    from click.testing import CliRunner

    from forge.cli import main

    result = CliRunner().invoke(main, ["status", "--bogus"])
    assert result.exit_code == 2
    assert "Error: No such option '--bogus'." in result.output


def test_help_and_version_do_not_import_heavy_modules():
    code = (
        "import sys\nfrom forge.cli import main\n"
        "for argv in (['--help'], ['--version'], ['status', '--help'], ['init', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0, argv\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'trl', 'anthropic', 'datasets') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    assert "forge, version" in out


def test_init_function_rejects_bad_name(tmp_path):
    import pytest

    from forge.errors import ForgeError

    with pytest.raises(ForgeError, match="invalid project name"):
        init_project("a/b", tmp_path / "x")


def test_architecture_module_lists_are_the_modules_there():
    """docs/architecture.md lists every module of each forge/ folder with its docstring's first sentence (`make docs`
    rewrites the lists), so a new module cannot go unmentioned."""
    from pathlib import Path

    from forge.cli.reference import render_architecture

    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "architecture.md").read_text()
    assert render_architecture(page, root) == page, "docs/architecture.md is stale: run `make docs`"
    assert "- `served.py`: `forge eval --server URL`" in page and "- `gbnf.py`: " in page
    # one section per package folder, none for a folder that is gone
    import re

    sections = {s.rstrip("/") for s in re.findall(r"^### `(forge/[\w/]*)`", page, re.M)}
    folders = {p.parent.relative_to(root).as_posix() for p in (root / "forge").rglob("__init__.py")}
    assert sections == folders - {"forge/project_templates"}, sections ^ folders


def test_cli_reference_is_generated_from_help():
    """docs/cli.md is what the commands' --help says (`make docs` rewrites it), and names every command."""
    from pathlib import Path

    from forge.cli import main
    from forge.cli.reference import render_cli_markdown

    text = render_cli_markdown()
    assert (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text() == text, (
        "docs/cli.md is stale: run `make docs`"
    )
    for name, command in main.commands.items():
        subs = getattr(command, "commands", None)
        for full in [f"forge {name} {s}" for s, c in subs.items() if not c.hidden] if subs else [f"forge {name}"]:
            assert f"## `{full}`" in text, full
