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


def read_records(path: Path, display: str, warn=None) -> list[tuple[int, object]]:
    """A file forge appends to (a transcript, experiments.jsonl): every record, except a last line that a crash
    cut mid-write (no newline after it, not JSON), which is left out with one line to `warn` (stderr by
    default). A bad line anywhere else is still an error naming it."""
    text = Path(path).read_text(encoding="utf-8")
    lines = text.splitlines()
    cut = bool(text) and not text.endswith("\n") and lines and _not_json(lines[-1])
    if cut:
        (warn or _stderr)(
            f"warning: {display}:{len(lines)}: the last line was cut by a crash mid-write; read the records before it"
        )
        text = text[: text.rfind("\n") + 1]
    return list(parse_jsonl(text, display))


def _not_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return True
    return False


def _stderr(line: str) -> None:
    import sys

    sys.stderr.write(line + "\n")
