"""API errors are read from their status and body, as the SDK's real exception classes carry them.

A local server answers each error shape (the Anthropic API's, llama-server's, a proxy's) and the
real anthropic client raises its own exception for it; forge must read the same meaning whatever
the SDK prints as the exception's text (2.14 printed the body, 2.17 does not), so every case is
also run with that text blanked.
"""

from __future__ import annotations

import json

import anthropic
import pytest

from forge.agent.planners import context_overflow
from forge.llm.api_errors import ApiError, batch_failure, is_transient
from forge.llm.client import retrying

from local_http import JsonHandler, start

LLAMA_OVERFLOW = {
    "error": {
        "code": 400,
        "message": "request (931 tokens) exceeds the available context size (512 tokens), try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 931,
        "n_ctx": 512,
    }
}
API_OVERFLOW = {
    "type": "error",
    "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"},
    "request_id": "req_011",
}
API_REFUSAL = {
    "type": "error",
    "error": {"type": "invalid_request_error", "message": "temperature: Extra inputs are not permitted"},
}
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
RATE_LIMITED = {"type": "error", "error": {"type": "rate_limit_error", "message": "Too many requests"}}


class Script(JsonHandler):
    """Answers POST /v1/messages with the next (status, body, headers) of `replies`; the rest succeed."""

    replies: list = []
    seen: list = []

    def do_POST(self):
        self.seen.append(json.loads(self.read_body()))
        if self.replies:
            status, body, headers = self.replies.pop(0)
            return self.send_json(
                status, body, "application/json" if not isinstance(body, str) else "text/html", headers
            )
        self.send_json(
            200,
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [{"type": "text", "text": "ok"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 3, "output_tokens": 1},
            },
        )


@pytest.fixture(scope="module")
def script_url():
    httpd, url = start(Script)
    yield url
    httpd.shutdown()


@pytest.fixture
def server(script_url):
    Script.replies, Script.seen = [], []
    return script_url


@pytest.fixture(params=["sdk text", "blank text"])
def wording(request, monkeypatch):
    """Once as the installed SDK words its exceptions, once with every word of it gone."""
    if request.param == "blank text":
        monkeypatch.setattr(anthropic.APIError, "__str__", lambda self: "")
    return request.param


def raised(url: str, status: int, body, headers: dict | None = None) -> anthropic.APIStatusError:
    """The exception the real SDK raises for this answer."""
    Script.replies.append((status, body, headers or {}))
    client = anthropic.Anthropic(api_key="test", base_url=url, max_retries=0, timeout=10)
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    return info.value


def test_llama_server_overflow_names_its_window(server, wording):
    overflow = context_overflow(raised(server, 400, LLAMA_OVERFLOW))
    assert overflow is not None and overflow.window == 512
    assert "exceed_context_size_error" in str(overflow) and "512 tokens" in str(overflow)


def test_llama_server_overflow_is_known_by_its_type_whatever_its_message(server, wording):
    reworded = {"error": {**LLAMA_OVERFLOW["error"], "message": "zu lang"}}
    overflow = context_overflow(raised(server, 400, reworded))
    assert overflow is not None and overflow.window == 512


def test_api_overflow_names_its_window(server, wording):
    overflow = context_overflow(raised(server, 400, API_OVERFLOW))
    assert overflow is not None and overflow.window == 200000


def test_an_overflow_without_a_size_has_no_window(server, wording):
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long"}}
    overflow = context_overflow(raised(server, 400, body))
    assert overflow is not None and overflow.window is None


def test_another_refusal_is_not_an_overflow(server, wording):
    exc = raised(server, 400, API_REFUSAL)
    assert context_overflow(exc) is None and not is_transient(exc)
    error = ApiError.of(exc)
    assert (error.status, error.type) == (400, "invalid_request_error")
    assert error.message == "temperature: Extra inputs are not permitted"


def test_a_stable_error_code_is_read_from_the_details(server, wording):
    body = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "Eingabe zu lang",
            "details": {"error_code": "prompt_too_long"},
        },
    }
    error = ApiError.of(raised(server, 400, body))
    assert error.code == "prompt_too_long" and error.context_overflow


@pytest.mark.parametrize(
    "status,body", [(529, OVERLOADED), (429, RATE_LIMITED), (503, "<html>upstream down</html>"), (400, OVERLOADED)]
)
def test_transient_by_status_or_type(server, wording, status, body):
    """A 400 that says overloaded_error (a proxy's relay) is transient too: the body's type decides."""
    exc = raised(server, status, body)
    assert is_transient(exc) and context_overflow(exc) is None
    if isinstance(body, str):
        assert ApiError.of(exc).message == body


def test_retrying_retries_what_is_transient_and_nothing_else(server, wording, monkeypatch):
    monkeypatch.setenv("FORGE_RETRY_WAIT", "0")
    client = anthropic.Anthropic(api_key="test", base_url=server, max_retries=0, timeout=10)

    def call():
        return client.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}])

    Script.replies += [(529, OVERLOADED, {}), (429, RATE_LIMITED, {"retry-after": "30"})]
    assert retrying(call, max_retries=2).content[0].text == "ok"
    assert len(Script.seen) == 3
    Script.replies.append((400, API_OVERFLOW, {}))
    with pytest.raises(anthropic.BadRequestError):
        retrying(call, max_retries=2)
    assert len(Script.seen) == 4  # a refusal is not tried again


def test_retry_after_is_read_from_the_headers(server, wording):
    assert ApiError.of(raised(server, 429, RATE_LIMITED, {"retry-after": "7"})).retry_after_s == 7.0
    assert ApiError.of(raised(server, 529, OVERLOADED, {"retry-after-ms": "1500"})).retry_after_s == 1.5
    assert ApiError.of(raised(server, 529, OVERLOADED)).retry_after_s is None


def test_no_answer_at_all_is_transient():
    exc = anthropic.APIConnectionError(request=None)  # type: ignore[arg-type]
    assert is_transient(exc) and ApiError.of(exc).status is None


def test_a_failed_batch_request_says_why():
    from anthropic.types.messages import MessageBatchResult
    from pydantic import TypeAdapter

    results = TypeAdapter(MessageBatchResult)
    errored = results.validate_python(
        {"type": "errored", "error": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}}
    )
    assert batch_failure(errored) == "errored (overloaded_error: Overloaded)"
    assert batch_failure(results.validate_python({"type": "expired"})) == "expired"
    assert batch_failure(None) == "missing"
