"""The Message Batches API, once for every caller: create a batch without paying twice, poll it to its end.

Creation is never billed twice: when a create call fails in a way that may have reached the
server (timeout, lost connection, 5xx), the recent batches are listed and one created since
with the same number of requests is adopted before trying again. Polling stops at
llm.batch_deadline_minutes: the batch is cancelled and what finished is still returned.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

from forge.llm.client import backoff_base, retrying


def poll_seconds() -> float:
    return float(os.environ.get("FORGE_BATCH_POLL", "30"))


def _total(batch) -> int:
    c = batch.request_counts
    return c.processing + c.succeeded + c.errored + c.canceled + c.expired


def create_once(client, requests: list[dict], max_retries: int, echo=print):
    """Create the batch; after a failure that may have reached the server, adopt the batch it made."""
    from forge.llm.api_errors import ApiError, is_transient

    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    for attempt in range(max_retries + 1):
        try:
            return client.messages.batches.create(requests=requests)
        except Exception as exc:
            if attempt == max_retries or not is_transient(exc):
                raise
            status = ApiError.of(exc).status
            maybe_sent = status is None or status >= 500  # no answer, or a server fault after it may have begun
            if maybe_sent:
                recent = [
                    b
                    for b in client.messages.batches.list(limit=20)
                    if b.created_at >= since and _total(b) == len(requests)
                ]
                if recent:
                    echo(
                        f"batch: the create call failed ({type(exc).__name__}) but batch {recent[0].id} was made: "
                        "using it"
                    )
                    return recent[0]
            time.sleep(min(60.0, backoff_base() * 2**attempt))
    raise AssertionError("unreachable")


def run_batch(client, requests: list[dict], cfg, echo=print) -> list:
    """Submit `requests` ({custom_id, params}) as one batch, poll it until it ends (or cancel it at the
    deadline), and return its result entries (custom_id, result)."""
    batch = create_once(client, requests, cfg.llm.max_retries, echo)
    batch_id = batch.id
    echo(f"batch: {batch_id} ({len(requests)} requests)")
    deadline, cancelled = time.monotonic() + 60 * cfg.llm.batch_deadline_minutes, False
    while batch.processing_status != "ended":
        time.sleep(poll_seconds())
        if not cancelled and time.monotonic() >= deadline:
            echo(
                f"batch: not ended after {cfg.llm.batch_deadline_minutes:g} min (llm.batch_deadline_minutes): "
                "cancelling; finished requests are still used"
            )
            retrying(lambda: client.messages.batches.cancel(batch_id), cfg.llm.max_retries)
            cancelled = True
        batch = retrying(lambda: client.messages.batches.retrieve(batch_id), cfg.llm.max_retries)
        c = batch.request_counts
        echo(f"batch: {batch.processing_status} processing={c.processing} succeeded={c.succeeded} errored={c.errored}")
    return list(client.messages.batches.results(batch_id))
