"""The validation split: examples held out of training for a validation loss per epoch.

Membership is a hash of the example's normalized user text, not a shuffle: an example stays on its
side as the training set grows between iterations, so validation losses of different iterations
measure comparable things, and duplicates of one input never straddle the split. The split comes
only from the training set; the gold set is never part of it.
"""

from __future__ import annotations

from forge.data.datasets import example_id


def held_out(example: dict, fraction: float) -> bool:
    return int(example_id(example, 16), 16) / 2**64 < fraction


def split(examples: list[dict], fraction: float) -> tuple[list[dict], list[dict]]:
    """(training, validation); validation is empty when fraction is 0 or nothing hashes into it."""
    if fraction <= 0:
        return examples, []
    train = [e for e in examples if not held_out(e, fraction)]
    val = [e for e in examples if held_out(e, fraction)]
    return (train, val) if train else (examples, [])
