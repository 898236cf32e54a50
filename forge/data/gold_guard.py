"""The gold guard: the one place that keeps gold and sealed inputs out of training data.

Every text is compared by its skeleton (forge.data.skeleton: homoglyphs, transliteration, leetspeak
and invisible characters folded away). An example is gold-like by the first rule it breaks:
- gold_exact: its normalized user text is a gold/sealed input's;
- gold_homoglyph: its skeleton is one (the same words spelled with other characters);
- gold_contained: it contains a whole gold input of at least CONTAINED_MIN_WORDS words (padding
  before or after: "hey there, <gold>", "<gold> right now"); shorter gold inputs count only
  exactly, so "lights on in the kitchen" is not refused for a gold "lights on";
- gold_near: it is one word away (a word swapped, added or dropped) from a gold input of at least
  NEAR_MIN_WORDS words, unless that word is a number ("add 12 and 7" is not "add 12 and 8") or the
  example's answer is not that gold input's ("unlock the front door please" beside a gold "lock
  the front door please" is another request, not a copy);
- gold_overlap: the Jaccard overlap of their word 3-gram sets is at least NEAR_DUPLICATE_THRESHOLD
  (a paraphrase that keeps most of a long input).
Indexes keep it linear in the data: exact lookups by skeleton, by a gold input's first words and
by its one-word deletions; for the overlap, candidates only through the rarest 3-grams each side
must share to reach the threshold (prefix filtering), so 100,000 examples against 1,000 gold
inputs take seconds (bench/gold_guard_scale.py).

Free text that flows into generation (the planner's augment focus and BACKGROUND.md additions,
BACKGROUND.md itself, a pretraining corpus) is checked for containment: a gold/sealed input whose
skeleton, or at least CONTAINED_FRACTION of whose word 3-grams, appear inside the text (a gold input
under three words only as that exact phrase). Results name where the gold example is (file:line),
never its text.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from forge.data.datasets import assistant_text, load_numbered, normalize, user_text
from forge.data.skeleton import is_number, skeleton
from forge.errors import DatasetError

NGRAM = 3
NEAR_DUPLICATE_THRESHOLD = 0.8
CONTAINED_FRACTION = 0.8
CONTAINED_MIN_WORDS = 4  # from measurements: docs/benchmarks.md, bench/gold_guard_rules.py
NEAR_MIN_WORDS = 4
SHOWN = 3  # overlap pairs named in an error
RULES = ("gold_exact", "gold_homoglyph", "gold_contained", "gold_near", "gold_overlap")


def ngrams(words: tuple[str, ...], n: int = NGRAM) -> frozenset[tuple[str, ...]]:
    if len(words) < n:
        return frozenset([words])
    return frozenset(words[i : i + n] for i in range(len(words) - n + 1))


def one_word_edit(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """a and b differ by one word swapped, added or dropped, and that word is not a number."""
    if len(a) == len(b):
        diff = [k for k in range(len(a)) if a[k] != b[k]]
        return len(diff) == 1 and not (is_number(a[diff[0]]) or is_number(b[diff[0]]))
    if abs(len(a) - len(b)) != 1:
        return False
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    k = next((k for k in range(len(shorter)) if longer[k] != shorter[k]), len(shorter))
    return longer[:k] + longer[k + 1 :] == shorter and not is_number(longer[k])


def _deletions(words: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [words[:k] + words[k + 1 :] for k in range(len(words))]


def _answer_key(answer: str | None) -> str | None:
    """An answer compared as its JSON value when it is JSON (key order and spacing aside), else as text."""
    if answer is None:
        return None
    try:
        return json.dumps(json.loads(answer), sort_keys=True)
    except ValueError:
        return answer.strip()


@dataclass
class Rejections:
    """What a filter refused: the count per rule and (index in the batch, 'gold file:line (rule)') pairs."""

    by_rule: Counter = field(default_factory=Counter)
    pairs: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(self.by_rule.values())


class GoldGuard:
    """Built from the gold (and sealed) files; answers whether a text is gold-like or holds gold."""

    def __init__(
        self,
        texts: list[str],
        protected_paths: Iterable[Path] = (),
        where: list[str] | None = None,
        answers: list[str] | None = None,
    ):
        self.protected_paths = [Path(p).resolve() for p in protected_paths]
        self.where = where or [f"gold example {i + 1}" for i in range(len(texts))]
        # kept in memory only (a sealed answer is never written): the near rule spares another request
        self._answers = [_answer_key(a) for a in answers] if answers else [None] * len(texts)
        self._norm = {normalize(t): i for i, t in reversed(list(enumerate(texts)))}
        self._skel = [skeleton(t) for t in texts]
        self._exact = {s: i for i, s in reversed(list(enumerate(self._skel)))}
        self._phrases = [f" {' '.join(s)} " for s in self._skel]  # for containment inside free text
        self._short = [i for i, s in enumerate(self._skel) if s and len(s) < NGRAM]
        self._starts: dict[tuple, list[int]] = defaultdict(list)  # first CONTAINED_MIN_WORDS words -> gold
        self._edits: dict[tuple, set[int]] = defaultdict(set)  # gold and each of its one-word deletions -> gold
        for i, s in enumerate(self._skel):
            if len(s) >= CONTAINED_MIN_WORDS:
                self._starts[s[:CONTAINED_MIN_WORDS]].append(i)
            if len(s) >= NEAR_MIN_WORDS:
                for key in (s, *_deletions(s)):
                    self._edits[key].add(i)
        self._edit_lengths = {len(s) + d for s in self._skel if len(s) >= NEAR_MIN_WORDS for d in (-1, 0, 1)}
        self._grams = [ngrams(s) for s in self._skel]
        self._freq: Counter = Counter(g for grams in self._grams for g in grams)
        self._index: dict[tuple, set[int]] = defaultdict(set)  # every 3-gram -> gold (containment)
        self._prefix_index: dict[tuple, set[int]] = defaultdict(set)  # the rarest ones only (overlap)
        for i, grams in enumerate(self._grams):
            for g in grams:
                self._index[g].add(i)
            for g in self._prefix(grams):
                self._prefix_index[g].add(i)

    @classmethod
    def from_files(cls, paths: list[Path], displays: list[str] | None = None) -> "GoldGuard":
        texts, where, answers = [], [], []
        for n, path in enumerate(paths):
            display = displays[n] if displays else str(path)
            for line, e in load_numbered(path, display, missing_ok=True):
                texts.append(user_text(e))
                answers.append(assistant_text(e))
                where.append(f"{display}:{line}")
        return cls(texts, paths, where, answers)

    def _prefix(self, grams: frozenset) -> list[tuple]:
        """The grams a set must share with any set it overlaps by NEAR_DUPLICATE_THRESHOLD: its rarest
        |A| - ceil(t|A|) + 1 (a gram no gold input has is rarest of all)."""
        keep = len(grams) - math.ceil(NEAR_DUPLICATE_THRESHOLD * len(grams)) + 1
        return sorted(grams, key=lambda g: (self._freq.get(g, 0), g))[:keep]

    def match_rule(self, text: str, answer: str | None = None) -> tuple[int, str] | None:
        """(the index of the gold/sealed input, the rule) for the first rule `text` (an example's user text, with its
        `answer` when it has one) breaks, or None."""
        exact = self._norm.get(normalize(text))
        if exact is not None:
            return exact, "gold_exact"
        words = skeleton(text)
        if words in self._exact:
            return self._exact[words], "gold_homoglyph"
        for k in range(len(words) - CONTAINED_MIN_WORDS + 1):
            for i in self._starts.get(words[k : k + CONTAINED_MIN_WORDS], ()):
                if words[k : k + len(self._skel[i])] == self._skel[i]:
                    return i, "gold_contained"
        if len(words) in self._edit_lengths:
            found = sorted({i for key in (words, *_deletions(words)) for i in self._edits.get(key, ())})
            key = _answer_key(answer)
            for i in found:
                other_request = key is not None and self._answers[i] is not None and key != self._answers[i]
                if one_word_edit(words, self._skel[i]) and not other_request:
                    return i, "gold_near"
        grams = ngrams(words)
        candidates = sorted({i for g in self._prefix(grams) for i in self._prefix_index.get(g, ())})
        for i in candidates:
            other = self._grams[i]
            if len(grams & other) / len(grams | other) >= NEAR_DUPLICATE_THRESHOLD:
                return i, "gold_overlap"
        return None

    def match(self, text: str) -> int | None:
        """The index of a gold/sealed input this text is gold-like to, or None."""
        hit = self.match_rule(text)
        return hit[0] if hit else None

    def is_gold_like(self, text: str, answer: str | None = None) -> bool:
        return self.match_rule(text, answer) is not None

    def contained(self, text: str) -> str | None:
        """Where (file:line) a gold/sealed input found inside `text` is, or None."""
        words = skeleton(text)
        joined = f" {' '.join(words)} "
        for i in self._short:
            if self._phrases[i] in joined:
                return self.where[i]
        hits: dict[int, int] = defaultdict(int)
        for g in ngrams(words):
            for i in self._index.get(g, ()):
                hits[i] += 1
        for i in sorted(hits):
            if len(self._skel[i]) < NGRAM:
                continue
            if self._phrases[i] in joined or hits[i] / len(self._grams[i]) >= CONTAINED_FRACTION:
                return self.where[i]
        return None

    def check_planner_text(self, text: str, what: str) -> str | None:
        """Why planner text bound for data generation is refused (the rule, never the gold text), or None."""
        if self.contained(text) is None:
            return None
        return (
            f"{what} contains an input of the gold/sealed eval set; text that reaches the data generator may "
            "not quote eval inputs. Describe the kind of input instead"
        )

    def filter(self, examples: list[dict]) -> tuple[list[dict], Rejections]:
        """(examples that are not gold-like, what was refused by which rule)."""
        kept, refused = [], Rejections()
        for n, e in enumerate(examples):
            hit = self.match_rule(user_text(e), assistant_text(e))
            if hit is None:
                kept.append(e)
            else:
                refused.by_rule[hit[1]] += 1
                refused.pairs.append((n, f"{self.where[hit[0]]} ({hit[1]})"))
        return kept, refused

    def overlapping(self, numbered: list[tuple[int, dict]]) -> dict[int, str]:
        """Line -> the gold/sealed example (file:line) it is gold-like to, for the examples of a file."""
        hits = {line: self.match_rule(user_text(e), assistant_text(e)) for line, e in numbered}
        return {line: f"{self.where[hit[0]]} ({hit[1]})" for line, hit in hits.items() if hit is not None}

    def overlaps(self, numbered: list[tuple[int, dict]], display: str) -> list[str]:
        """`display:LINE ~ gold:LINE (rule)` for every example of a file that is gold-like."""
        return [f"{display}:{line} ~ {where}" for line, where in self.overlapping(numbered).items()]

    def check_training_set(self, numbered: list[tuple[int, dict]], display: str) -> None:
        """Refuse a training set (its numbered examples) holding gold-like examples: the count and the
        first few pairs."""
        found = self.overlaps(numbered, display)
        if found:
            more = f" (and {len(found) - SHOWN} more)" if len(found) > SHOWN else ""
            raise DatasetError(
                f"{display}: {len(found)} training example(s) overlap the gold/sealed set: "
                f"{', '.join(found[:SHOWN])}{more}; remove them with `forge clean --gold-overlap`"
            )

    def check_training_path(self, path: Path, display: str | None = None) -> None:
        """Refuse to train on (or write into) a gold or sealed file."""
        if Path(path).resolve() in self.protected_paths:
            raise DatasetError(f"{display or path}: is a gold/sealed eval set; refusing to use it as training data")
