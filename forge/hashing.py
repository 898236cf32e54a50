"""Stable content hashes: the sha256 hex of some bytes (a str as its UTF-8), clipped to a few characters.
Records keep these (the gold file's hash, an output schema's, a remote step's key, an example's id), so a
caller's length is part of its record format: each call site passes the length it has always used.
"""

from __future__ import annotations

import hashlib


def content_hash(data: bytes | str, n: int = 16) -> str:
    """The first `n` hex characters of sha256(`data`)."""
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:n]
