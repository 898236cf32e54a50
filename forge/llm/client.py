"""The one LLM client every caller uses: construction, retries, usage -> cost, the spend ledger.

Prices are USD per million tokens (below); `llm.prices` in forge.yaml overrides or adds models.
Every request has `llm.timeout_s`; the SDK's own retries are off, so every retry is forge's
(`retrying`: counted, backed off, and never past a caller's deadline).
Cache writes cost 1.25x the input price (5-minute TTL), cache reads 0.1x; the Message Batches
API halves everything. Every call's usage and cost is added to output/llm_spend.json, which
`forge status` and the agent's budget read.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from forge.atomic import write_json_atomic
from forge.clock import now
from forge.errors import ForgeError
from forge.locks import file_lock
from forge.project.records import SPEND_FILE

# USD per million tokens: (input, output). Source: Anthropic's price list, 2026-11.
PRICES: dict[str, tuple[float, float]] = {
    "claude-haiku-5-5": (0.10, 0.50),
    "claude-sonnet-5-5": (2.0, 10.0),
    "claude-opus-5-5": (4.0, 20.0),
    "claude-sonnet-5": (2.0, 10.0),
    "claude-opus-5": (5.0, 25.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-opus-4-8": (5.0, 25.0),
    "claude-opus-4-6": (5.0, 25.0),
    "claude-opus-4-5": (5.0, 25.0),
}
CACHE_WRITE, CACHE_READ, BATCH_DISCOUNT = 1.25, 0.10, 0.5
NO_KEY = (
    "no ANTHROPIC_API_KEY set: export ANTHROPIC_API_KEY=... (or set llm.base_url for an "
    "Anthropic-compatible server), or add a generator.py for offline generation"
)


def price(model: str, overrides: dict | None = None) -> tuple[float, float]:
    if overrides and model in overrides:
        p = overrides[model]
        return (p.input, p.output) if hasattr(p, "input") else (p["input"], p["output"])
    if model in PRICES:
        return PRICES[model]
    base = next((m for m in sorted(PRICES, key=len, reverse=True) if model.startswith(m)), None)
    if base is None:
        raise ForgeError(
            f"llm.prices: no price for model {model!r}; add it to llm.prices in forge.yaml "
            "(USD per million tokens: {input: ..., output: ...})"
        )
    return PRICES[base]


def base_url(cfg) -> str | None:
    """The Anthropic-compatible server to talk to: llm.base_url, else ANTHROPIC_BASE_URL; None is Anthropic's API."""
    return cfg.llm.base_url or os.environ.get("ANTHROPIC_BASE_URL")


def check_price(cfg, model: str, warn=None) -> dict:
    """The price table to bill `model` with, checked before the first call. An unknown model is an
    error naming llm.prices; on another server (llm.base_url) it costs $0, with a warning."""
    try:
        price(model, cfg.llm.prices)
        return dict(cfg.llm.prices)
    except ForgeError:
        if not base_url(cfg):
            raise
    if warn:
        warn(f"warning: llm.prices has no price for {model!r} on {base_url(cfg)}: counting it as $0")
    return {**cfg.llm.prices, model: {"input": 0.0, "output": 0.0}}


def output_config(effort: str | None, schema: dict | None = None) -> dict:
    """The request's output_config: a JSON-schema format and/or an effort level."""
    out: dict[str, object] = {}
    if schema is not None:
        out["format"] = {"type": "json_schema", "schema": schema}
    if effort:
        out["effort"] = effort
    return out


def usage_dict(usage) -> dict:
    get = (lambda k: usage.get(k)) if isinstance(usage, dict) else (lambda k: getattr(usage, k, None))
    return {
        "input_tokens": get("input_tokens") or 0,
        "output_tokens": get("output_tokens") or 0,
        "cache_creation_input_tokens": get("cache_creation_input_tokens") or 0,
        "cache_read_input_tokens": get("cache_read_input_tokens") or 0,
    }


def cost(usage, model: str, overrides: dict | None = None, batch: bool = False) -> float:
    u = usage_dict(usage)
    p_in, p_out = price(model, overrides)
    usd = (
        u["input_tokens"] * p_in
        + u["cache_creation_input_tokens"] * p_in * CACHE_WRITE
        + u["cache_read_input_tokens"] * p_in * CACHE_READ
        + u["output_tokens"] * p_out
    ) / 1e6
    return usd * (BATCH_DISCOUNT if batch else 1.0)


def has_credentials(cfg) -> bool:
    return bool(os.environ.get("ANTHROPIC_API_KEY") or base_url(cfg))


def make_client(cfg):
    """An anthropic client: key from the environment, optional Anthropic-compatible base_url."""
    key = os.environ.get("ANTHROPIC_API_KEY")
    server = base_url(cfg)
    if not key and not server:
        raise ForgeError(NO_KEY)
    import anthropic

    # Local servers (Ollama, vLLM, llama.cpp) accept any key; the SDK insists on one. No SDK
    # retries: they would hide inside forge's own, each up to the timeout.
    return anthropic.Anthropic(api_key=key or "not-needed", base_url=server, max_retries=0, timeout=cfg.llm.timeout_s)


def backoff_base() -> float:
    """Seconds before the first retry (doubling after); FORGE_RETRY_WAIT sets it (tests use 0, which also ignores
    the servers' retry-after)."""
    return float(os.environ.get("FORGE_RETRY_WAIT", "2"))


def retrying(fn, max_retries: int, deadline: float | None = None):
    """fn() retried on overload, rate limits, timeouts, server faults and lost connections (judged by status and
    body: api_errors.is_transient), with exponential backoff or the server's retry-after when longer; no retry
    starts (or sleeps) past `deadline` (time.monotonic())."""
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

    from forge.llm.api_errors import ApiError, is_transient

    attempts = stop_after_attempt(max_retries + 1)

    def stop(rs) -> bool:  # after the last attempt, or before a retry that would start past the deadline
        return attempts(rs) or (deadline is not None and time.monotonic() + (rs.upcoming_sleep or 0) >= deadline)

    base = backoff_base()
    backoff = wait_exponential(multiplier=base, max=60)

    def wait(rs) -> float:  # the server's retry-after when longer than the backoff (at most a minute; none at base 0)
        failed = rs.outcome.exception() if rs.outcome and rs.outcome.failed else None
        asked = ApiError.of(failed).retry_after_s if failed is not None and base > 0 else None
        return max(backoff(rs), min(asked or 0.0, 60.0))

    for attempt in Retrying(retry=retry_if_exception(is_transient), stop=stop, wait=wait, reraise=True):
        with attempt:
            return fn()


@dataclass
class Ledger:
    """Running LLM spend of a project, persisted in output/llm_spend.json (thread-safe)."""

    path: Path
    prices: dict

    _lock = threading.Lock()

    @classmethod
    def for_project(cls, project, prices: dict | None = None) -> Ledger:
        return cls(project.output / SPEND_FILE, project.config.llm.prices if prices is None else prices)

    def read(self) -> dict:
        import json

        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"total_usd": 0.0, "calls": 0, "by_model": {}, "by_purpose": {}}

    def record(self, model: str, usage, purpose: str, batch: bool = False) -> float:
        usd = cost(usage, model, self.prices, batch)
        u = usage_dict(usage)
        with self._lock, file_lock(self.path):  # threads of one datagen, and other commands, add to one ledger
            data = self.read()
            data["total_usd"] = round(data["total_usd"] + usd, 8)
            data["calls"] += 1
            m = data["by_model"].setdefault(model, {"calls": 0, "usd": 0.0, **{k: 0 for k in u}})
            m["calls"] += 1
            m["usd"] = round(m["usd"] + usd, 8)
            for k, v in u.items():
                m[k] += v
            data["by_purpose"][purpose] = round(data["by_purpose"].get(purpose, 0.0) + usd, 8)
            data["updated"] = now()
            write_json_atomic(self.path, data)
        return usd
