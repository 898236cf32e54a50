"""Reading JSON-lines files with errors that name file:line (blank lines skipped)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from forge.errors import ForgeError


def parse_jsonl(text: str, display: str) -> Iterator[tuple[int, object]]:
    """(line number, value) for every non-blank line of `text`, or ForgeError `display:N: invalid JSON: ...`."""
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            raise ForgeError(f"{display}:{n}: invalid JSON: {exc.msg} (column {exc.colno})") from None


def read_jsonl(path: Path, display: str) -> Iterator[tuple[int, object]]:
    """parse_jsonl of a file."""
    return parse_jsonl(Path(path).read_text(encoding="utf-8"), display)
