"""The LLM judge behind `eval.scorer: judge`: is an answer correct for its input, given the expected answer?

The judge model (eval.judge_model, else datagen.model) reads prompts/eval_judge.md (the task's system
prompt and eval.judge_rubric; cached as the system block) and one (input, expected, answer) triple, and
answers {correct, reason} under a JSON schema. Verdicts are cached in output/judge_cache.jsonl, keyed by
the hash of (input, expected, answer, rubric, model, template): an unchanged answer is never judged or
paid for twice. An answer identical to the expected one is correct and an empty one wrong without a
call. At eval.judge_batch_threshold answers or more, without llm.base_url, the requests go through one
message batch (half price). Costs go to the spend ledger under "judge". A judge that fails (an API
error after retries, a verdict that does not parse) makes that answer a failure with the reason, never
a crash, and is not cached. For the sealed set only the verdict is cached, under its hash: no sealed
input, answer or judge reason is written anywhere.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import forge.prompts as prompt_files
from forge.atomic import append_bytes_atomic
from forge.errors import first_line
from forge.hashing import content_hash
from forge.llm import prompts as prompts_io
from forge.llm.api_errors import batch_failure
from forge.llm.client import Ledger, check_price, make_client, output_config, retrying
from forge.project.project import Project
from forge.project.records import JUDGE_CACHE, judge_identity

VERDICT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["correct", "reason"],
    "properties": {"correct": {"type": "boolean"}, "reason": {"type": "string"}},
}
MAX_TOKENS = 1000
_LOOSE = re.compile(r'"correct"\s*:\s*(true|false)', re.IGNORECASE)  # a local model's reply around the JSON


@dataclass(frozen=True)
class JudgeItem:
    input: str
    expected: str
    answer: str


@dataclass
class JudgeVerdict:
    correct: bool
    reason: str | None = None
    error: bool = False


def parse_verdict(text: str) -> tuple[bool, str] | None:
    """(correct, reason) from the judge's reply: the JSON it was asked for, or a `"correct": ...` inside prose."""
    try:
        value = json.loads(text)
        if isinstance(value, dict) and isinstance(value.get("correct"), bool):
            return value["correct"], str(value.get("reason") or "")
    except json.JSONDecodeError:
        pass
    match = _LOOSE.search(text)
    return (match.group(1).lower() == "true", "") if match else None


class Judge:
    """One project's judge: its model, rubric, cache and the spend of this process."""

    def __init__(self, project: Project, warn=None):
        cfg = project.config
        self.project, self.cfg = project, cfg
        identity = judge_identity(cfg)
        self.model, self.rubric_hash = identity["model"], identity["rubric_hash"]
        self.rubric = cfg.eval.judge_rubric.strip() or "(none: the general rule below applies)"
        self.system = prompts_io.render("eval_judge", project, rubric=self.rubric)
        self._template = content_hash(prompt_files.load("eval_judge"))
        self._prices = check_price(cfg, self.model, warn)
        self._client = None
        self.cache = self._load()
        self.judged = self.cached = self.errors = 0
        self.cost_usd = 0.0

    def _load(self) -> dict[str, dict]:
        """The cached verdicts by key (a last line a kill cut short is left out: that verdict is asked again)."""
        return {row["key"]: row for row in self.project.read_jsonl_state(JUDGE_CACHE)}

    def key(self, item: JudgeItem) -> str:
        return content_hash(
            json.dumps([item.input, item.expected, item.answer, self.rubric, self.model, self._template]), 32
        )

    def request(self, item: JudgeItem) -> dict:
        user = f"# Input\n{item.input}\n\n# Expected answer\n{item.expected}\n\n# The model's answer\n{item.answer}"
        return {
            "model": self.model,
            "max_tokens": MAX_TOKENS,
            "system": [{"type": "text", "text": self.system, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": user}],
            "output_config": output_config(self.cfg.llm.datagen_effort, VERDICT_SCHEMA),
        }

    def verdicts(self, items: list[JudgeItem], sealed: bool = False) -> list[JudgeVerdict]:
        """A verdict on each item, in order; only the ones neither obvious nor cached reach the judge."""
        out: list[JudgeVerdict | None] = []
        todo = []
        for i, item in enumerate(items):
            hit = self.cache.get(self.key(item))
            if item.answer.strip() == item.expected.strip():
                out.append(JudgeVerdict(True))
            elif not item.answer.strip():
                out.append(JudgeVerdict(False, "empty answer"))
            elif hit is not None:
                self.cached += 1
                out.append(
                    JudgeVerdict(hit["correct"], None if hit["correct"] else f"judge: {hit.get('reason') or '-'}")
                )
            else:
                out.append(None)
                todo.append(i)
        if todo:
            asked = [items[i] for i in todo]
            # batches are Anthropic's API's: not with llm.base_url (a local server); the environment's
            # ANTHROPIC_BASE_URL may be a proxy of it
            use_batch = len(asked) >= self.cfg.eval.judge_batch_threshold and not self.cfg.llm.base_url
            answers = self._ask_batch(asked) if use_batch else self._ask_each(asked)
            rows = []
            for i, item, (verdict, reason) in zip(todo, asked, answers, strict=True):
                if verdict is None:
                    self.errors += 1
                    out[i] = JudgeVerdict(False, f"judge error: {reason}", error=True)
                    continue
                self.judged += 1
                out[i] = JudgeVerdict(verdict, None if verdict else f"judge: {reason or '-'}")
                key = self.key(item)
                row = {"key": key, "correct": verdict, **({} if sealed else {"reason": reason})}
                self.cache[key] = row
                rows.append(json.dumps(row) + "\n")
            if rows:
                append_bytes_atomic(self.project.output / JUDGE_CACHE, "".join(rows).encode())
        return [v for v in out if v is not None]

    def _client_once(self):
        if self._client is None:
            self._client = make_client(self.cfg)
        return self._client

    def _read(self, msg, batch: bool) -> tuple[bool | None, str]:
        self.cost_usd += Ledger.for_project(self.project, self._prices).record(
            self.model, msg.usage, "judge", batch=batch
        )
        text = "".join(b.text for b in msg.content if b.type == "text")
        parsed = parse_verdict(text)
        if parsed is None:
            return None, f"no verdict in the judge's reply (stop_reason {msg.stop_reason})"
        return parsed

    def _ask_one(self, item: JudgeItem) -> tuple[bool | None, str]:
        client = self._client_once()
        try:
            msg = retrying(lambda: client.messages.create(**self.request(item)), self.cfg.llm.max_retries)
        except Exception as exc:  # the API, after forge's retries: this answer is a failure with the reason
            return None, f"{type(exc).__name__}: {first_line(exc, 200)}"
        return self._read(msg, batch=False)

    def _ask_each(self, items: list[JudgeItem]) -> list[tuple[bool | None, str]]:
        if len(items) == 1:
            return [self._ask_one(items[0])]
        first = self._ask_one(items[0])  # alone: it writes the system block's cache, the rest read it
        with ThreadPoolExecutor(max_workers=self.cfg.llm.concurrency) as pool:
            return [first, *pool.map(self._ask_one, items[1:])]

    def _ask_batch(self, items: list[JudgeItem]) -> list[tuple[bool | None, str]]:
        from forge.llm.batches import run_batch

        requests = [{"custom_id": f"judge-{i}", "params": self.request(item)} for i, item in enumerate(items)]
        try:
            entries = {
                e.custom_id: e.result
                for e in run_batch(self._client_once(), requests, self.cfg, echo=lambda _line: None)
            }
        except Exception as exc:
            return [(None, f"batch: {type(exc).__name__}: {first_line(exc, 200)}")] * len(items)
        out: list[tuple[bool | None, str]] = []
        for r in requests:
            result = entries.get(r["custom_id"])
            out.append(
                self._read(result.message, batch=True)
                if result is not None and result.type == "succeeded"
                else (None, f"batch request {batch_failure(result)}")
            )
        return out

    def summary(self) -> dict:
        """What this judge did in this process: for the eval record and the budgets."""
        return {
            "model": self.model,
            "rubric_hash": self.rubric_hash,
            "judged": self.judged,
            "cached": self.cached,
            "errors": self.errors,
            "cost_usd": round(self.cost_usd, 6),
        }
