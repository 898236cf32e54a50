"""Greedy completions in left-padded batches, the way eval, predict, probe and verify generate.

Prompts are sorted by length so a batch pads little; each row stops at the model's own end
tokens (end-of-turn included); with a constraint per row (forge.inference.constrained), each
answer is decoded under its contract.
"""

from __future__ import annotations


def until_stop(ids: list[int], stop: set[int]) -> list[int]:
    return next((ids[:i] for i, t in enumerate(ids) if t in stop), ids)


def stop_ids(model, tokenizer) -> set[int]:
    """The tokenizer's eos and every end id the model's generation config declares (end-of-turn included)."""
    eos = {tokenizer.eos_token_id}
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    return eos | set(gen_eos if isinstance(gen_eos, list) else [gen_eos] if gen_eos is not None else [])


def generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int, device: str,
             progress=None, constraint=None) -> list[str]:
    """Greedy completions for `prompts`, in their order, generated in left-padded batches; with `constraint`
    (forge.inference.constrained.Constraint, or a list of one Constraint or None per prompt), answers are decoded
    under the output schema."""
    import torch

    tokenizer.padding_side = "left"
    eos = stop_ids(model, tokenizer)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: dict[int, str] = {}  # prompt index -> completion; every batch fills its rows
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
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
