"""A local stand-in for the Messages API that is as strict as the real one, for long-run tests.

It refuses (400 invalid_request_error) what the API refuses: sampling parameters, forced
tool_choice, more than 4 cache_control breakpoints, a final assistant message (prefill), a
tool_use without its tool_result right after, a thinking block altered or missing from the
last assistant turn, and a prompt over its context window. It counts prompt tokens from the
request body (4 characters a token) and accounts prompt caching as the API does: the prefix up
to each breakpoint (tools, then system, then messages) is written to the cache; a later
request reads the longest such prefix it shares. Replies start with a signed thinking block,
as the 5.5 models' do; a `policy(n, body)` decides each reply's tool call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time

from local_http import JsonHandler, start

KEY = b"stand-in-signing-key"
MIN_CACHEABLE = 512
SAMPLING = ("temperature", "top_p", "top_k")


def tokens(obj) -> int:
    return len(json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))) // 4 + 1


def sign(thinking: str) -> str:
    return hmac.new(KEY, thinking.encode(), hashlib.sha256).hexdigest()[:32]


def _plain(block: dict) -> dict:
    return {k: v for k, v in block.items() if k != "cache_control"}


def prompt_blocks(body: dict) -> list[tuple[dict, bool]]:
    """Every block of the prompt in cache order (tools, system, messages), with its breakpoint flag."""
    out = [(_plain(t), "cache_control" in t) for t in body.get("tools", [])]
    system = body.get("system") or []
    out += (
        [({"system": system}, False)]
        if isinstance(system, str)
        else [(_plain(b), "cache_control" in b) for b in system]
    )
    for m in body["messages"]:
        content = m["content"]
        if isinstance(content, str):
            out.append(({"role": m["role"], "text": content}, False))
        else:
            out += [({"role": m["role"], **_plain(b)}, "cache_control" in b) for b in content]
    return out


class CacheAccount:
    """Prefix cache keyed by the hash of everything up to a breakpoint."""

    def __init__(self):
        self.store: dict[str, int] = {}
        self.lock = threading.Lock()

    def usage(self, body: dict) -> dict:
        blocks = prompt_blocks(body)
        total = tokens([b for b, _ in blocks])
        h, running, points = hashlib.sha256(), 0, []
        for block, marked in blocks:
            h.update(json.dumps(block, sort_keys=True).encode())
            running += tokens(block)
            if marked:
                points.append((h.hexdigest(), running))
        with self.lock:
            read = max((n for key, n in points if key in self.store), default=0)
            write = 0
            for key, n in points:
                if key not in self.store and n >= MIN_CACHEABLE:
                    self.store[key] = n
                    write = max(write, n - read)
        return {
            "input_tokens": max(0, total - read - write),
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
            "prompt_tokens": total,
        }


def problems(body: dict, sent_thinking: dict[str, dict], window: int) -> str | None:
    """Why the real API would refuse this request, or None."""
    if set(SAMPLING) & set(body):
        return f"{sorted(set(SAMPLING) & set(body))[0]}: not supported with this API version"
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return "tool_choice: forced tool use is not supported for this model"
    marks = sum(marked for _, marked in prompt_blocks(body))
    if marks > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {marks}."
    msgs = body["messages"]
    if not msgs or msgs[-1]["role"] != "user":
        return "This model does not support assistant message prefill. The conversation must end with a user message."
    for i, m in enumerate(msgs):
        if m["role"] != "assistant" or isinstance(m["content"], str):
            continue
        uses = [b["id"] for b in m["content"] if b.get("type") == "tool_use"]
        if not uses:
            continue
        nxt = msgs[i + 1] if i + 1 < len(msgs) else None
        results = (
            [
                b.get("tool_use_id")
                for b in (nxt or {}).get("content", [])
                if isinstance(b, dict) and b.get("type") == "tool_result"
            ]
            if nxt and not isinstance(nxt["content"], str)
            else []
        )
        if set(uses) - set(results):
            return (
                f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{sorted(set(uses) - set(results))[0]}"
            )
        for b in m["content"]:
            if b.get("type") == "thinking" and sign(b.get("thinking", "")) != b.get("signature"):
                return f"messages.{i}.content: Invalid `signature` in `thinking` block"
    last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
    if last is not None and not isinstance(msgs[last]["content"], str):
        uses = [b["id"] for b in msgs[last]["content"] if b.get("type") == "tool_use"]
        expected = next((sent_thinking[u] for u in uses if u in sent_thinking), None)
        if expected is not None and _plain(msgs[last]["content"][0]) != expected:
            return (
                f"messages.{last}.content.0: Expected `thinking` or `redacted_thinking`, but found "
                f"`{msgs[last]['content'][0].get('type')}`. When `thinking` is enabled, a final `assistant` "
                "message must start with a thinking block"
            )
    prompt = tokens([b for b, _ in prompt_blocks(body)])
    if prompt + body.get("max_tokens", 0) > window:
        return f"prompt is too long: {prompt} tokens + max_tokens {body.get('max_tokens')} > {window} maximum"
    return None


class StrictAnthropic:
    """The stand-in server. `policy(n, body) -> list of content blocks after the thinking block`
    (a tool_use among them means stop_reason tool_use). `hang_first`: the first request's
    connection is held this many seconds without an answer."""

    def __init__(
        self,
        policy,
        window: int = 24_000,
        model: str = "claude-sonnet-5-5",
        hang_first: float = 0.0,
        thinking_chars: int = 600,
    ):
        self.policy, self.window, self.model = policy, window, model
        self.requests: list[dict] = []
        self.usages: list[dict] = []
        self.refusals: list[str] = []
        self.sent_thinking: dict[str, dict] = {}
        self.cache = CacheAccount()
        outer, hang = self, {"left": hang_first}

        class Handler(JsonHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.read_body())
                if hang["left"]:
                    wait, hang["left"] = hang["left"], 0.0
                    time.sleep(wait)
                    return
                self.send_json(*outer.answer(body, thinking_chars))

        self.server, self.url = start(Handler)

    def answer(self, body: dict, thinking_chars: int) -> tuple[int, dict]:
        self.requests.append(body)
        problem = problems(body, self.sent_thinking, self.window)
        if problem:
            self.refusals.append(problem)
            return 400, {"type": "error", "error": {"type": "invalid_request_error", "message": problem}}
        n = len(self.usages) + 1
        usage = self.cache.usage(body)
        self.usages.append(usage)
        after = self.policy(n, body)
        text = f"Turn {n}: deciding the next step from the results so far. " * (thinking_chars // 60 + 1)
        thinking = {"type": "thinking", "thinking": text[:thinking_chars], "signature": sign(text[:thinking_chars])}
        content = [thinking, *after]
        for b in after:
            if b.get("type") == "tool_use":
                self.sent_thinking[b["id"]] = thinking
        usage["output_tokens"] = tokens(content)
        stop = "tool_use" if any(b.get("type") == "tool_use" for b in after) else "end_turn"
        return 200, {
            "id": f"msg_standin_{n:05d}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage["input_tokens"],
                "output_tokens": tokens(content),
                "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                "cache_read_input_tokens": usage["cache_read_input_tokens"],
            },
        }

    def stop(self):
        self.server.shutdown()


ROUND = [
    ("train", lambda r: {"hypothesis": f"round {r}: retrain on the grown training set", "epochs": 2}),
    ("eval", lambda r: {}),
    ("show_failures", lambda r: {"limit": 20}),
    ("promote", lambda r: {}),
    ("augment", lambda r: {"n": 4}),
    ("commit", lambda r: {}),
    ("update_plan", lambda r: {"plan": f"# Plan after round {r}\n" + "- try more targeted data\n" * 40}),
]


def rounds_policy(rounds: int):
    """The stand-in's planner: `rounds` rounds of train, eval, show_failures, promote, augment, commit,
    update_plan, then a summary."""

    def policy(n: int, body: dict) -> list[dict]:
        r, step = divmod(n - 1, len(ROUND))
        if r >= rounds:
            return [{"type": "text", "text": f"Done after {rounds} rounds."}]
        name, make = ROUND[step]
        return [
            {"type": "text", "text": f"Round {r + 1}: {name}."},
            {"type": "tool_use", "id": f"toolu_standin_{n:05d}", "name": name, "input": make(r + 1)},
        ]

    return policy
