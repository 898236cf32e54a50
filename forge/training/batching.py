"""Batches sized by tokens: the batch sampler of training.tokens_per_batch, and the split of one step's batch into
micro-batches that fit the memory budget (forge.training.memory).

A micro-batch is a run of the batch's rows, shortest padding first, trimmed to its own columns: rows of similar
length go together, so a split also drops most of the padding a mixed batch carries. The loss of each micro-batch
is divided by the learned tokens of the whole accumulated batch (forge.training.completion_loss), so the sum of
their gradients is the gradient of the unsplit batch.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from forge.models.chat_format import IGNORE


def token_batches(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Row indices cut into batches of similar length, each at most `max_tokens` tokens padded (rows x its longest
    row); a row longer than max_tokens is a batch of its own."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:  # ascending: the newest row is the batch's longest
        if current and (len(current) + 1) * lengths[i] > max_tokens:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class TokenBatchSampler:
    """A batch sampler for torch's DataLoader: token_batches, in a new order every epoch (seed + epoch). The batches
    themselves never change, so the number of steps an epoch takes is fixed (the schedule counts on it)."""

    def __init__(self, lengths: list[int], max_tokens: int, seed: int):
        self.batches = token_batches(lengths, max_tokens)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        order = list(range(len(self.batches)))
        random.Random(self.seed + self.epoch).shuffle(order)
        yield from (self.batches[i] for i in order)


def row_lengths(attention_mask) -> list[int]:
    return [int(n) for n in attention_mask.sum(dim=1).tolist()]


def _trimmed(inputs: dict, rows: list[int]) -> dict:
    """The batch's `rows`, cut to the columns where any of them has a token (left or right padding alike)."""
    import torch

    index = torch.tensor(rows, device=inputs["input_ids"].device)
    mask = inputs["attention_mask"].index_select(0, index)
    used = mask.any(dim=0).nonzero().flatten()
    lo, hi = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, mask.shape[1])
    return {
        k: (v.index_select(0, index)[:, lo:hi] if hasattr(v, "index_select") and v.dim() == 2 else v)
        for k, v in inputs.items()
    }


def micro_batches(inputs: dict, fits: Callable[[int, int, int], bool]) -> list[dict]:
    """`inputs` (a collated batch with attention_mask and labels) split into micro-batches for which
    fits(rows, padded length, learned tokens) holds, grouped by length; [inputs] when it fits whole. A single row
    that does not fit is still its own micro-batch (forge.training.memory refuses such a plan beforehand)."""
    mask, labels = inputs.get("attention_mask"), inputs.get("labels")
    if mask is None or labels is None:
        return [inputs]
    lengths = row_lengths(mask)
    learned = [int(n) for n in (labels[:, 1:] != IGNORE).sum(dim=1).tolist()]
    if fits(len(lengths), mask.shape[1], sum(learned)):
        return [inputs]
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    groups: list[list[int]] = []
    for i in order:  # ascending: row i is the longest of its group so far
        group = groups[-1] if groups else None
        if group and fits(len(group) + 1, lengths[i], sum(learned[j] for j in group) + learned[i]):
            group.append(i)
        else:
            groups.append([i])
    return [_trimmed(inputs, g) for g in groups]


def pad_right(rows: list[dict], pad_id: int) -> dict:
    """Collate pre-tokenized rows (input_ids, labels) into tensors padded on the right, whatever side the tokenizer
    pads for generation: every real token then precedes every pad, so causal attention alone keeps them apart and
    the loss needs no attention mask (forge.training.completion_loss), which lets sdpa take its fused kernel
    instead of materialising attention probabilities."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, :n] = torch.tensor(r["input_ids"], dtype=torch.long)
        labels[i, :n] = torch.tensor(r["labels"], dtype=torch.long)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def right_padded(attention_mask) -> bool:
    """Whether every row's tokens come first and its padding after (no padding at all included)."""
    return bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all())
