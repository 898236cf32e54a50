"""The time as forge writes it: `now`, UTC in ISO 8601 to the second ('2026-01-31T12:00:00Z'), for the
time field of every record, log line and transcript event; and `id_stamp`, the local time that begins a
run's or a remote step's id ('20260131-120000'), so that ids sort by when they started.
"""

from __future__ import annotations

import time


def now() -> str:
    """The current UTC time, 'YYYY-MM-DDTHH:MM:SSZ'."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def id_stamp() -> str:
    """The current local time, 'YYYYMMDD-HHMMSS', as the start of an id."""
    return time.strftime("%Y%m%d-%H%M%S")
