"""Tool calls served the way applications call them: a model trained on OpenAI-format tool conversations, exported
to GGUF with forge's tool template, served by llama.cpp's llama-server (--jinja) and asked through the real
`openai` client. llama.cpp renders every gold prompt as forge trained and evaluated it, and answers with
`tool_calls` whose arguments keep the tools."""

from __future__ import annotations

import json
import urllib.request

import jsonschema
import llama_server
import pytest

from forge.data.datasets import load_examples
from forge.data.tool_calls import calls_in
from forge.evaluation.runner import run_eval
from forge.models.chat_format import prompt_text, tokenize_for_training, with_system_prompt
from forge.models.loading import load_tokenizer
from forge.project.project import Project
from forge.training.sft import task_system_prompt, train

from conftest import write_jsonl
from engine_fixtures import make_project, tool_examples

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory, nano_model):
    """(project, gold, the served URL): the nano model fully fine-tuned on the routing task as tool calls."""
    from click.testing import CliRunner

    from forge.cli import main

    root = make_project(tmp_path_factory.mktemp("tools") / "p", nano_model, n_train=8,
                        model={"max_seq_len": 1536}, eval={"max_new_tokens": 128})
    write_jsonl(root / "dataset" / "canonical.jsonl", tool_examples(64, seed=1))
    write_jsonl(root / "dataset" / "gold.jsonl", tool_examples(12, seed=2))
    project = Project.open(root)
    train(project, echo=lambda *_: None)
    result = CliRunner().invoke(main, ["export", "--format", "gguf", "--quant", "f32", "--adapter",
                                       str(project.output / "adapter"), "-p", str(root)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [gguf] = (project.output / "export_gguf_f32").glob("*.gguf")
    with llama_server.serve(gguf, ctx=2048, log=root / "server.log") as url:
        yield project, load_examples(project.gold_path), url


def _openai_messages(messages: list[dict]) -> list[dict]:
    """Messages as an OpenAI client sends them: arguments as JSON text."""
    out = []
    for m in messages:
        m = dict(m)
        if m.get("tool_calls"):
            m["tool_calls"] = [{**c, "function": {**c["function"], "arguments": json.dumps(c["function"]["arguments"])}}
                               for c in m["tool_calls"]]
        out.append(m)
    return out


def test_llama_cpp_renders_what_forge_trained_and_evaluated(served):
    project, gold, url = served
    tok = load_tokenizer(str(project.output / "adapter"))
    for ex in gold:
        messages = with_system_prompt(ex, task_system_prompt(project))
        body = {"messages": _openai_messages(messages[:-1]), "tools": ex["tools"]}
        request = urllib.request.Request(f"{url}/apply-template", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            rendered = json.loads(reply.read())["prompt"]
        prompt = prompt_text(tok, messages, ex["tools"])
        assert rendered == prompt
        trained = tok.decode(tokenize_for_training(tok, messages, 1536, ex["tools"])["input_ids"])
        assert trained.startswith(prompt)


def test_served_answers_are_tool_calls_scoring_as_forge_eval(served):
    import openai

    project, gold, url = served
    result = run_eval(project)
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", timeout=60)
    correct = 0
    for ex in gold:
        messages = with_system_prompt(ex, task_system_prompt(project))
        reply = client.chat.completions.create(model="forge", messages=_openai_messages(messages[:-1]),
                                               tools=ex["tools"], max_tokens=128)
        calls = reply.choices[0].message.tool_calls
        assert calls, reply.choices[0].message.content
        params = {t["function"]["name"]: t["function"]["parameters"] for t in ex["tools"]}
        made = [{"name": c.function.name, "arguments": json.loads(c.function.arguments)} for c in calls]
        for call in made:
            jsonschema.validate(call["arguments"], params[call["name"]])
        want = calls_in(json.loads(json.dumps([
            {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
            for c in ex["messages"][-1]["tool_calls"]])))
        correct += made == want
    assert abs(correct / len(gold) - result.accuracy) <= 1 / len(gold)
