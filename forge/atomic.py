"""Atomic file writes: a crash leaves either the old file or the new one, never half of each."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def append_bytes_atomic(path: Path, data: bytes) -> None:
    """Append by rewriting through a temp file, so no partial append can survive a crash."""
    path = Path(path)
    old = path.read_bytes() if path.exists() else b""
    write_bytes_atomic(path, old + data)


def replace_dir(new: Path, final: Path) -> None:
    """Swap the finished directory `new` in at `final` (two renames; the old one is kept aside until then),
    so a crash never leaves half a directory at `final`."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)
