"""`forge generate --batch-api`: the same generation through the Message Batches API (half price).

All batches are submitted as one message batch (forge.llm.batches: created once, polled until it
ends or llm.batch_deadline_minutes), then the results go through the same validation, dedupe,
gold guard and provenance.
"""

from __future__ import annotations

import json

from forge.curation.datagen import (
    GenerationReport,
    as_examples,
    batch_sizes,
    generation_prompt,
    request_params,
    stable_prompt,
    write_examples,
)
from forge.curation.generator_source import use_generator
from forge.data.datasets import load_examples
from forge.data.tool_calls import project_tools
from forge.errors import ForgeError
from forge.llm.api_errors import batch_failure
from forge.llm.batches import run_batch
from forge.llm.client import Ledger, check_price, make_client
from forge.project.project import Project


def generate_with_batches(
    project: Project, n: int, *, batch_size: int = 50, echo=print, target=None
) -> GenerationReport:
    if use_generator(project):
        raise ForgeError("--batch-api needs the LLM; this project generates offline with generator.py")
    cfg = project.config
    model = cfg.datagen.model
    client, ledger = make_client(cfg), Ledger.for_project(project, check_price(cfg, model))
    seed = len(load_examples(project.canonical_path, project.rel(project.canonical_path), missing_ok=True))
    sizes = batch_sizes(n, batch_size)
    tools = project_tools(project.training_pool())
    stable = stable_prompt(project, tools)
    requests = [
        {
            "custom_id": f"batch-{i}",
            "params": request_params(
                cfg, generation_prompt(project, size, None, seed * 1000 + i, stable, tools), tools
            ),
        }
        for i, size in enumerate(sizes)
    ]
    entries = run_batch(client, requests, cfg, echo)
    report = GenerationReport(f"llm-batch:{model}", n)
    items: list = []
    sizes_by_id = {r["custom_id"]: s for r, s in zip(requests, sizes, strict=True)}
    for entry in entries:
        result = entry.result
        if result.type != "succeeded":
            report.failed_batches.append(f"{entry.custom_id}: {batch_failure(result)}")
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
    return write_examples(project, as_examples(items, tools), report, "generate", target=target)
