"""Planners behind one interface: next(system, tools, messages, timeout) -> Reply.

- claude: the Messages API (own loop, no beta tool runner). No temperature/top_p/top_k, no
  prefill, no forced tool_choice (API 2026-10-21 and the 5.5 models refuse them). The static
  system prompt and the tools are one cached prefix; the newest messages carry the other
  breakpoints (agent.conversation). A prompt the server finds too long raises ContextOverflow.
- heuristic: an offline, deterministic policy needing no key (forge's original fixed loop).
- replay: hands back the model responses of a recorded transcript, in order.
All three are a Planner (the Protocol below), produce the same transcript and go through the
same guards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from forge.agent.conversation import with_cache_breakpoints
from forge.agent.heuristic import decide


class ContextOverflow(Exception):
    """The server refused the prompt as longer than its context window (`window` tokens, when it said)."""

    def __init__(self, message: str, window: int | None = None):
        super().__init__(message)
        self.window = window

    def too_small_for(self, fixed_tokens: int, share: float) -> str | None:
        """Why no compaction can help: the prefix that never changes does not fit the window (None: it does)."""
        if not self.window or fixed_tokens <= self.window * share:
            return None
        return (
            f"the planner's system prompt and tools alone are ~{fixed_tokens} tokens, too many for the server's "
            f"{self.window}-token window: serve the model with a larger context (llama-server -c, Ollama num_ctx)"
        )


def context_overflow(exc: Exception) -> ContextOverflow | None:
    """The ContextOverflow a server's refusal means, or None when it is another refusal: read from the
    status and the body (forge.llm.api_errors), never from the SDK's wording of the exception."""
    from forge.llm.api_errors import ApiError

    error = ApiError.of(exc)
    if not error.context_overflow:
        return None
    return ContextOverflow(error.line(300), error.context_window)


@dataclass
class Reply:
    content: list[dict]
    stop_reason: str
    usage: dict = field(default_factory=dict)
    model: str = ""
    cost_usd: float = 0.0


class Planner(Protocol):
    """What the loop needs of a planner: its kind, the model it names in the transcript, and its next reply."""

    name: str  # claude | heuristic | replay
    model: str  # the model id (the planner's kind for the offline ones)

    def next(self, system: str, tools: list[dict], messages: list[dict], timeout: float | None = None) -> Reply: ...


def prefix_with_cache(system: str, tools: list[dict]) -> tuple[list[dict], list[dict]]:
    """The stable prefix (tools, then the system prompt) marked for prompt caching."""
    cached_tools = [dict(t) for t in tools]
    if cached_tools:
        cached_tools[-1]["cache_control"] = {"type": "ephemeral"}
    return [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}], cached_tools


class ClaudePlanner:
    name = "claude"

    def __init__(self, project, model: str | None = None, warn=None):
        from forge.llm.client import Ledger, check_price, make_client

        self.project, self.cfg = project, project.config
        self.model = model or self.cfg.agent.planner_model
        prices = check_price(self.cfg, self.model, warn)  # an unknown price fails here, before any call
        self.client, self.ledger = make_client(self.cfg), Ledger.for_project(project, prices)

    def next(self, system: str, tools: list[dict], messages: list[dict], timeout: float | None = None) -> Reply:
        """The model's reply; `timeout`: seconds left in the run's time budget (None: no limit)."""
        import time

        import anthropic

        from forge.llm.client import output_config, retrying, usage_dict

        system_blocks, cached_tools = prefix_with_cache(system, tools)
        # `timeout` is what is left of the run's time budget: no attempt, retry or backoff outlives it.
        deadline = None if timeout is None else time.monotonic() + timeout
        extra = {"output_config": output_config(self.cfg.llm.planner_effort)} if self.cfg.llm.planner_effort else {}

        marked = with_cache_breakpoints(messages)

        def create():
            left = None if deadline is None else max(0.1, deadline - time.monotonic())
            return self.client.messages.create(
                model=self.model,
                max_tokens=self.cfg.agent.max_tokens,
                system=system_blocks,
                tools=cached_tools,
                messages=marked,
                timeout=min(self.cfg.llm.timeout_s, left or float("inf")),
                **extra,
            )

        try:
            msg = retrying(create, self.cfg.llm.max_retries, deadline=deadline)
        except anthropic.APIStatusError as exc:  # 400 from the API and llama-server, 413 from proxies
            overflow = context_overflow(exc)
            if overflow:
                raise overflow from None
            raise
        usd = self.ledger.record(self.model, msg.usage, "planner")
        content = [b.model_dump(mode="json", exclude_none=True) for b in msg.content]
        return Reply(content, msg.stop_reason, usage_dict(msg.usage), self.model, usd)


class HeuristicPlanner:
    name = model = "heuristic"

    def __init__(self, project, skip_train: bool = False):
        self.project, self.skip_train = project, skip_train

    def next(self, system: str, tools: list[dict], messages: list[dict], timeout: float | None = None) -> Reply:
        thought, action = decide(self.project, messages, self.skip_train)
        content = [{"type": "text", "text": thought}]
        if action is None:
            return Reply(content, "end_turn", model="heuristic")
        name, tool_input = action
        tool_id = f"toolu_heuristic_{_last_heuristic_id(messages) + 1:04d}"
        content.append({"type": "tool_use", "id": tool_id, "name": name, "input": tool_input})
        return Reply(content, "tool_use", model="heuristic")


def _last_heuristic_id(messages: list[dict]) -> int:
    """The highest heuristic tool id number in the conversation (ids stay unique after compaction)."""
    ids = [
        b["id"]
        for m in messages
        if m["role"] == "assistant" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_use" and b["id"].startswith("toolu_heuristic_")
    ]
    return max((int(i.rsplit("_", 1)[1]) for i in ids), default=0)


class ReplayPlanner:
    name = model = "replay"

    def __init__(self, events: list[dict]):
        self.responses = [e for e in events if e["event"] == "model_response" and not e.get("discarded")]
        self.position = 0

    def next(self, system: str, tools: list[dict], messages: list[dict], timeout: float | None = None) -> Reply:
        if self.position >= len(self.responses):
            return Reply([{"type": "text", "text": "(end of the recorded run)"}], "end_turn", model="replay")
        e = self.responses[self.position]
        self.position += 1
        return Reply(e["content"], e["stop_reason"], e.get("usage", {}), e.get("model", "replay"), 0.0)
