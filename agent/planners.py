"""Planners behind one interface: next(system, tools, messages) -> Reply.

- claude: the Messages API (own loop, no beta tool runner). No temperature/top_p/top_k, no
  prefill, no forced tool_choice (API 2026-10-21 and the 5.5 models refuse them).
- heuristic: an offline, deterministic policy needing no key (the seed's fixed loop).
- replay: hands back the model responses of a recorded transcript, in order.
All three produce the same transcript and go through the same guards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from forge.agent.heuristic import decide


@dataclass
class Reply:
    content: list[dict]
    stop_reason: str
    usage: dict = field(default_factory=dict)
    model: str = ""
    cost_usd: float = 0.0


def with_cache_breakpoints(system: str, tools: list[dict]) -> tuple[list[dict], list[dict]]:
    """The stable prefix (tools, then the system prompt) marked for prompt caching."""
    cached_tools = [dict(t) for t in tools]
    if cached_tools:
        cached_tools[-1]["cache_control"] = {"type": "ephemeral"}
    return [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}], cached_tools


class ClaudePlanner:
    name = "claude"

    def __init__(self, project, model: str | None = None, max_tokens: int = 8000):
        from forge.llm_client import Ledger, make_client

        self.project, self.cfg = project, project.config
        self.model = model or self.cfg.flywheel.planner_model
        self.client, self.ledger, self.max_tokens = make_client(self.cfg), Ledger.for_project(project), max_tokens

    def next(self, system: str, tools: list[dict], messages: list[dict]) -> Reply:
        from forge.llm_client import retrying, usage_dict

        system_blocks, cached_tools = with_cache_breakpoints(system, tools)
        msg = retrying(lambda: self.client.messages.create(
            model=self.model, max_tokens=self.max_tokens, system=system_blocks, tools=cached_tools,
            messages=messages), self.cfg.llm.max_retries)
        usd = self.ledger.record(self.model, msg.usage, "planner")
        content = [b.model_dump(mode="json", exclude_none=True) for b in msg.content]
        return Reply(content, msg.stop_reason, usage_dict(msg.usage), self.model, usd)


class HeuristicPlanner:
    name = "heuristic"

    def __init__(self, project, skip_train: bool = False):
        self.project, self.skip_train, self.count = project, skip_train, 0

    def next(self, system: str, tools: list[dict], messages: list[dict]) -> Reply:
        thought, action = decide(self.project, messages, self.skip_train)
        content = [{"type": "text", "text": thought}]
        if action is None:
            return Reply(content, "end_turn", model="heuristic")
        self.count += 1
        name, tool_input = action
        tool_id = f"toolu_heuristic_{len([m for m in messages if m['role'] == 'assistant']) + 1:04d}"
        content.append({"type": "tool_use", "id": tool_id, "name": name, "input": tool_input})
        return Reply(content, "tool_use", model="heuristic")


class ReplayPlanner:
    name = "replay"

    def __init__(self, events: list[dict]):
        self.responses = [e for e in events if e["event"] == "model_response"]
        self.position = 0

    def next(self, system: str, tools: list[dict], messages: list[dict]) -> Reply:
        if self.position >= len(self.responses):
            return Reply([{"type": "text", "text": "(end of the recorded run)"}], "end_turn", model="replay")
        e = self.responses[self.position]
        self.position += 1
        return Reply(e["content"], e["stop_reason"], e.get("usage", {}), e.get("model", "replay"), 0.0)
