"""Tool calls served the way applications call them: a model trained on OpenAI-format tool conversations, exported
to GGUF with forge's tool template and served by llama.cpp's llama-server (--jinja). llama.cpp renders every gold
conversation (tools, earlier calls, results) exactly as forge trained on it and evaluated it; `export --verify`
decodes each under the same tool grammar in llama.cpp and scores it as eval does; the served model answers the
`openai` client with tool_calls, scored by `forge eval --server` exactly as eval scored; `forge predict` answers
requests with tools as OpenAI tool_calls. The nano model needs 60 epochs to write the `<tool_call>` tag freely
(its tokenizer spells it in many pieces), which llama-server's tools grammar leaves to the model."""

from __future__ import annotations

import json
import urllib.request

import llama_server
import pytest

from forge.data.datasets import load_examples
from forge.data.tool_calls import openai_messages
from forge.evaluation.runner import run_eval
from forge.models.chat_format import prompt_text, tokenize_for_training, with_system_prompt
from forge.models.loading import load_tokenizer
from forge.project.project import Project
from forge.training.sft import train

from conftest import write_jsonl
from engine_fixtures import TOOLS, make_project, tool_examples

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory, nano_model):
    """(project, gold, the served URL): the nano model fully fine-tuned on the routing task as tool calls."""
    from click.testing import CliRunner

    from forge.cli import main

    root = make_project(
        tmp_path_factory.mktemp("tools") / "p",
        nano_model,
        n_train=8,
        model={"max_seq_len": 1536},
        eval={"max_new_tokens": 128, "scorer": "call", "tool_choice": "required", "precision": "fp32"},
        training={"epochs_min": 60, "epochs_max": 60},
    )
    write_jsonl(root / "dataset" / "canonical.jsonl", tool_examples(96, seed=1))
    write_jsonl(root / "dataset" / "gold.jsonl", tool_examples(12, seed=2))
    project = Project.open(root)
    train(project, echo=lambda *_: None)
    result = CliRunner().invoke(
        main,
        [
            "export",
            "--format",
            "gguf",
            "--quant",
            "f32",
            "--verify",
            "--adapter",
            str(project.output / "adapter"),
            "-p",
            str(root),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    [gguf] = (project.output / "export_gguf_f32").glob("*.gguf")
    with llama_server.serve(gguf, ctx=2048, log=root / "server.log") as url:
        yield project, load_examples(project.gold_path), url


def test_llama_cpp_renders_what_forge_trained_and_evaluated(served):
    project, gold, url = served
    tok = load_tokenizer(str(project.output / "adapter"))
    for ex in gold:
        assert_one_rendering(project, tok, url, ex, 1536)


def assert_one_rendering(project, tok, url: str, example: dict, max_seq_len: int) -> str:
    """llama-server's rendering of `example`'s prompt (its /apply-template) is the prompt forge evaluates, token for
    token, and the text forge trains on starts with it; returns the prompt."""
    messages = with_system_prompt(example, project.system_prompt())
    body = {"messages": openai_messages(messages[:-1]), "tools": example["tools"]}
    request = urllib.request.Request(
        f"{url}/apply-template", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        rendered = json.loads(reply.read())["prompt"]
    prompt = prompt_text(tok, messages, example["tools"])
    # a file that says add_bos renders the template's bos_token empty and adds BOS when it tokenizes (Gemma 3)
    assert rendered in (prompt, prompt.removeprefix(tok.bos_token or "\0")), (rendered[:80], prompt[:80])
    request = urllib.request.Request(
        f"{url}/tokenize",
        data=json.dumps({"content": rendered, "add_special": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert json.loads(reply.read())["tokens"] == tok(prompt, add_special_tokens=False)["input_ids"]
    trained = tok.decode(tokenize_for_training(tok, messages, max_seq_len, example["tools"])["input_ids"])
    assert trained.startswith(prompt)
    return prompt


def test_the_gguf_under_its_tool_grammar_scores_what_eval_scored(served):
    """export --verify decodes each gold conversation in llama.cpp under the same tool grammar eval used (as GBNF)
    and scores it as eval does: the same answers, the same score."""
    project, gold, _url = served
    result = run_eval(project)
    verify = json.loads((project.output / "export_gguf_f32" / "verify.json").read_text())
    assert verify["constrained"] and verify["tokens_match"] == len(gold) and verify["passed"], verify
    assert verify["greedy_match"] + verify["near_ties"] == len(gold)
    assert verify["transformers_correct"] == verify["gguf_correct"] == result.correct


def test_predict_answers_requests_with_tools_as_tool_calls(served):
    from forge.data.datasets import example_id
    from forge.errors import ForgeError
    from forge.inference.predict import predict, predict_gguf, read_requests

    project, gold, _url = served
    run_eval(project)
    scored = {
        f["id"]: f["actual"] for f in map(json.loads, (project.output / "eval_failures.jsonl").read_text().splitlines())
    }
    text = "".join(json.dumps({"tools": e["tools"], "messages": openai_messages(e["messages"])}) + "\n" for e in gold)
    rows = predict(project, read_requests(text, "requests.jsonl"), project.output / "adapter")
    for ex, row in zip(gold, rows, strict=True):  # each answer is the one eval scored, written as tool_calls
        reply = row["messages"][-1]
        assert reply["tool_calls"] and reply["content"] == ""
        made = [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in reply["tool_calls"]]
        assert json.dumps(made[0] if len(made) == 1 else made) == scored.get(example_id(ex), row["expected"])
    [gguf] = (project.output / "export_gguf_f32").glob("*.gguf")
    with pytest.raises(ForgeError, match="predict --gguf answers without tools"):
        predict_gguf(project, read_requests(text, "requests.jsonl"), gguf)


def test_chat_with_the_projects_tools_asks_for_results_and_answers_after_them(served):
    """`forge chat` on a tool project: the tools its training set carries, the same call predict makes for the same
    conversation, then the result typed for each call and the model's next answer after it."""
    from click.testing import CliRunner

    from forge.cli import main
    from forge.inference.predict import predict, read_requests

    project, gold, _url = served
    first_user = next(m["content"] for m in gold[0]["messages"] if m["role"] == "user")
    request = json.dumps({"tools": gold[0]["tools"], "messages": [{"role": "user", "content": first_user}]})
    [row] = predict(project, read_requests(request + "\n", "request.jsonl"), project.output / "adapter")
    calls = row["messages"][-1]["tool_calls"]
    results = "".join(f'{{"ok": true, "n": {n}}}\n' for n in range(len(calls)))
    result = CliRunner().invoke(
        main,
        ["chat", "-p", str(project.root), "--max-new-tokens", "128"],
        input=f"{first_user}\n{results}/exit\n",
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == "tools: " + ", ".join(t["function"]["name"] for t in TOOLS)
    asked = [f"result of {c['function']['name']} (call_{n})> " for n, c in enumerate(calls, 1)]
    assert all(a in result.output for a in asked), result.output
    # the model answered again after the results (tool_choice required: another call, whose result is asked)
    assert result.output.count("result of ") == len(calls) + 1 and result.output.endswith("(2 turns)\n")


def test_the_served_gguf_answers_the_openai_client_with_tool_calls(served):
    """llama-server on the exported GGUF, asked through the openai client as an application asks it: every gold
    conversation (tool_choice required) comes back as tool_calls naming a function of its tools, with arguments
    its parameters allow; `forge eval --server` reads the same replies and scores them as eval does."""
    from openai import OpenAI

    from forge.data.output_schema import tools_schema
    from forge.evaluation.served import chat_request, served_answer, served_eval

    project, gold, url = served
    client = OpenAI(base_url=f"{url}/v1", api_key="unused", timeout=120, max_retries=0)
    system = project.system_prompt()
    answers = []
    for ex in gold:
        reply = client.chat.completions.create(model="served", **chat_request(ex, system, 128, "required"))
        message = reply.choices[0].message
        assert message.tool_calls, message
        contract = tools_schema(ex["tools"], "required")
        answer = served_answer(message.model_dump(exclude_none=True))
        assert contract.keeps(answer), answer
        answers.append(answer)
    result = run_eval(project)
    served = served_eval(project, url)
    assert served["answers"] == answers and served["tool_call_replies"] == len(gold)
    # llama-server decodes under its own tools grammar, an f32 file: every verdict is eval's
    assert (served["correct"], served["differ"]) == (result.correct, []), served


def test_a_gemma_template_renders_tool_conversations_as_llama_cpp_does(tmp_path):
    """A base with Gemma 3's chat template (no system turn: the system prompt opens the first user turn, `model`
    turns, `<end_of_turn>`) and a SentencePiece vocabulary: forge's tool template built from its markers, saved with
    the trained model and written into its GGUF, renders each gold conversation in llama-server exactly as forge
    trained on it and evaluated it."""
    from click.testing import CliRunner
    from spm_fixtures import build_spm_gemma

    from forge.cli import main
    from forge.models.family_templates import GEMMA

    base = build_spm_gemma(tmp_path / "gemma")
    gemma = load_tokenizer(str(base))
    gemma.chat_template = GEMMA
    gemma.save_pretrained(base)
    root = make_project(
        tmp_path / "p",
        base,
        n_train=8,
        model={"max_seq_len": 2048},
        eval={"scorer": "call", "max_new_tokens": 8},
        training={"epochs_min": 1, "epochs_max": 1},
    )
    write_jsonl(root / "dataset" / "canonical.jsonl", tool_examples(16, seed=1))
    write_jsonl(root / "dataset" / "gold.jsonl", tool_examples(6, seed=2))
    project = Project.open(root)
    train(project, echo=lambda *_: None)
    tok = load_tokenizer(str(project.output / "adapter"))
    assert "<start_of_turn>" in tok.chat_template and "<tool_call>" in tok.chat_template
    assert "<start_of_turn>system" not in prompt_text(
        tok, [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}], TOOLS
    )
    result = CliRunner().invoke(
        main,
        ["export", "--format", "gguf", "--quant", "f32", "--adapter", str(project.output / "adapter"), "-p", str(root)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    [gguf] = (project.output / "export_gguf_f32").glob("*.gguf")
    with llama_server.serve(gguf, ctx=2048, log=root / "server.log") as url:
        for ex in load_examples(project.gold_path):
            prompt = assert_one_rendering(project, tok, url, ex, 2048)
            assert prompt.index("Route the request.") < prompt.index("<tools>") < prompt.index("<start_of_turn>model")
