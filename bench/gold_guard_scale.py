"""Benchmark: the gold guard at the scale of real datasets, 100,000 training examples against 1,000 gold inputs.

Texts of 4-20 words drawn from a Zipf-distributed 5,000-word vocabulary (so common words and 3-grams
are shared widely, as in real data), 1% of the training examples a disguised gold input. Times
building the guard and filtering every example (forge.data.gold_guard, all five rules), against the
guard of commit 14281cc (exact text and 3-gram Jaccard only) on the same data in the same run.
Target: <= 30 s. Run: `.venv/bin/python bench/gold_guard_scale.py [N_TRAIN] [N_GOLD]`.
"""

from __future__ import annotations

import random
import sys
import time

from forge.data import gold_guard

from _setup import module_at

BASELINE = "14281cc"
n_train = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
n_gold = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
rng = random.Random(0)
syllables = ["ka", "lo", "mi", "ra", "te", "su", "no", "vi", "de", "pa", "ri", "to", "ne", "ba", "go"]
vocab = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(8000)})[:5000]
weights = [1 / (k + 1) for k in range(len(vocab))]


def sentence() -> str:
    return " ".join(rng.choices(vocab, weights, k=rng.randint(4, 20)))


gold = [sentence() for _ in range(n_gold)]
train = [sentence() for _ in range(n_train)]
for k in range(0, n_train, 100):  # 1%: a gold input padded, or with a Cyrillic o
    g = rng.choice(gold)
    train[k] = f"hey {g} now" if k % 200 else g.replace("o", "о")
examples = [{"messages": [{"role": "user", "content": t}, {"role": "assistant", "content": "x"}]} for t in train]

old = module_at(BASELINE, "forge/data/gold_guard.py")

for name, module in (("before", old), ("after", gold_guard)):
    start = time.perf_counter()
    guard = module.GoldGuard(gold)
    built = time.perf_counter() - start
    kept, refused = guard.filter(examples)
    wall = time.perf_counter() - start
    print(f"{name}_build_s: {built:.2f}")
    print(f"{name}_total_s: {wall:.2f}  ({n_train / wall:,.0f} examples/s)")
    print(
        f"{name}_refused: {len(examples) - len(kept)}"
        + (f"  by rule: {dict(refused.by_rule)}" if hasattr(refused, "by_rule") else ""),
        flush=True,
    )
print(f"planted_disguised_gold: {len(range(0, n_train, 100))}")
