"""One way to load a model for training and one way to save it, used by `forge train` and `forge pretrain`.

The base and its tokenizer, Unsloth's loader on CUDA and transformers otherwise; with LoRA the
adapter of the project's lora.* shape (dropout included, on both backends) on the configured
target modules, checked against the model; under bf16 on transformers, LoRA's sums are kept in
fp32 (forge.training.lora_precision) so bf16 learns as fp32 does. Saving is one way too:
beside the final directory, then swapped in, so a crash never leaves half a model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from forge.atomic import DiskFull, disk_full, replace_dir, write_json_atomic
from forge.errors import ForgeError
from forge.models.loading import check_target_modules, load_causal_lm, load_tokenizer
from forge.project.records import META_FILE
from forge.training.warm_start import load_source_weights


def load_for_training(
    cfg, runtime, base_path: str, precision: str, method: str | None = None, warm_from: Path | None = None
):
    """(model, tokenizer) ready to train with `method` (default training.method: lora or full); with `warm_from`
    (forge.training.warm_start), continuing that model: a full model is loaded from it, a LoRA adapter of the
    same shape gets its weights."""
    method = method or cfg.training.method
    if warm_from is not None and method == "full":
        base_path = str(warm_from)
    if runtime.backend == "unsloth":
        from unsloth import FastLanguageModel

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=base_path,
            max_seq_length=cfg.model.max_seq_len,
            load_in_4bit=cfg.model.load_in_4bit,
            dtype=None,
            full_finetuning=method == "full",
        )
        if method == "lora":
            check_target_modules(model, cfg.lora.target_modules, cfg.model.base)
            model = FastLanguageModel.get_peft_model(
                model,
                r=cfg.lora.r,
                lora_alpha=cfg.lora.alpha,
                lora_dropout=cfg.lora.dropout,
                target_modules=cfg.lora.target_modules,
                bias="none",
                use_gradient_checkpointing="unsloth",
                random_state=cfg.training.seed,
            )
            if warm_from is not None:
                load_source_weights(model, warm_from)
        return model, tokenizer
    tokenizer = load_tokenizer(base_path)
    model = load_causal_lm(base_path, runtime.device)
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        check_target_modules(model, cfg.lora.target_modules, cfg.model.base)
        model = get_peft_model(
            model,
            LoraConfig(
                r=cfg.lora.r,
                lora_alpha=cfg.lora.alpha,
                lora_dropout=cfg.lora.dropout,
                target_modules=list(cfg.lora.target_modules),
                task_type="CAUSAL_LM",
            ),
        )
        if warm_from is not None:
            load_source_weights(model, warm_from)
        if precision == "bf16":
            from forge.training.lora_precision import keep_lora_sums_fp32

            keep_lora_sums_fp32(model)
    return model, tokenizer


def save_swapped(final: Path, meta: dict, save) -> Path:
    """Run `save(tmp_dir)` beside `final`, write META_FILE there, then swap it in for `final`."""
    tmp = final.parent / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        save(tmp)
        write_json_atomic(tmp / META_FILE, meta)
    except (OSError, ForgeError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        full = disk_full(final, exc) if isinstance(exc, OSError) else exc if isinstance(exc, DiskFull) else None
        if full:
            raise full from None
        raise
    replace_dir(tmp, final)
    return final
