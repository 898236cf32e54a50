"""Text made to fit a line: `one_line` folds every run of whitespace into one space, `clip` cuts text
to n characters and marks the cut with "…".
"""

from __future__ import annotations

ELLIPSIS = "…"


def one_line(text) -> str:
    """`text` (str() of anything) with each run of whitespace, newlines included, as one space."""
    return " ".join(str(text).split())


def clip(text: str, n: int) -> str:
    """`text` when it has at most `n` characters, else its first `n` and "…"."""
    return text if len(text) <= n else text[:n] + ELLIPSIS
