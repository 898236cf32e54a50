"""Greedy completions in left-padded batches, the way eval, predict, probe and verify generate.

Prompts are sorted by length in tokens so a batch pads little, and a batch holds at most what the
memory budget allows (forge.models.memory); each row stops at the model's own end tokens
(end-of-turn included); with a constraint per row (forge.inference.constrained), each answer is
decoded under its contract.
"""

from __future__ import annotations


def until_stop(ids: list[int], stop: set[int]) -> list[int]:
    return next((ids[:i] for i, t in enumerate(ids) if t in stop), ids)


def stop_ids(model, tokenizer) -> set[int]:
    """The tokenizer's eos and every end id the model's generation config declares (end-of-turn included)."""
    eos = {tokenizer.eos_token_id}
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    return eos | set(gen_eos if isinstance(gen_eos, list) else [gen_eos] if gen_eos is not None else [])


def batches(lengths: list[int], batch_size: int, max_tokens: int | None, max_new_tokens: int) -> list[list[int]]:
    """Prompt indices, shortest first, cut into batches of at most `batch_size` prompts and, with `max_tokens`, at
    most that many tokens once generated (rows x (longest prompt + max_new_tokens)); a prompt is never left out."""
    out: list[list[int]] = []
    current: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (lengths[i], i)):
        full = len(current) >= batch_size
        over = max_tokens is not None and (len(current) + 1) * (lengths[i] + max_new_tokens) > max_tokens
        if current and (full or over):
            out.append(current)
            current = []
        current.append(i)
    return out + [current] if current else out


def generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int, device: str,
             progress=None, constraint=None, max_tokens: int | None = None) -> list[str]:
    """Greedy completions for `prompts`, in their order, generated in left-padded batches of similar length (at
    most `max_tokens` tokens each with the answers, forge.models.memory.generation_tokens); with `constraint`
    (forge.inference.constrained.Constraint, or a list of one Constraint or None per prompt), answers are decoded
    under the output schema."""
    import torch

    tokenizer.padding_side = "left"
    eos = stop_ids(model, tokenizer)
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]] if prompts else []
    out: dict[int, str] = {}  # prompt index -> completion; every batch fills its rows
    for idx in batches(lengths, batch_size, max_tokens, max_new_tokens):
        enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                        add_special_tokens=False).to(device)
        extra = {}
        row_constraints = [constraint[i] for i in idx] if isinstance(constraint, list) else [constraint] * len(idx)
        if any(row_constraints):
            from transformers import LogitsProcessorList

            from forge.inference.constrained import RowMatchers

            extra["logits_processor"] = LogitsProcessorList([RowMatchers(row_constraints, enc["input_ids"].shape[1],
                                                                         frozenset(eos))])
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=sorted(eos), **extra)
        # cut at the stop token: an end-of-turn token that is not marked special would survive decoding
        rows = [until_stop(row, eos) for row in gen[:, enc["input_ids"].shape[1]:].tolist()]
        texts = tokenizer.batch_decode(rows, skip_special_tokens=True)
        for i, text in zip(idx, texts, strict=True):
            out[i] = text
        if progress:
            progress(len(idx))
    return [out[i] for i in range(len(prompts))]
