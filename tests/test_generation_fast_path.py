"""The generation fast path eval, predict, chat and probe share keeps the answers: a LoRA adapter merged into
its base, the LM head fed contiguously, bf16 where eval.precision asks for it, batched and left-padded,
against the plain reference: the unmerged PEFT model, fp32, one prompt at a time through model.generate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from forge.data.datasets import load_examples
from forge.inference.generate import _batch_inputs, generate, shared_prefix
from forge.models.chat_format import prompt_text, with_system_prompt
from forge.models.loading import inference_precision, load_for_inference
from forge.project.project import Project
from forge.training.sft import train

from conftest import assert_same_answers
from engine_fixtures import make_project


def reference_answers(model, tok, prompts: list[str], max_new_tokens: int) -> list[str]:
    """Greedy answers one prompt at a time, straight from model.generate (no padding, no forge code)."""
    import torch

    out = []
    for p in prompts:
        enc = tok(p, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        out.append(tok.decode(ids[0, enc["input_ids"].shape[1] :], skip_special_tokens=True))
    return out


@pytest.fixture(scope="module")
def lora_project(tmp_path_factory, nano_model) -> Project:
    root = make_project(tmp_path_factory.mktemp("fast") / "p", nano_model, method="lora")
    project = Project.open(root)
    train(project, echo=lambda *_: None)
    return project


def _prompts(project: Project, tok) -> list[str]:
    return [prompt_text(tok, with_system_prompt(e, project.system_prompt())) for e in load_examples(project.gold_path)]


def test_merged_batched_answers_match_the_unmerged_adapter_one_at_a_time(lora_project):
    from peft import PeftModel

    from forge.models.loading import load_causal_lm

    fast, tok, kind = load_for_inference(lora_project.output / "adapter", lora_project.root, "cpu", "fp32")
    assert kind == "adapter" and not isinstance(fast, PeftModel)  # merged: one product per layer
    reference = PeftModel.from_pretrained(
        load_causal_lm(str(lora_project.config.model.base), "cpu"), str(lora_project.output / "adapter")
    ).eval()
    prompts = _prompts(lora_project, tok)
    ours = generate(fast, tok, prompts, 32, 8, "cpu")
    assert_same_answers(ours, reference_answers(reference, tok, prompts, 32), reference, tok, prompts, 32)
    assert len(set(ours)) > 1  # the adapter says different things to different prompts


def test_shared_prefix_leaves_every_row_a_token_of_its_own():
    system = list(range(100, 140))
    assert shared_prefix([system + [1, 2], system + [3]]) == 40
    assert shared_prefix([system, system]) == 39  # generation continues from each row's last token
    assert shared_prefix([system + [1]]) == 0  # one row: nothing to share
    assert shared_prefix([[1, *system], [2, *system]]) == 0
    assert shared_prefix([system[:10] + [1], system[:10] + [2]]) == 0  # too short to pay for its own pass


def test_rows_share_the_system_prompts_cache_and_keep_their_answers(lora_project):
    """The batch computes the common system prompt once; each row's answer is still the one it gets alone."""
    model, tok, _ = load_for_inference(lora_project.output / "adapter", lora_project.root, "cpu", "fp32")
    prompts = _prompts(lora_project, tok)
    rows = tok(prompts, add_special_tokens=False)["input_ids"]
    n = shared_prefix(rows)
    assert n >= 16 and len({len(r) for r in rows}) > 1  # a real shared prefix, rows of different lengths
    enc, extra = _batch_inputs(model, rows, tok.pad_token_id, "cpu")
    (cache,) = extra.values()
    assert cache.get_seq_length() == n and enc["attention_mask"][:, :n].all()
    assert_same_answers(
        generate(model, tok, prompts, 32, 16, "cpu"),
        reference_answers(model, tok, prompts, 32),
        model,
        tok,
        prompts,
        32,
    )


def test_bf16_batched_answers_match_bf16_one_at_a_time(lora_project):
    import torch

    model, tok, _ = load_for_inference(lora_project.output / "adapter", lora_project.root, "cpu", "bf16")
    assert model.dtype == torch.bfloat16
    prompts = _prompts(lora_project, tok)
    assert_same_answers(
        generate(model, tok, prompts, 32, 16, "cpu"),
        reference_answers(model, tok, prompts, 32),
        model,
        tok,
        prompts,
        32,
        margin=0.1,
    )


@pytest.mark.parametrize(
    ("asked", "device", "native", "resolved"),
    [
        ("auto", "cpu", True, "bf16"),
        ("auto", "cpu", False, "fp32"),
        ("fp32", "cpu", True, "fp32"),
        ("bf16", "cpu", False, "bf16"),
        ("auto", "cuda:0", True, "backend"),
        ("bf16", "cuda:0", False, "bf16"),
    ],
)
def test_eval_precision_resolves_per_machine(monkeypatch, asked, device, native, resolved):
    monkeypatch.setattr("forge.models.loading.cpu_has_bf16", lambda: native)
    assert inference_precision(asked, device) == resolved


def constrained_margin(model, tok, prompt: str, constraint, max_new_tokens: int) -> float:
    """The smallest top-2 logit margin, among the tokens the schema allows, along the greedy answer alone."""
    import torch
    from transformers import LogitsProcessorList

    from forge.inference.generate import stop_ids

    enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
    stop = stop_ids(model, tok)
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
            pad_token_id=tok.pad_token_id,
            eos_token_id=sorted(stop),
            logits_processor=LogitsProcessorList([constraint.processor(1, enc["input_ids"].shape[1], stop)]),
        )
    tops = [s[0].float().topk(2).values for s in out.scores]
    return min(float(t[0] - t[1]) for t in tops if torch.isfinite(t[1]))


@pytest.mark.slow
def test_smollm2_fast_path_keeps_the_reference_answers_under_the_schema(smollm2, tmp_path):
    """The real model under the home schema, batched: in fp32 exactly the reference's answers; in bf16 the same
    except where the reference itself nearly tied (a zero-shot model guessing a number)."""
    from forge.inference.constrained import project_constraint
    from forge.models.loading import load_causal_lm, load_tokenizer

    root = tmp_path / "home"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "forge-home-demo", root)
    from forge.config import load as config_io

    config_io.patch_file(root / "forge.yaml", {"model": {"base": str(smollm2)}})
    # the training answers fix the layout (json.dumps separators), as on a project past its first import
    shutil.copy(root / "dataset" / "seed.jsonl", root / "dataset" / "canonical.jsonl")
    project = Project.open(root)
    reference, ref_tok = load_causal_lm(str(smollm2), "cpu").eval(), load_tokenizer(str(smollm2))
    prompts = _prompts(project, ref_tok)[:24]
    ref_constraint = project_constraint(project, ref_tok)
    theirs = generate(reference, ref_tok, prompts, 48, 1, "cpu", None, ref_constraint)
    for precision in ("fp32", "bf16"):
        fast, tok, _ = load_for_inference(smollm2, root, "cpu", precision)
        ours = generate(fast, tok, prompts, 48, 24, "cpu", None, project_constraint(project, tok))
        assert all(json.loads(a) for a in ours)
        differing = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
        if precision == "fp32":
            assert not differing, [(ours[i], theirs[i]) for i in differing]
        assert len(differing) <= len(prompts) // 4, [(ours[i], theirs[i]) for i in differing]
        for i in differing:
            assert constrained_margin(reference, ref_tok, prompts[i], ref_constraint, 48) < 0.5, (ours[i], theirs[i])
