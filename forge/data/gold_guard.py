"""The gold guard: the one place that keeps gold and sealed examples out of training data.

Examples (every write into the training set, and the whole training set again at train time):
an example is gold-like when its normalized user content equals a gold/sealed one, or when the
Jaccard overlap of their word 3-gram sets is at least NEAR_DUPLICATE_THRESHOLD (0.8). Texts
shorter than three words are compared as a single n-gram, i.e. exactly. The threshold is high
enough that "what is 12 plus 7" and "what is 12 plus 8" are different questions (overlap 0.5)
while a paraphrase that only changes one word of a long sentence is caught.

Free text that flows into generation (the planner's augment focus and BACKGROUND.md additions,
BACKGROUND.md itself, a pretraining corpus) is checked for *containment*: a gold/sealed input
whose normalized text, or at least CONTAINED_FRACTION of whose word 3-grams, appear inside the
longer text. A gold input under three words counts only as that exact normalized phrase.
Results name where the gold example is (file:line), never its text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from forge.data.datasets import load_numbered, normalize, user_text
from forge.errors import DatasetError

NGRAM = 3
NEAR_DUPLICATE_THRESHOLD = 0.8
CONTAINED_FRACTION = 0.8
SHOWN = 3  # overlap pairs named in an error


def ngrams(text: str, n: int = NGRAM) -> frozenset[tuple[str, ...]]:
    words = normalize(text).split()
    if len(words) < n:
        return frozenset([tuple(words)])
    return frozenset(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


class GoldGuard:
    """Built from the gold (and sealed) files; answers whether a text is gold-like or holds gold."""

    def __init__(self, texts: list[str], protected_paths: Iterable[Path] = (), where: list[str] | None = None):
        self.protected_paths = [Path(p).resolve() for p in protected_paths]
        self.where = where or [f"gold example {i + 1}" for i in range(len(texts))]
        self._norm = [normalize(t) for t in texts]
        self._exact = {t: i for i, t in enumerate(self._norm)}
        self._grams = [ngrams(t) for t in texts]
        self._short = {i for i, t in enumerate(self._norm) if t and len(t.split()) < NGRAM}
        self._index: dict[tuple, set[int]] = defaultdict(set)
        for i, grams in enumerate(self._grams):
            for g in grams:
                self._index[g].add(i)

    @classmethod
    def from_files(cls, paths: list[Path], displays: list[str] | None = None) -> "GoldGuard":
        texts, where = [], []
        for n, path in enumerate(paths):
            display = displays[n] if displays else str(path)
            for line, e in load_numbered(path, display, missing_ok=True):
                texts.append(user_text(e))
                where.append(f"{display}:{line}")
        return cls(texts, paths, where)

    def match(self, text: str) -> int | None:
        """The index of a gold/sealed example this text is a near-duplicate of, or None."""
        exact = self._exact.get(normalize(text))
        if exact is not None:
            return exact
        grams = ngrams(text)
        candidates = set().union(*(self._index.get(g, ()) for g in grams)) if grams else set()
        for i in sorted(candidates):
            other = self._grams[i]
            if len(grams & other) / len(grams | other) >= NEAR_DUPLICATE_THRESHOLD:
                return i
        return None

    def is_gold_like(self, text: str) -> bool:
        return self.match(text) is not None

    def contained(self, text: str) -> str | None:
        """Where (file:line) a gold/sealed input found inside `text` is, or None."""
        norm = f" {normalize(text)} "
        for i in sorted(self._short):
            if f" {self._norm[i]} " in norm:
                return self.where[i]
        grams = ngrams(text)
        hits: dict[int, int] = defaultdict(int)
        for g in grams:
            for i in self._index.get(g, ()):
                hits[i] += 1
        for i in sorted(hits):
            if i in self._short:
                continue
            if f" {self._norm[i]} " in norm or hits[i] / len(self._grams[i]) >= CONTAINED_FRACTION:
                return self.where[i]
        return None

    def check_planner_text(self, text: str, what: str) -> str | None:
        """Why planner text bound for data generation is refused (the rule, never the gold text), or None."""
        if self.contained(text) is None:
            return None
        return (f"{what} contains an input of the gold/sealed eval set; text that reaches the data generator may "
                "not quote eval inputs. Describe the kind of input instead")

    def filter(self, examples: list[dict]) -> tuple[list[dict], int]:
        """(examples that are not gold-like, how many were rejected)."""
        kept = [e for e in examples if not self.is_gold_like(user_text(e))]
        return kept, len(examples) - len(kept)

    def overlapping(self, numbered: list[tuple[int, dict]]) -> dict[int, str]:
        """Line -> the gold/sealed example (file:line) it is gold-like to, for the examples of a file."""
        hits = {line: self.match(user_text(e)) for line, e in numbered}
        return {line: self.where[i] for line, i in hits.items() if i is not None}

    def overlaps(self, numbered: list[tuple[int, dict]], display: str) -> list[str]:
        """`display:LINE ~ gold:LINE` for every example of a file that is gold-like."""
        return [f"{display}:{line} ~ {where}" for line, where in self.overlapping(numbered).items()]

    def check_training_set(self, numbered: list[tuple[int, dict]], display: str) -> None:
        """Refuse a training set (its numbered examples) holding gold-like examples: the count and the
        first few pairs."""
        found = self.overlaps(numbered, display)
        if found:
            more = f" (and {len(found) - SHOWN} more)" if len(found) > SHOWN else ""
            raise DatasetError(f"{display}: {len(found)} training example(s) overlap the gold/sealed set: "
                               f"{', '.join(found[:SHOWN])}{more}; remove them with `forge clean --gold-overlap`")

    def check_training_path(self, path: Path, display: str | None = None) -> None:
        """Refuse to train on (or write into) a gold or sealed file."""
        if Path(path).resolve() in self.protected_paths:
            raise DatasetError(f"{display or path}: is a gold/sealed eval set; refusing to use it as training data")
