"""`forge generate --batch-api`: the same generation through the Message Batches API (half price).

All batches are submitted as one message batch, polled until it ends (with a progress line),
then the results go through the same validation, dedupe, gold guard and provenance.
"""

from __future__ import annotations

import json
import os
import time

from forge.datagen import (
    EXAMPLES_SCHEMA,
    MAX_OUTPUT_TOKENS,
    GenerationReport,
    batch_sizes,
    generation_prompt,
    write_examples,
)
from forge.datasets import load_examples
from forge.errors import ForgeError
from forge.generator_source import as_chat, use_generator
from forge.llm_client import Ledger, make_client, retrying
from forge.project import Project


def poll_seconds() -> float:
    return float(os.environ.get("FORGE_BATCH_POLL", "30"))


def generate_with_batches(project: Project, n: int, *, batch_size: int = 50, echo=print,
                          target=None) -> GenerationReport:
    if use_generator(project):
        raise ForgeError("--batch-api needs the LLM; this project generates offline with generator.py")
    cfg = project.config
    client, ledger, model = make_client(cfg), Ledger.for_project(project), cfg.flywheel.datagen_model
    seed = len(load_examples(project.canonical_path, project.rel(project.canonical_path), missing_ok=True))
    sizes = batch_sizes(n, batch_size)
    requests = [{"custom_id": f"batch-{i}", "params": {
        "model": model, "max_tokens": MAX_OUTPUT_TOKENS,
        "messages": [{"role": "user", "content": generation_prompt(project, size, None, seed * 1000 + i)}],
        "output_config": {"format": {"type": "json_schema", "schema": EXAMPLES_SCHEMA}}}}
        for i, size in enumerate(sizes)]
    batch = retrying(lambda: client.messages.batches.create(requests=requests), cfg.llm.max_retries)
    batch_id = batch.id
    echo(f"batch: {batch_id} ({len(requests)} requests)")
    while batch.processing_status != "ended":
        time.sleep(poll_seconds())
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
