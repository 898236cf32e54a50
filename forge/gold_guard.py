"""The gold guard: the one place that keeps gold and sealed examples out of training data.

An example is rejected when its normalized user content equals a gold/sealed one, or when the
Jaccard overlap of their word 3-gram sets is at least NEAR_DUPLICATE_THRESHOLD (0.8). Texts
shorter than three words are compared as a single n-gram, i.e. exactly. The threshold is high
enough that "what is 12 plus 7" and "what is 12 plus 8" are different questions (overlap 0.5)
while a paraphrase that only changes one word of a long sentence is caught.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from forge.datasets import load_examples, normalize, user_text
from forge.errors import DatasetError

NGRAM = 3
NEAR_DUPLICATE_THRESHOLD = 0.8


def ngrams(text: str, n: int = NGRAM) -> frozenset[tuple[str, ...]]:
    words = normalize(text).split()
    if len(words) < n:
        return frozenset([tuple(words)])
    return frozenset(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


class GoldGuard:
    """Built from the gold (and sealed) files; answers whether a text is gold-like."""

    def __init__(self, texts: list[str], protected_paths: list[Path] = ()):
        self.protected_paths = [Path(p).resolve() for p in protected_paths]
        self._exact = {normalize(t) for t in texts}
        self._grams = [ngrams(t) for t in texts]
        self._index: dict[tuple, set[int]] = defaultdict(set)
        for i, grams in enumerate(self._grams):
            for g in grams:
                self._index[g].add(i)

    @classmethod
    def from_files(cls, paths: list[Path], displays: list[str] | None = None) -> "GoldGuard":
        texts = []
        for n, path in enumerate(paths):
            display = displays[n] if displays else str(path)
            texts += [user_text(e) for e in load_examples(path, display, missing_ok=True)]
        return cls(texts, paths)

    def is_gold_like(self, text: str) -> bool:
        if normalize(text) in self._exact:
            return True
        grams = ngrams(text)
        candidates = set().union(*(self._index.get(g, ()) for g in grams)) if grams else set()
        for i in candidates:
            other = self._grams[i]
            if len(grams & other) / len(grams | other) >= NEAR_DUPLICATE_THRESHOLD:
                return True
        return False

    def filter(self, examples: list[dict]) -> tuple[list[dict], int]:
        """(examples that are not gold-like, how many were rejected)."""
        kept = [e for e in examples if not self.is_gold_like(user_text(e))]
        return kept, len(examples) - len(kept)

    def check_training_path(self, path: Path, display: str | None = None) -> None:
        """Refuse to train on (or write into) a gold or sealed file."""
        if Path(path).resolve() in self.protected_paths:
            raise DatasetError(f"{display or path}: is a gold/sealed eval set; refusing to use it as training data")
