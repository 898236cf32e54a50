"""Shared fixtures: a scaffolded project and a CLI runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

# No hub is reachable here or in CI: fail fast instead of waiting on network timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
from click.testing import CliRunner

from forge.cli import main
from forge.scaffold import init_project


def chat(user: str, assistant: str, system: str | None = None) -> dict:
    msgs = [{"role": "system", "content": system}] if system else []
    return {"messages": msgs + [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def project_dir(tmp_path) -> Path:
    root = tmp_path / "proj"
    init_project("proj", root)
    return root


@pytest.fixture
def cli():
    runner = CliRunner()

    def run(*args, **kw):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False, **kw)

    return run


@pytest.fixture(scope="session")
def nano_model(tmp_path_factory) -> Path:
    """A random-init nano qwen2 model, built once per test session."""
    from forge.tiny_model import build_tiny

    path = tmp_path_factory.mktemp("models") / "nano"
    build_tiny(path, arch="qwen2", size="nano")
    return path
