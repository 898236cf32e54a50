"""`forge pretrain`: continued causal-LM training of the base on raw domain text, then merged.

The corpus (pretrain.corpus: .txt, .md, and .jsonl lines {"text": ...}) is tokenized, joined
with end-of-text tokens and packed into blocks of model.max_seq_len. A LoRA adapter (lora.*
shape, pretrain.learning_rate), loaded the way `forge train` loads one (forge.training.model_io:
dropout, precision and bf16's fp32 LoRA sums included), is trained on every token, then merged
into the base and saved in 16-bit with the tokenizer to output/pretrain_merged/ (Unsloth's
merged save on CUDA; peft merge_and_unload otherwise), swapped in whole. Point model.base there
to fine-tune on top of it.
"""

from __future__ import annotations

import math
import shutil
import time

from forge.clock import now
from forge.errors import ForgeError
from forge.jsonl import read_jsonl
from forge.models.loading import resolve_base, resolve_runtime, training_precision, use_bf16
from forge.project.project import Project
from forge.project.run_lock import holds_run_lock
from forge.remote.mark import Pull, remote_step
from forge.training.model_io import load_for_training, save_swapped

SUFFIXES = (".txt", ".md", ".jsonl")


def read_corpus(project: Project) -> tuple[list[str], list[str]]:
    """(texts, relative file names) of the corpus directory; a line holding a gold/sealed input is refused."""
    rel = project.config.pretrain.corpus
    root = project.path(rel)
    if not root.is_dir():
        raise ForgeError(f"pretrain.corpus {rel}: no such directory")
    texts, names, gold_guard = [], [], project.gold_guard()

    def checked(where: str, text: str) -> str:
        hit = gold_guard.contained(text)
        if hit:
            raise ForgeError(
                f"{where}: contains a gold/sealed input ({hit}); pretraining on it would leak the "
                "eval set into the base"
            )
        return text

    for f in sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file()):
        name = project.rel(f)
        if f.suffix == ".jsonl":
            for n, obj in read_jsonl(f, name):
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise ForgeError(f'{name}:{n}: expected {{"text": "..."}}')
                texts.append(checked(f"{name}:{n}", obj["text"]))
        else:
            text = f.read_text(encoding="utf-8")
            for n, line in enumerate(text.splitlines(), start=1):
                checked(f"{name}:{n}", line)
            texts.append(text)
        names.append(name)
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ForgeError(f"pretrain.corpus {rel}: no .txt, .md or .jsonl text found")
    return texts, names


def pack(tokenizer, texts: list[str], block: int) -> list[list[int]]:
    """Token blocks of exactly `block` tokens (a short tail of at least 16 tokens is kept too)."""
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for t in texts:
        ids += tokenizer(t, add_special_tokens=False)["input_ids"] + ([eos] if eos is not None else [])
    blocks = [ids[i : i + block] for i in range(0, len(ids), block)]
    return [b for b in blocks if len(b) >= min(16, block)]


def _mean_loss(model, blocks: list[list[int]], device: str) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for b in blocks:
            x = torch.tensor([b], device=device)
            total += model(input_ids=x, labels=x).loss.item() * (len(b) - 1)
            count += len(b) - 1
    return total / max(1, count)


@holds_run_lock("pretrain")
@remote_step(lambda project, r: [Pull(r["path"], "dir")])
def pretrain(project: Project, epochs: int | None = None, echo=print) -> dict:
    cfg = project.config
    base_path = resolve_base(cfg.model.base, project.root)  # refuses an unmerged LoRA adapter
    texts, files = read_corpus(project)
    runtime = resolve_runtime(cfg.compute.device, cfg.model.load_in_4bit)
    for note in runtime.notes:
        echo(f"warning: {note}")
    echo(f"backend: {runtime.backend} on {runtime.device} (LoRA pretraining on {len(files)} corpus files)")
    import torch
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed

    set_seed(cfg.training.seed)
    precision = training_precision(cfg.training.precision, runtime.device, "lora")
    model, tokenizer = load_for_training(cfg, runtime, base_path, precision, method="lora")
    blocks = pack(tokenizer, texts, cfg.model.max_seq_len)
    loss_before = _mean_loss(model, blocks, runtime.device)
    p = cfg.pretrain
    n_epochs = epochs or p.epochs
    # TrainingArguments' bf16 is a plain flag (only trl's SFTConfig reads None as "the backend decides"): None is off
    args = TrainingArguments(
        output_dir=str(project.output / ".pretrainer"),
        num_train_epochs=n_epochs,
        per_device_train_batch_size=p.batch_size,
        learning_rate=p.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=math.ceil(0.05 * math.ceil(len(blocks) / p.batch_size) * n_epochs),
        weight_decay=0.0,
        logging_strategy="steps",
        logging_steps=1,
        disable_tqdm=True,
        save_strategy="no",
        report_to="none",
        use_cpu=runtime.device == "cpu",
        bf16=bool(use_bf16(precision)),
        seed=cfg.training.seed,
    )
    rows = [{"input_ids": b, "labels": b} for b in blocks]
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    from forge.training.callbacks import EpochLosses, Progress, quiet

    epochs_seen = EpochLosses(n_epochs, float("-inf"))  # every epoch runs; it only records the losses
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        data_collator=collator,
        callbacks=[epochs_seen, Progress(epochs_seen, sum(len(b) for b in blocks), echo)],
    )
    quiet(trainer)
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    loss_after = _mean_loss(model, blocks, runtime.device)
    shutil.rmtree(project.output / ".pretrainer", ignore_errors=True)
    meta = {
        "kind": "pretrain_merged",
        "base": cfg.model.base,
        "backend": runtime.backend,
        "corpus_files": files,
        "blocks": len(blocks),
        "tokens": sum(len(b) for b in blocks),
        "epochs": n_epochs,
        "learning_rate": p.learning_rate,
        "precision": precision,
        "loss_before": round(loss_before, 4),
        "loss_after": round(loss_after, 4),
        "wall_s": round(wall, 2),
        "dtype": "bfloat16",
        "time": now(),
    }

    def save(tmp):
        if runtime.backend == "unsloth":
            model.save_pretrained_merged(str(tmp), tokenizer, save_method="merged_16bit")
        else:
            model.merge_and_unload().to(torch.bfloat16).save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))

    out = save_swapped(project.pretrain_merged_dir, meta, save)
    return {**meta, "path": project.rel(out)}
