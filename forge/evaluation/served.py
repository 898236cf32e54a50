"""`forge eval --server URL`: the gold set asked of a served model the way applications call it, scored as
`forge eval` scores.

The server is anything that speaks OpenAI's chat completions (llama-server --jinja on the exported GGUF,
vLLM, Ollama's /v1). Each gold conversation goes as `messages` (the task's system prompt first, the
conversation's calls and tool results as OpenAI writes them) with its `tools` and tool_choice, greedy,
at most eval.max_new_tokens; a reply's `tool_calls` are read back as the scored answer (one call, or a
list of them), its text otherwise. The server decodes under its own tools grammar, not forge's, so this
is the check that what ships answers as what was evaluated. Nothing is recorded: the score is printed
beside the last `forge eval`'s, with the conversations whose verdicts differ.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from forge.data.tool_calls import answer_text, normalize_message, openai_messages, openai_tools
from forge.errors import ForgeError, first_line
from forge.result_lines import ResultLine, fraction, score_lines

TIMEOUT_S = 300  # one answer of a small model on a CPU; a server that takes longer is stuck


def chat_request(example: dict, system_prompt: str, max_tokens: int, tool_choice: str) -> dict:
    """The chat completions body for one gold conversation (its last assistant turn is what is asked for)."""
    from forge.models.chat_format import with_system_prompt

    body = {
        "messages": openai_messages(with_system_prompt(example, system_prompt)[:-1]),
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    if example.get("tools"):
        body.update(tools=openai_tools(example["tools"]), tool_choice=example.get("tool_choice", tool_choice))
    return body


def ask(url: str, body: dict, timeout: float = TIMEOUT_S) -> dict:
    """The reply message of `url`'s /v1/chat/completions to `body`; ForgeError in one line when it fails."""
    request = urllib.request.Request(
        url.rstrip("/") + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return json.loads(reply.read())["choices"][0]["message"]
    except urllib.error.HTTPError as exc:
        raise ForgeError(
            f"--server {url}: HTTP {exc.code}: {first_line(exc.read().decode(errors='replace'), 200)}"
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ForgeError(f"--server {url}: cannot reach it ({first_line(exc, 200)})") from None
    except (ValueError, KeyError, IndexError, TypeError):
        raise ForgeError(f"--server {url}: the reply is not an OpenAI chat completion") from None


def served_answer(message: dict) -> str:
    """A reply message as the scored answer: its calls (arguments read from their JSON text) or its text. Calls
    whose arguments are not a JSON object are scored as the text they are."""
    try:
        reply = normalize_message({"role": "assistant", **message, "content": message.get("content") or ""}, "reply")
        return answer_text(reply) if reply.get("tool_calls") else reply["content"].strip()
    except ValueError:
        return json.dumps(message.get("tool_calls"), ensure_ascii=False)


def served_eval(project, url: str, echo=None) -> dict:
    """Score `url`'s answers to the gold set: accuracy, correct, total, how many replies came as tool_calls, and
    the ids whose verdict differs from the last `forge eval` (output/eval_results.json, when there is one)."""
    from forge.data.datasets import example_id, load_examples
    from forge.data.output_schema import OutputSchema
    from forge.evaluation.runner import score_set
    from forge.evaluation.scorers import Scorer
    from forge.project.records import RESULTS

    cfg = project.config
    gold = load_examples(project.gold_path, cfg.dataset.gold, missing_ok=True)
    if not gold:
        raise ForgeError(f"{cfg.dataset.gold}: no gold examples to ask the server")
    system = project.system_prompt()
    replies = []
    for n, example in enumerate(gold, start=1):
        replies.append(ask(url, chat_request(example, system, cfg.eval.max_new_tokens, cfg.eval.tool_choice)))
        if echo and (n % 16 == 0 or n == len(gold)):
            echo(f"asked {n}/{len(gold)}")
    answers = [served_answer(r) for r in replies]
    verdicts, summary = score_set(gold, answers, Scorer.for_project(project, OutputSchema.for_project(project)))
    last = (project.read_state(RESULTS) or {}).get("per_example") or {}
    differ = [
        example_id(e)
        for e, v in zip(gold, verdicts, strict=True)
        if example_id(e) in last and last[example_id(e)] != v.correct
    ]
    return {
        **{k: summary[k] for k in ("accuracy", "correct", "total", "ci95")},
        "tool_call_replies": sum(bool(r.get("tool_calls")) for r in replies),
        "last_eval_accuracy": sum(last.values()) / len(last) if last else None,
        "differ": differ,
        "answers": answers,
    }


def served_lines(res: dict) -> list[ResultLine]:
    """`forge eval --server`'s result lines: the served score, and where it differs from the last eval."""
    lines = [
        *score_lines("served_accuracy", res["accuracy"], res["correct"], res["total"], res["ci95"]),
        ResultLine("tool_call_replies", res["tool_call_replies"], f"{res['tool_call_replies']}/{res['total']}"),
    ]
    if res["last_eval_accuracy"] is not None:
        differ = res["differ"]
        lines.append(ResultLine("last_eval_accuracy", res["last_eval_accuracy"], fraction(res["last_eval_accuracy"])))
        lines.append(
            ResultLine("differ", differ, f"{len(differ)}" + (f" ({', '.join(differ[:10])})" if differ else ""))
        )
    return lines
