"""Benchmark: what each gold-guard rule costs and what it catches, on the public examples' own data.

False positives: each example project's generator (examples/forge-math-demo, examples/forge-home-demo)
writes N examples; after dropping repeats and exact copies of a gold input (true duplicates), every
refusal is a legitimate example lost. Counted per rule, and for the containment rule at several
minimum gold lengths (what CONTAINED_MIN_WORDS is chosen from). Catches: the six disguises of the
issue applied to every gold input of the home demo, kept by the guard of commit 14281cc and by this one.
Run: `.venv/bin/python bench/gold_guard_rules.py [N]`.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

from forge.data import gold_guard
from forge.data.datasets import load_examples, normalize, user_text

from _setup import module_at  # also puts tests/ on the path

ROOT = Path(__file__).resolve().parents[1]
n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000

from test_gold_disguises import DISGUISES  # noqa: E402  the tests' disguises (tests/ is on the path now)


def generator(project: Path):
    spec = importlib.util.spec_from_file_location(f"gen_{project.name}", project / "generator.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate


def legit(project: Path, gold: list[str]) -> list[str]:
    exact = {normalize(g) for g in gold}
    out: dict[str, str] = {}
    for item in generator(project)(n, None, 1):
        text = item["user"] if "user" in item else user_text(item)
        if normalize(text) not in exact:
            out.setdefault(normalize(text), text)
    return list(out.values())


for demo in ("forge-math-demo", "forge-home-demo"):
    project = ROOT / "examples" / demo
    gold = [user_text(e) for e in load_examples(project / "dataset" / "gold.jsonl")]
    texts = legit(project, gold)
    guard = gold_guard.GoldGuard(gold)
    refused = Counter(hit[1] for t in texts if (hit := guard.match_rule(t)))
    kept = len(texts) - sum(refused.values())
    print(
        f"{demo}: {len(texts)} legitimate distinct examples, kept {kept} ({kept / len(texts):.1%}); "
        f"refused by rule: {dict(refused) or 0}"
    )
    for words in (3, 4, 5, 6):
        gold_guard.CONTAINED_MIN_WORDS = words
        guard = gold_guard.GoldGuard(gold)
        hits = sum(1 for t in texts if (hit := guard.match_rule(t)) and hit[1] == "gold_contained")
        print(f"  contained_min_words {words}: {hits} refused as gold_contained ({hits / len(texts):.2%})")
    gold_guard.CONTAINED_MIN_WORDS = 4

old = module_at("14281cc", "forge/data/gold_guard.py")
gold = [user_text(e) for e in load_examples(ROOT / "examples" / "forge-home-demo" / "dataset" / "gold.jsonl")]
print(f"disguised home-demo gold inputs kept ({len(gold)} of each kind): before | after")
guards = old.GoldGuard(gold), gold_guard.GoldGuard(gold)
for kind, disguise in DISGUISES.items():
    variants = [disguise(g) for g in gold]
    before, after = (sum(not guard.is_gold_like(v) for v in variants) for guard in guards)
    print(f"  {kind}: {before} | {after}")
