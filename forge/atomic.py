"""Atomic file writes: a crash leaves either the old file or the new one, never half of each.

A full disk (ENOSPC) while writing leaves the previous file whole, removes the partial one and
is one line naming the file and the free space (DiskFull). An append is a read-modify-write: it
holds the file's lock (forge.locks), so two commands appending at once both land."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

from forge.errors import ForgeError
from forge.locks import file_lock


class DiskFull(ForgeError):
    """No space left while writing a file; the previous version is untouched."""


def free_space(path: Path) -> str:
    """The free space of the filesystem holding `path`, for an error line ("12.0 MB free")."""
    try:
        free = float(shutil.disk_usage(next(p for p in [Path(path), *Path(path).parents] if p.exists())).free)
    except (OSError, StopIteration):
        return "free space unknown"
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if free < 1024 or unit == "TB":
            return f"{free:.0f} {unit} free" if unit == "bytes" else f"{free:.1f} {unit} free"
        free /= 1024
    return ""


def disk_full(path: Path, exc: OSError) -> ForgeError | None:
    """DiskFull for an ENOSPC / EDQUOT error while writing `path` (or numpy's short write, which has no errno:
    "N requested and M written"), else None."""
    short_write = exc.errno is None and " requested and " in str(exc) and str(exc).endswith(" written")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) or short_write:
        return DiskFull(
            f"{path}: no space left on the device ({free_space(path)}); the previous version is "
            "unchanged and the partial write was removed"
        )
    return None


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
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        full = disk_full(path, exc)
        if full:
            raise full from None
        raise
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
    with file_lock(path):
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
