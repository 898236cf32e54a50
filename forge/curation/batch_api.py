"""`forge generate --batch-api`: the same generation through the Message Batches API (half price).

All batches are submitted as one message batch, polled until it ends (with a progress line),
then the results go through the same validation, dedupe, gold guard and provenance.

Creation is never billed twice: when a create call fails in a way that may have reached the
server (timeout, lost connection, 5xx), the recent batches are listed and one created since
with the same number of requests is adopted before trying again. Polling stops at
llm.batch_deadline_minutes: the batch is cancelled and what finished is still used.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone

from forge.curation.datagen import (
    GenerationReport,
    batch_sizes,
    generation_prompt,
    request_params,
    write_examples,
)
from forge.curation.generator_source import as_chat, use_generator
from forge.data.datasets import load_examples
from forge.errors import ForgeError
from forge.llm import prompts as prompts_io
from forge.llm.client import Ledger, backoff_base, check_price, make_client, retrying
from forge.project.project import Project


def poll_seconds() -> float:
    return float(os.environ.get("FORGE_BATCH_POLL", "30"))


def _total(batch) -> int:
    c = batch.request_counts
    return c.processing + c.succeeded + c.errored + c.canceled + c.expired


def create_once(client, requests: list[dict], max_retries: int, echo=print):
    """Create the batch; after a failure that may have reached the server, adopt the batch it made."""
    import anthropic

    maybe_sent = (anthropic.APIConnectionError, anthropic.InternalServerError)
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    for attempt in range(max_retries + 1):
        try:
            return client.messages.batches.create(requests=requests)
        except (*maybe_sent, anthropic.RateLimitError) as exc:
            if attempt == max_retries:
                raise
            if isinstance(exc, maybe_sent):
                recent = [b for b in client.messages.batches.list(limit=20)
                          if b.created_at >= since and _total(b) == len(requests)]
                if recent:
                    echo(f"batch: the create call failed ({type(exc).__name__}) but batch {recent[0].id} was made: "
                         "using it")
                    return recent[0]
            time.sleep(min(60.0, backoff_base() * 2 ** attempt))
    raise AssertionError("unreachable")


def generate_with_batches(project: Project, n: int, *, batch_size: int = 50, echo=print,
                          target=None) -> GenerationReport:
    if use_generator(project):
        raise ForgeError("--batch-api needs the LLM; this project generates offline with generator.py")
    cfg = project.config
    model = cfg.datagen.model
    client, ledger = make_client(cfg), Ledger.for_project(project, check_price(cfg, model))
    seed = len(load_examples(project.canonical_path, project.rel(project.canonical_path), missing_ok=True))
    sizes = batch_sizes(n, batch_size)
    stable = prompts_io.render("datagen_generate", project)
    requests = [{"custom_id": f"batch-{i}",
                 "params": request_params(cfg, generation_prompt(project, size, None, seed * 1000 + i, stable))}
                for i, size in enumerate(sizes)]
    batch = create_once(client, requests, cfg.llm.max_retries, echo)
    batch_id = batch.id
    echo(f"batch: {batch_id} ({len(requests)} requests)")
    deadline, cancelled = time.monotonic() + 60 * cfg.llm.batch_deadline_minutes, False
    while batch.processing_status != "ended":
        time.sleep(poll_seconds())
        if not cancelled and time.monotonic() >= deadline:
            echo(f"batch: not ended after {cfg.llm.batch_deadline_minutes:g} min (llm.batch_deadline_minutes): "
                 "cancelling; finished requests are still used")
            retrying(lambda: client.messages.batches.cancel(batch_id), cfg.llm.max_retries)
            cancelled = True
        batch = retrying(lambda: client.messages.batches.retrieve(batch_id), cfg.llm.max_retries)
        c = batch.request_counts
        echo(f"batch: {batch.processing_status} processing={c.processing} succeeded={c.succeeded} errored={c.errored}")
    report = GenerationReport(f"llm-batch:{model}", n)
    items: list = []
    sizes_by_id = {r["custom_id"]: s for r, s in zip(requests, sizes, strict=True)}
    for entry in client.messages.batches.results(batch_id):
        result = entry.result
        if result.type != "succeeded":
            report.failed_batches.append(f"{entry.custom_id}: {result.type}")
            report.rejected["batch_failed"] += sizes_by_id.get(entry.custom_id, 0)
            continue
        msg = result.message
        report.cost_usd += ledger.record(model, msg.usage, "generate", batch=True)
        text = "".join(b.text for b in msg.content if b.type == "text")
        try:
            items += json.loads(text)["examples"]
        except (json.JSONDecodeError, KeyError, TypeError):
            report.failed_batches.append(f"{entry.custom_id}: invalid JSON from the model")
            report.rejected["batch_failed"] += sizes_by_id.get(entry.custom_id, 0)
    return write_examples(project, [as_chat(x) for x in items], report, "generate", target=target)
