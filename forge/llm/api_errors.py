"""What a server's error says, read from its structure: the HTTP status and the JSON body.

Every place forge acts on an API error (a retry, a context overflow and its window, a refused
response format, a failed batch request) asks this module, never the exception's text: the
SDK's wording of `str(exc)` changes between releases (2.17 stopped printing the body), while
the status and the body are the server's own. Two body shapes are read:
- Anthropic (and Ollama, vLLM, LiteLLM): {"type": "error", "error": {"type", "message",
  "details": {"error_code"}}, "request_id"};
- llama.cpp's llama-server: {"error": {"code", "message", "type": "exceed_context_size_error",
  "n_prompt_tokens", "n_ctx"}}.
The server's own message (error.message in the body) is read only where no field says it: the
Anthropic API names a prompt over the window in words alone ("prompt is too long: N tokens > M
maximum").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

TRANSIENT_STATUS = frozenset({408, 409, 429})  # and every 5xx (529 overloaded among them)
TRANSIENT_TYPES = frozenset({"overloaded_error", "rate_limit_error", "api_error", "timeout_error"})
OVERFLOW_TYPES = frozenset({"exceed_context_size_error"})  # llama-server
OVERFLOW_CODES = frozenset({"prompt_too_long", "context_window_exceeded", "context_length_exceeded"})
# The Anthropic API's words for a prompt over the window, in the body's error.message.
_OVERFLOW_WORDS = re.compile(r"prompt is too long|context (?:window|size|length)", re.IGNORECASE)
_MAXIMUM = re.compile(r"> ?(\d+) (?:token )?maximum")


@dataclass(frozen=True)
class ApiError:
    """One error response, as the server sent it."""

    status: int | None  # HTTP status; None: no response (a lost connection, a timeout)
    type: str | None  # error.type
    code: str | None  # error.details.error_code, else a string error.code
    message: str  # error.message; the exception's first line when the body has none
    fields: dict[str, Any] = field(default_factory=dict)  # the body's error object, whole
    retry_after_s: float | None = None  # the response's retry-after(-ms) header

    @classmethod
    def of(cls, exc: BaseException) -> ApiError:
        """Read an SDK exception (anthropic.APIStatusError and kin) or anything carrying status_code/body."""
        error = cls.from_body(
            getattr(exc, "status_code", None), getattr(exc, "body", None), fallback=(str(exc).splitlines() or [""])[0]
        )
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        return replace(error, retry_after_s=retry_after(headers))

    @classmethod
    def from_body(cls, status: int | None, body: object, fallback: str = "") -> ApiError:
        """Read a status and a body: a decoded JSON object, its text, or None."""
        found = body.get("error") if isinstance(body, dict) else None
        if isinstance(found, str):  # some proxies answer {"error": "text"}
            found = {"message": found}
        error: dict = found if isinstance(found, dict) else {}
        details = error["details"] if isinstance(error.get("details"), dict) else {}
        code = details.get("error_code") if isinstance(details.get("error_code"), str) else None
        if code is None and isinstance(error.get("code"), str):
            code = error["code"]
        message = error.get("message") if isinstance(error.get("message"), str) else None
        if message is None and isinstance(body, str) and body.strip():
            message = body.strip().splitlines()[0]
        kind = error.get("type") if isinstance(error.get("type"), str) else None
        return cls(status, kind, code, message if message is not None else fallback, dict(error))

    @property
    def transient(self) -> bool:
        """Worth another try: overloaded, rate-limited, timed out, a server fault, or no answer at all."""
        if self.status is None:
            return True
        return self.status in TRANSIENT_STATUS or self.status >= 500 or self.type in TRANSIENT_TYPES

    @property
    def context_overflow(self) -> bool:
        """The prompt is longer than the server's context window."""
        if self.type in OVERFLOW_TYPES or self.code in OVERFLOW_CODES or "n_ctx" in self.fields:
            return True
        return self.status in (400, 413) and bool(_OVERFLOW_WORDS.search(self.message))

    @property
    def context_window(self) -> int | None:
        """The window's size in tokens, when the server said it (llama-server's n_ctx, the API's "> M maximum")."""
        n_ctx = self.fields.get("n_ctx")
        if isinstance(n_ctx, int) and not isinstance(n_ctx, bool) and n_ctx > 0:
            return n_ctx
        m = _MAXIMUM.search(self.message) if self.context_overflow else None
        return int(m.group(1)) if m else None

    def line(self, width: int = 300) -> str:
        """One line for people: status, type and the server's message."""
        head = " ".join(str(p) for p in (self.status, self.type or self.code) if p)
        return (f"{head}: {self.message}" if head else self.message)[:width]


def retry_after(headers) -> float | None:
    """Seconds the server asked to wait (retry-after-ms, else retry-after in seconds); None: it did not say."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            value = float(headers.get(name))
        except (TypeError, ValueError):
            continue
        if value >= 0:
            return value * scale
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether an exception from the SDK is worth retrying: judged by status and body, not by class name or text."""
    import anthropic

    if isinstance(exc, anthropic.APIConnectionError):  # no response: lost connection or timeout
        return True
    if isinstance(exc, anthropic.APIStatusError):
        return ApiError.of(exc).transient
    return False


def batch_failure(result: Any) -> str:
    """Why a Message Batches result did not succeed: its type, and for `errored` the error's type and message."""
    kind = getattr(result, "type", None) or "missing"
    if kind != "errored":
        return kind
    response = getattr(result, "error", None)  # ErrorResponse: {type: "error", error: {type, message}}
    dump = getattr(response, "model_dump", None)
    body = dump(mode="json") if dump is not None else response
    err = ApiError.from_body(None, body)
    return f"errored ({err.type or 'unknown'}: {err.message[:160]})" if err.message else f"errored ({err.type})"
