"""Benchmark: `forge train` tokens/s vs a minimal plain transformers Trainer + peft script.

Same tiny model, same data (tokenized by the same chat template), same LoRA shape, batch size,
epochs and learning rate. The baseline pads each batch to its longest example (the usual
DataCollatorForSeq2Seq recipe); forge trains padding-free. Tokens/s counts real (non-pad)
tokens. Target: >= 1.0x. Run: `.venv/bin/python bench/train_throughput.py`.
"""

from __future__ import annotations

import time

from forge.data.datasets import load_examples
from forge.models.chat_format import tokenize_for_training, with_system_prompt
from forge.project.project import Project
from forge.training.sft import train

from _setup import project

EPOCHS, BATCH, N = 2, 16, 512
root = project(
    "small",
    N,
    {
        "training": {
            "method": "lora",
            "learning_rate": 1e-3,
            "batch_size": BATCH,
            "epochs_min": EPOCHS,
            "epochs_max": EPOCHS,
            "warmup_ratio": 0.0,
        },
        "lora": {"r": 16, "alpha": 16, "dropout": 0.0},
    },
)
p = Project.open(root)


def baseline() -> float:
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    set_seed(42)
    base = str(root.parent / "model")
    tok = AutoTokenizer.from_pretrained(base)
    tok.padding_side = "right"
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model = get_peft_model(
        model,
        LoraConfig(
            r=16, lora_alpha=16, lora_dropout=0.0, task_type="CAUSAL_LM", target_modules=p.config.lora.target_modules
        ),
    )
    rows = [
        tokenize_for_training(tok, with_system_prompt(e, p.system_prompt()), 256)
        for e in load_examples(p.canonical_path)
    ]
    args = TrainingArguments(
        output_dir=str(root / "baseline"),
        num_train_epochs=EPOCHS,
        per_device_train_batch_size=BATCH,
        learning_rate=1e-3,
        lr_scheduler_type="cosine",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        data_collator=DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100),
    )
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    return sum(len(r["input_ids"]) for r in rows) * EPOCHS / wall


base_rate = baseline()
forge_rate = train(p, echo=lambda *_: None).tokens_per_s
print(f"baseline_tokens_per_s: {base_rate:.0f}")
print(f"forge_tokens_per_s: {forge_rate:.0f}")
print(f"ratio_forge_vs_baseline: {forge_rate / base_rate:.2f}x")
