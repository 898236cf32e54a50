"""The training loss and precision paths: the completion-only loss equals the model's own, bf16 LoRA keeps
each adapter sum in fp32, and training.precision resolves per machine."""

from __future__ import annotations

import contextlib

import pytest

from forge.models.chat_format import tokenize_for_training
from forge.models.loading import training_precision


@pytest.fixture(scope="module")
def lora_nano(nano_model):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(nano_model))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(nano_model), dtype=torch.float32)
    model = get_peft_model(
        model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM", init_lora_weights=False)
    )  # random B: the adapter does something
    return model, tok


def _batch(tok):
    from transformers import DataCollatorForSeq2Seq

    rows = [
        tokenize_for_training(tok, [{"role": "user", "content": q}, {"role": "assistant", "content": a}], 128)
        for q, a in [("2 + 2?", "4"), ("name a colour, any you like", "blue, or perhaps green"), ("", "unknown")]
    ]
    return DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)(rows)


def test_completion_loss_is_the_models_own_loss(lora_nano):
    from forge.training.completion_loss import completion_loss, supported

    model, tok = lora_nano
    batch = _batch(tok)
    assert supported(model)
    ours = completion_loss(model, batch, contextlib.nullcontext)
    assert ours.item() == pytest.approx(model(**batch).loss.item(), rel=1e-5)
    learned = int((batch["labels"][:, 1:] != -100).sum())
    # with gradient accumulation the trainer passes the token count of the whole accumulated batch
    assert completion_loss(model, batch, contextlib.nullcontext, 2 * learned).item() == pytest.approx(ours.item() / 2)
    ours.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad)


def test_bf16_lora_adds_the_adapter_term_in_fp32(nano_model):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from forge.training.lora_precision import keep_lora_sums_fp32

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(nano_model), dtype=torch.float32),
        LoraConfig(r=4, target_modules=["q_proj"], task_type="CAUSAL_LM"),
    )
    layer = model.get_base_model().model.layers[0].self_attn.q_proj
    x = torch.randn(1, 3, layer.in_features)
    torch.nn.init.constant_(layer.lora_B["default"].weight, 1e-6)  # a small, early-training adapter term
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rounded = layer(x)
        assert keep_lora_sums_fp32(model) == 2  # one q_proj per layer of the nano model
        kept = layer(x)
    assert rounded.dtype == torch.bfloat16 and kept.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        base = layer.get_base_layer()(x)
    # the adapter's contribution survives the sum in fp32 and is rounded away in nearly all of the bf16 one
    assert ((kept - base.float()) != 0).float().mean() > 0.9
    assert ((rounded.float() - base.float()) != 0).float().mean() < 0.1


@pytest.mark.parametrize(
    ("asked", "device", "method", "native", "resolved"),
    [
        ("auto", "cpu", "lora", True, "bf16"),
        ("auto", "cpu", "lora", False, "fp32"),
        ("auto", "cpu", "full", True, "fp32"),
        ("auto", "cuda:0", "lora", True, "backend"),
        ("fp32", "cpu", "lora", True, "fp32"),
        ("fp32", "cuda:0", "lora", True, "backend"),
        ("bf16", "cpu", "full", False, "bf16"),
    ],
)
def test_precision_resolves_per_machine(monkeypatch, asked, device, method, native, resolved):
    monkeypatch.setattr("forge.models.loading.cpu_has_bf16", lambda: native)
    assert training_precision(asked, device, method) == resolved
