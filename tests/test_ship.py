"""probe (token F1 and the LLM judge on a recorded session), pretrain + merge, export merged."""

from __future__ import annotations

import json

import pytest
import yaml

from forge.config import load as config_io
from forge.errors import ForgeError
from forge.evaluation import probe
from forge.evaluation.probe import run_probe, token_f1
from forge.evaluation.promotion import promote
from forge.evaluation.runner import run_eval
from forge.project.project import Project
from forge.training.sft import train

from conftest import assert_same_answers, write_jsonl
from engine_fixtures import make_project
from llm_cassettes import llm_cassette, message

PROBE = [
    {"question": "Which command turns the lamp on?", "ideal": "lights_on"},
    {"question": "What does the weather command report?", "ideal": "the forecast for today"},
]


@pytest.fixture
def project(tmp_path, nano_model) -> Project:
    root = make_project(
        tmp_path / "p",
        nano_model,
        method="lora",
        training={"epochs_min": 1, "epochs_max": 1},
        eval={"max_new_tokens": 8},
    )
    write_jsonl(root / "dataset" / "probe.jsonl", PROBE)
    return Project.open(root)


def test_token_f1():
    assert token_f1("the forecast for today", "The forecast, for today!") == 1.0
    assert token_f1("forecast", "the forecast for today") == pytest.approx(0.4)
    assert token_f1("", "x") == 0.0


def test_probe_offline_pre_is_permanent_and_compare(project, cli, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    rec = run_probe(project, "pre")
    assert rec["scorer"] == "token_f1" and len(rec["items"]) == 2 and 0 <= rec["mean"] <= 1
    assert all("answer" in i and "score" in i for i in rec["items"])
    again = cli("probe", "--tag", "pre", "-p", project.root)
    assert again.exit_code == 1 and "the `pre` record is permanent" in again.output
    train(project, echo=lambda *_: None)
    run_probe(project, "post", project.output / "adapter")
    out = cli("probe", "--compare", "-p", project.root).output
    assert "delta" in out and out.strip().splitlines()[-1].startswith("mean")
    write_jsonl(project.root / "dataset" / "probe.jsonl", PROBE[:1])  # the questions changed
    changed = cli("probe", "--compare", "-p", project.root)
    assert changed.exit_code == 1 and "probe questions changed" in changed.output


def test_probe_bad_line(project, cli):
    (project.root / "dataset" / "probe.jsonl").write_text('{"question": "q", "ideal": "a"}\n{"question": 3}\n')
    result = cli("probe", "--tag", "x", "-p", project.root)
    assert result.output == 'Error: dataset/probe.jsonl:2: expected {"question": "...", "ideal": "..."}\n'


JUDGE = [
    message(json.dumps({"score": 1.0, "reason": "names lights_on"}), input_tokens=400, output_tokens=30, n=1),
    message(json.dumps({"score": 0.5, "reason": "partly right"}), input_tokens=400, output_tokens=30, n=2),
]


def test_probe_llm_judge(project, monkeypatch):
    # The recorded request bodies carry the model's answers: scripted, not whatever the random base says here.
    monkeypatch.setattr(probe, "answer_questions", lambda _p, questions, _m: ([""] * len(questions), "base"))
    with llm_cassette(__file__, "probe_judge", JUDGE, monkeypatch):
        rec = run_probe(project, "judged")
    assert rec["scorer"] == "judge:claude-sonnet-5-5"
    assert [i["score"] for i in rec["items"]] == [1.0, 0.5] and rec["mean"] == 0.75
    spend = project.read_state("llm_spend.json")
    assert spend["by_purpose"]["probe"] == pytest.approx(2 * (400 * 2 + 30 * 10) / 1e6)


def test_pretrain_merges_and_lowers_corpus_loss(project):
    corpus = project.root / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text("The lamp command is lights_on. The weather command reports the forecast.\n" * 30)
    write_jsonl(corpus / "more.jsonl", [{"text": "Music requests map to play_music."}] * 10)
    config_io.patch_file(
        project.config_path,
        {"pretrain": {"learning_rate": 5e-3, "epochs": 3, "batch_size": 2}, "model": {"max_seq_len": 128}},
    )
    project.reload()
    from forge.training.pretrain import pretrain

    info = pretrain(project, echo=lambda *_: None)
    assert info["loss_after"] < info["loss_before"]
    assert info["corpus_files"] == ["corpus/more.jsonl", "corpus/notes.md"]
    # loaded as `forge train` loads (forge.training.model_io), at the precision train would use, swapped in whole
    from forge.models.loading import training_precision

    assert info["precision"] == training_precision(project.config.training.precision, "cpu", "lora")
    assert not (project.output / ".pretrain_merged.tmp").exists()
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(project.output / "pretrain_merged")
    assert not any("lora" in n for n, _ in merged.named_parameters())
    # Fine-tune on top of the merged base; LoRA on an unmerged adapter is refused.
    config_io.patch_file(project.config_path, {"model": {"base": "output/pretrain_merged"}})
    project.reload()
    assert train(project, echo=lambda *_: None).epochs_run == 1
    config_io.patch_file(project.config_path, {"model": {"base": "output/adapter"}})
    project.reload()
    with pytest.raises(ForgeError, match="is an unmerged LoRA adapter"):
        pretrain(project, echo=lambda *_: None)


def test_export_merged_matches_the_adapter(project, cli):
    result = cli("export", "-p", project.root)
    assert result.exit_code == 1 and "nothing promoted yet" in result.output
    train(project, echo=lambda *_: None)
    run_eval(project)
    promote(project)
    out = cli("export", "--dtype", "float32", "-p", project.root)
    assert out.exit_code == 0, out.output
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from forge.data.datasets import load_examples
    from forge.inference.generate import generate
    from forge.models.chat_format import prompt_text, with_system_prompt
    from forge.models.loading import load_for_inference

    path = project.output / "export_merged"
    merged, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    assert tok.chat_template and merged.generation_config.eos_token_id == tok.eos_token_id
    adapter_model, adapter_tok, _ = load_for_inference(project.output / "adapter", project.root, "cpu")
    prompts = [
        prompt_text(tok, with_system_prompt(e, (project.root / "system_prompt.md").read_text()))
        for e in load_examples(project.gold_path)
    ]
    assert_same_answers(
        generate(merged, tok, prompts, 8, 16, "cpu"),
        generate(adapter_model, adapter_tok, prompts, 8, 16, "cpu"),
        merged,
        tok,
        prompts,
        8,
    )


HUB_LIBRARIES = {"peft", "transformers", "gguf", "sentence-transformers", "diffusers", "timm"}
HUB_PIPELINES = {
    "text-generation",
    "text2text-generation",
    "text-classification",
    "token-classification",
    "question-answering",
    "feature-extraction",
}


def hub_metadata_errors(readme: str) -> list[str]:
    """The Hub's model-card checks that matter here: base_model a hub id (org/name) or absent, known
    library_name and pipeline_tag, a model-index whose results name a task, a dataset and metrics."""
    import re

    import yaml

    if not readme.startswith("---\n"):
        return []
    meta = yaml.safe_load(readme.split("---\n")[1]) or {}
    errors = []
    bases = meta.get("base_model")
    for base in [bases] if isinstance(bases, str) else bases or []:
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", str(base)):
            errors.append(f'"base_model" with value "{base}" is not valid. Use a model id from https://hf.co/models.')
    if "library_name" in meta and meta["library_name"] not in HUB_LIBRARIES:
        errors.append(f'"library_name" must be a known library, got "{meta["library_name"]}"')
    if "pipeline_tag" in meta and meta["pipeline_tag"] not in HUB_PIPELINES:
        errors.append(f'"pipeline_tag" must be a known task, got "{meta["pipeline_tag"]}"')
    for entry in meta.get("model-index") or []:
        for result in entry.get("results") or []:
            if not (
                result.get("task", {}).get("type")
                and result.get("dataset", {}).get("name")
                and all("type" in m and "value" in m for m in result.get("metrics") or [{}])
            ):
                errors.append('"model-index" results need task.type, dataset.name and metrics with type and value')
    return errors


class FakeHub:
    """Enough of the Hub's HTTP API for create_repo + create_commit (all files as regular uploads)."""

    def __init__(self):
        from local_http import JsonHandler, start

        self.requests: list[tuple[str, str, bytes]] = []
        hub = self

        class Handler(JsonHandler):
            def do_POST(self):
                body = self.read_body()
                hub.requests.append(("POST", self.path, body))
                if self.path == "/api/repos/create":
                    out = {"url": f"{hub.url}/me/routing", "name": "me/routing", "id": "fake"}
                elif self.path == "/api/validate-yaml":
                    errors = hub_metadata_errors(json.loads(body)["content"])
                    if errors:
                        self.send_json(400, {"errors": [{"message": e} for e in errors], "warnings": []})
                        return
                    out = {"errors": [], "warnings": []}
                elif "/preupload/" in self.path:
                    files = json.loads(body)["files"]
                    out = {
                        "files": [
                            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                            for f in files
                        ]
                    }
                elif "/commit/" in self.path:
                    out = {
                        "commitUrl": f"{hub.url}/me/routing/commit/abc123",
                        "commitOid": "abc123",
                        "pullRequestUrl": None,
                    }
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_json(200, out)

        self.server, self.url = start(Handler)


def test_push_uploads_adapter_and_card(project, cli, monkeypatch):
    import base64
    import os
    import subprocess
    import sys
    from pathlib import Path

    assert "hub.hf_repo: not set" in cli("push", "-p", project.root).output
    config_io.patch_file(project.config_path, {"hub": {"hf_repo": "me/routing"}})
    train(project, echo=lambda *_: None)
    run_eval(project)
    promote(project, iteration=1)
    hub = FakeHub()
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN")}
    env["HF_HOME"] = str(project.root.parent / "hf-home")  # no stored login token from this machine
    forge = str(Path(sys.executable).parent / "forge")
    no_token = subprocess.run(
        [forge, "push", "-p", str(project.root)], env={**env, "HF_ENDPOINT": hub.url}, capture_output=True, text=True
    )
    assert no_token.returncode == 1 and "no hub token: `hf auth login`" in no_token.stderr
    # a token stored by `hf auth login` is used like HF_TOKEN
    (project.root.parent / "hf-home").mkdir(exist_ok=True)
    (project.root.parent / "hf-home" / "token").write_text("hf_fake_token_123")
    done = subprocess.run(
        [forge, "push", "-p", str(project.root)], env={**env, "HF_ENDPOINT": hub.url}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "pushed: me/routing" in done.stdout
    create = json.loads(next(b for m, p, b in hub.requests if p == "/api/repos/create"))
    assert create["name"] == "routing" and create["organization"] == "me" and create["visibility"] == "private"
    commit = next(b for m, p, b in hub.requests if "/commit/" in p)
    files = {
        json.loads(line)["value"]["path"]: base64.b64decode(json.loads(line)["value"]["content"])
        for line in commit.splitlines()
        if json.loads(line)["key"] == "file"
    }
    best_dir = project.path(project.read_state("best_score.json")["path"])
    assert files["adapter_model.safetensors"] == (best_dir / "adapter_model.safetensors").read_bytes()
    assert "adapter_config.json" in files and "tokenizer.json" in files
    card = files["README.md"].decode()
    assert "base_model" not in card  # the base is a local model: no hub id to name
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["library_name"] == "peft" and meta["pipeline_tag"] == "text-generation" and "forge" in meta["tags"]
    (result,) = meta["model-index"][0]["results"]
    best = project.read_state("best_score.json")
    assert result["metrics"][0]["type"] == "accuracy" and result["metrics"][0]["value"] == round(best["accuracy"], 4)
    assert "## Gold-set accuracy" in card and "95% CI" in card
    # nothing uploaded names a local path: not the base's, not the project's
    for name, data in files.items():
        assert str(project.root.parent).encode() not in data, name
    assert json.loads(files["adapter_config.json"])["base_model_name_or_path"] == Path(project.config.model.base).name
    assert "AutoPeftModelForCausalLM" in card and "| iteration | accuracy | hypothesis |" in card
    validated = json.loads(next(b for m, p, b in hub.requests if p == "/api/validate-yaml"))
    assert validated["content"] == card  # the hub checks the card's metadata before the commit
    # the card forge wrote before (base_model: the local path) is refused by the same check
    old_card = f"---\nlibrary_name: peft\nbase_model: {project.config.model.base}\ntags: [forge]\n---\n# routing\n"
    assert hub_metadata_errors(old_card) and not hub_metadata_errors(card)
    # and a refused card is one line, not a traceback
    from forge.export.push import push

    monkeypatch.setattr("forge.export.push.model_card", lambda _p: old_card)
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", hub.url)  # read at import, so patched here
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_123")
    project.reload()
    with pytest.raises(
        ForgeError,
        match=r"^me/routing: the hub refused the model card: Invalid metadata in README.md. "
        r"- \"base_model\" with value",
    ):
        push(project)


def test_merged_export_keeps_every_end_id_the_base_declares(tmp_path, nano_model, cli):
    """A Gemma-3-IT-style base declares eos and end-of-turn ([1, 106]); the merged export keeps both."""
    import shutil

    from transformers import AutoTokenizer, GenerationConfig

    from forge.export.ship import end_ids

    assert end_ids([1, 106], 1) == [1, 106] and end_ids(None, 5) == 5 and end_ids(7, 5) == [7, 5]
    base = tmp_path / "base"
    shutil.copytree(nano_model, base)
    tok = AutoTokenizer.from_pretrained(str(base))
    turn_end = tok.convert_tokens_to_ids("<|im_start|>")  # any other special id stands in for end-of-turn
    gen = GenerationConfig.from_pretrained(str(base))
    gen.eos_token_id = [tok.eos_token_id, turn_end]
    gen.save_pretrained(str(base))
    project = Project.open(
        make_project(
            tmp_path / "p", base, method="lora", training={"epochs_min": 1, "epochs_max": 1}, eval={"max_new_tokens": 8}
        )
    )
    train(project, echo=lambda *_: None)
    run_eval(project)
    promote(project)
    assert cli("export", "--dtype", "float32", "-p", project.root).exit_code == 0
    merged = GenerationConfig.from_pretrained(str(project.output / "export_merged"))
    assert merged.eos_token_id == [tok.eos_token_id, turn_end]
