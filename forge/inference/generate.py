"""Greedy completions in left-padded batches, the way eval, predict, probe and verify generate.

Prompts are sorted by length in tokens so a batch pads little, and a batch holds at most what the
memory budget allows (forge.models.memory); each row stops at the model's own end tokens
(end-of-turn included); with a constraint per row (forge.inference.constrained), each answer is
decoded under its contract. The tokens every prompt of a batch starts with (a system prompt, a tool
list: ~965 tokens of each prompt in the tools demo) are computed once and their key/value cache
shared by the rows; each row's own tokens follow after its padding, so every row sees the same
positions and the same context as it would alone.
"""

from __future__ import annotations

import inspect


class Completions(list):
    """generate()'s answers, in prompt order, with `cut`: for each, whether it ended at max_new_tokens without
    an end token (an answer cut short, not one the model finished)."""

    cut: list[bool]


def until_stop(ids: list[int], stop: set[int]) -> list[int]:
    return next((ids[:i] for i, t in enumerate(ids) if t in stop), ids)


# Fewer shared tokens are not worth the extra forward pass.
SHARED_PREFIX_MIN = 16


def shared_prefix(rows: list[list[int]]) -> int:
    """How many leading tokens every row has in common, leaving each row at least one token of its own (the
    one generation continues from); 0 below SHARED_PREFIX_MIN or for a single row."""
    if len(rows) < 2:
        return 0
    limit, first = min(len(r) for r in rows) - 1, rows[0]
    n = next((i for i in range(limit) if any(r[i] != first[i] for r in rows[1:])), max(limit, 0))
    return n if n >= SHARED_PREFIX_MIN else 0


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


def generate(
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int,
    batch_size: int,
    device: str,
    progress=None,
    constraint=None,
    max_tokens: int | None = None,
) -> Completions:
    """Greedy completions for `prompts`, in their order, generated in left-padded batches of similar length (at
    most `max_tokens` tokens each with the answers, forge.models.memory.generation_tokens); with `constraint`
    (forge.inference.constrained.Constraint, or a list of one Constraint or None per prompt), answers are decoded
    under the output schema; `.cut` says which answers hit max_new_tokens."""
    import torch

    tokenizer.padding_side = "left"
    eos = stop_ids(model, tokenizer)
    ids = tokenizer(prompts, add_special_tokens=False)["input_ids"] if prompts else []
    out: dict[int, str] = {}  # prompt index -> completion; every batch fills its rows
    cut: dict[int, bool] = {}
    for idx in batches([len(r) for r in ids], batch_size, max_tokens, max_new_tokens):
        enc, extra = _batch_inputs(model, [ids[i] for i in idx], tokenizer.pad_token_id, device)
        row_constraints = [constraint[i] for i in idx] if isinstance(constraint, list) else [constraint] * len(idx)
        if any(row_constraints):
            from transformers import LogitsProcessorList

            from forge.inference.constrained import RowMatchers

            extra["logits_processor"] = LogitsProcessorList(
                [RowMatchers(row_constraints, enc["input_ids"].shape[1], frozenset(eos))]
            )
        with torch.no_grad():
            gen = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=sorted(eos),
                **extra,
            )
        # cut at the stop token: an end-of-turn token that is not marked special would survive decoding
        generated = gen[:, enc["input_ids"].shape[1] :].tolist()
        rows = [until_stop(row, eos) for row in generated]
        texts = tokenizer.batch_decode(rows, skip_special_tokens=True)
        for i, text, row, full in zip(idx, texts, rows, generated, strict=True):
            out[i], cut[i] = text, len(row) == len(full) == max_new_tokens
        if progress:
            progress(len(idx))
    answers = Completions(out[i] for i in range(len(prompts)))
    answers.cut = [cut[i] for i in range(len(prompts))]
    return answers


def _batch_inputs(model, rows: list[list[int]], pad_id: int, device: str) -> tuple[dict, dict]:
    """generate()'s inputs for one batch: input_ids and attention_mask, and, where the rows share a prefix
    (shared_prefix), that prefix's key/value cache computed once for all rows (as past_key_values). The
    padding then sits between the shared prefix and each row's own tokens, masked out; position ids come
    from the mask, so each row's positions are those it has alone."""
    import torch

    n = shared_prefix(rows) if _full_attention(model) else 0
    width = max(len(r) for r in rows)
    input_ids = torch.tensor([r[:n] + [pad_id] * (width - len(r)) + r[n:] for r in rows], device=device)
    mask = torch.tensor([[1] * n + [0] * (width - len(r)) + [1] * (len(r) - n) for r in rows], device=device)
    extra: dict = {}
    if n:
        with torch.no_grad():
            output = model(input_ids=input_ids[:1, :n], use_cache=True)
        cache = getattr(output, "cache", None) or output.past_key_values
        cache.batch_repeat_interleave(len(rows))
        # transformers 5.2x calls it `cache`; earlier releases (the CUDA lock's) `past_key_values`
        key = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        extra[key] = cache
    return {"input_ids": input_ids, "attention_mask": mask}, extra


def _full_attention(model) -> bool:
    """Whether every layer attends to the whole context. A sliding-window layer counts its window in cache
    slots, padding included, so a row behind padding in the middle would see less of its own context."""
    config = getattr(model, "config", None)
    types = getattr(config, "layer_types", None)
    if types is not None:
        return all(t == "full_attention" for t in types)
    return not getattr(config, "sliding_window", None)
