"""Recorded Messages API sessions for tests (vcrpy), one cassette directory per test module.

FORGE_CASSETTE_MODE selects what `llm_cassette` does:
- replay (default, CI): vcrpy record_mode "none"; requests must match the recorded ones body
  and all (as JSON), so a change in what forge sends fails the test that covers it.
- record: against the real API with your ANTHROPIC_API_KEY (record_mode "once": delete the
  cassette first). Model output differs from the canned one, so count assertions may need
  updating; the wire format is the real one.
- fake: how the committed cassettes were made (no API is reachable from where forge is built):
  a local server answers each request with the next canned response the test declares, in
  the Messages API wire format; vcrpy records the real SDK traffic; the server's address is
  then rewritten to https://api.anthropic.com.
Keys are never recorded: `authorization` and `x-api-key` are filtered and identifying response
headers scrubbed.
"""

from __future__ import annotations

import json
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path

import vcr

from local_http import JsonHandler, start

API = "https://api.anthropic.com"
SCRUBBED = ("request-id", "anthropic-organization-id", "cf-ray", "set-cookie", "x-request-id", "server")


def _scrub(response):
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in SCRUBBED:
            del headers[name]
    return response


# Tool results that differ run to run by nature: git commit ids, ages ("3s ago"), training
# losses (last digits move with the CPU's kernels).
VOLATILE = [
    (re.compile(r"\b(committed) [0-9a-f]{8}\b"), r"\1 <sha>"),
    (re.compile(r"\b\d+[smhd] ago\b"), "<age> ago"),
    (re.compile(r"\bloss [0-9.]+ -> [0-9.]+"), "loss <a> -> <b>"),
]


def _json_body(r1, r2) -> None:
    """Request bodies equal as JSON: what forge sends today must be what was recorded."""

    def parse(raw):
        raw = raw.decode() if isinstance(raw, bytes) else raw
        for pattern, repl in VOLATILE:
            raw = pattern.sub(repl, raw) if raw else raw
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw

    a, b = parse(r1.body), parse(r2.body)
    assert a == b, f"request body differs from the recorded one: {json.dumps(a)[:300]} != {json.dumps(b)[:300]}"


def recorder(record_mode: str) -> vcr.VCR:
    v = vcr.VCR(
        record_mode=record_mode,
        filter_headers=["authorization", "x-api-key"],
        before_record_response=_scrub,
        decode_compressed_response=True,
        match_on=("method", "scheme", "host", "port", "path", "query", "json_body"),
    )
    v.register_matcher("json_body", _json_body)
    return v


def message(
    text: str,
    *,
    input_tokens: int = 1000,
    output_tokens: int = 500,
    cache_read: int = 0,
    cache_write: int = 0,
    stop_reason: str = "end_turn",
    model: str = "claude-sonnet-5-5",
    n: int = 1,
) -> dict:
    """A canned Messages API response carrying one text block."""
    return {
        "status": 200,
        "body": {
            "id": f"msg_01FakeCanned{n:08d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": cache_write,
                "cache_read_input_tokens": cache_read,
            },
        },
    }


def overloaded() -> dict:
    return {
        "status": 529,
        "headers": {"retry-after-ms": "1"},
        "body": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    }


class FakeAnthropic:
    """Answers requests with canned responses, in order; `{base}` in a body becomes its own URL and
    `{now}` the current time."""

    def __init__(self, responses: list[dict]):
        from strict_anthropic import CacheAccount

        queue = list(responses)
        outer = self
        self.cache = CacheAccount()
        self.paths: list[str] = []  # "POST /v1/messages/batches", ... in the order they came

        class Handler(JsonHandler):
            def _answer(self):
                request = self.read_body()
                spec = (
                    queue.pop(0)
                    if queue
                    else {
                        "status": 500,
                        "body": {
                            "type": "error",
                            "error": {"type": "api_error", "message": "fake server: no canned response left"},
                        },
                    }
                )
                body = spec["body"]
                if isinstance(body, dict) and body.get("usage") == "auto":
                    # Usage as the API would count it from this request's cache breakpoints.
                    u = outer.cache.usage(json.loads(request))
                    body = {
                        **body,
                        "usage": {
                            "input_tokens": u["input_tokens"],
                            "output_tokens": 50,
                            "cache_creation_input_tokens": u["cache_creation_input_tokens"],
                            "cache_read_input_tokens": u["cache_read_input_tokens"],
                        },
                    }
                outer.paths.append(f"{self.command} {self.path.split('?')[0]}")
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                raw = (
                    (body if isinstance(body, str) else json.dumps(body))
                    .replace("{base}", outer.url)
                    .replace("{now}", now)
                )
                self.send_json(
                    spec["status"],
                    raw,
                    spec.get("content_type", "application/json"),
                    {"request-id": "req_fake", **spec.get("headers", {})},
                )

            do_POST = do_GET = _answer

        self.remaining = queue
        self.server, self.url = start(Handler)

    def stop(self):
        self.server.shutdown()


@contextmanager
def no_llm_calls(monkeypatch):
    """The block must make no LLM request: any that it makes reaches a server with no answers, and fails the test."""
    server = FakeAnthropic([])
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy-key-for-tests-0000")
    try:
        yield
    finally:
        server.stop()
    assert server.paths == [], f"expected no LLM request, got {server.paths}"


@contextmanager
def llm_cassette(test_file: str, name: str, responses: list[dict], monkeypatch):
    """Run the block against a recorded session (see the module docstring for the modes)."""
    path = Path(test_file).parent / "cassettes" / Path(test_file).stem / f"{name}.yaml"
    mode = os.environ.get("FORGE_CASSETTE_MODE", "replay")
    monkeypatch.setenv("FORGE_RETRY_WAIT", "0")
    monkeypatch.setenv("FORGE_BATCH_POLL", "0")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    if mode != "record":
        monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy-key-for-replay-0000")
    if mode == "fake":
        server = FakeAnthropic(responses)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        try:
            with recorder("all").use_cassette(str(path)):
                yield
        finally:
            server.stop()
        assert not server.remaining, f"{len(server.remaining)} canned responses were not used"
        host = server.url.removeprefix("http://")
        path.write_text(path.read_text().replace(server.url, API).replace(host, "api.anthropic.com"))
        return
    with recorder("none" if mode == "replay" else "once").use_cassette(str(path)) as cassette:
        yield
    if mode == "replay":
        assert cassette.all_played, f"{path.name}: not every recorded interaction was replayed"
