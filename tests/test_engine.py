"""Train, eval, promote on real tiny models on CPU (seconds each)."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from forge.errors import ForgeError
from forge.evaluation.promotion import PromotionRefused, promote
from forge.evaluation.runner import run_eval
from forge.models.loading import cpu_has_bf16
from forge.project.project import Project
from forge.training.sft import train

from conftest import assert_same_answers
from engine_fixtures import make_project


@pytest.fixture(scope="module")
def trained(tmp_path_factory, nano_model) -> Project:
    """One fully fine-tuned project, evaluated, shared by the read-only tests below."""
    root = make_project(tmp_path_factory.mktemp("trained") / "p", nano_model)
    project = Project.open(root)
    train(project, echo=lambda *_: None)
    run_eval(project)
    return project


def test_full_training_lowers_loss_and_learns(trained):
    meta = json.loads((trained.output / "adapter" / "forge_meta.json").read_text())
    assert meta["epochs_run"] == 12
    assert meta["epoch_losses"][-1] < 0.5 * meta["epoch_losses"][0]
    assert meta["dataset_size"] == 64 and meta["backend"] == "transformers" and meta["method"] == "full"
    for key in ("config_hash", "dataset_hash", "final_loss", "wall_s", "tokens_per_s", "base"):
        assert meta[key] is not None, key
    results = json.loads((trained.output / "eval_results.json").read_text())
    assert results["accuracy"] >= 0.5, results  # chance is 0.25 (13/16 on an AMD EPYC, 14/16 on an Intel Xeon)
    assert results["total"] == 16 and results["correct"] + results["failure_count"] == 16
    assert set(results["per_cmd"]) <= {"lights_on", "lights_off", "play_music", "weather"}
    lo, hi = results["ci95"]
    assert lo <= results["accuracy"] <= hi
    failures = [json.loads(line) for line in (trained.output / "eval_failures.jsonl").read_text().splitlines()]
    assert len(failures) == results["failure_count"]
    assert all(f["reason"] and "expected" in f and "actual" in f for f in failures)


def test_batched_generation_matches_one_at_a_time(trained):
    from forge.data.datasets import load_examples
    from forge.inference.generate import generate
    from forge.models.chat_format import prompt_text, with_system_prompt
    from forge.models.loading import load_for_inference

    model, tok, _ = load_for_inference(trained.output / "adapter", trained.root, "cpu")
    prompts = [
        prompt_text(tok, with_system_prompt(e, "Route the request. Answer with JSON.\n"))
        for e in load_examples(trained.gold_path)
    ]
    assert_same_answers(
        generate(model, tok, prompts, 32, 8, "cpu"),
        generate(model, tok, prompts, 32, 1, "cpu"),
        model,
        tok,
        prompts,
        32,
    )


def test_answers_cut_at_max_new_tokens_are_named_cut(trained, tmp_path, cli):
    """With eval.max_new_tokens too small for the answers, eval says how many were cut and which setting to raise,
    each such failure is its own category (not "unparseable JSON"), and `forge config check` warns beforehand."""
    import shutil

    from forge.config import load as config_io
    from forge.project import records

    root = tmp_path / "p"
    shutil.copytree(trained.root, root)
    config_io.patch_file(root / "forge.yaml", {"eval": {"max_new_tokens": 4}})
    check = cli("config", "check", "-p", root)
    assert (
        check.exit_code == 0
        and "warning: eval.max_new_tokens 4 is below the longest training answer (dataset/canonical.jsonl:"
        in check.output
    ), check.output
    assert "allows answers" not in check.output  # {"cmd": any string}: the schema bounds nothing
    schema = {
        "type": "object",
        "properties": {"cmd": {"enum": ["lights_on", "lights_off", "play_music", "weather"]}},
        "required": ["cmd"],
    }
    (root / "bounded.json").write_text(json.dumps(schema))
    config_io.patch_file(root / "forge.yaml", {"eval": {"output_schema": "bounded.json"}})
    bound = cli("config", "check", "-p", root).output
    assert "warning: bounded.json allows answers of up to about " in bound and "max_new_tokens 4 can cut" in bound
    config_io.patch_file(root / "forge.yaml", {"eval": {"max_new_tokens": 64}})
    assert (
        "eval.max_new_tokens: ok (64 holds the longest answer bounded.json allows"
        in cli("config", "check", "-p", root).output
    )
    config_io.patch_file(root / "forge.yaml", {"eval": {"max_new_tokens": 4, "output_schema": "output_schema.json"}})
    result = cli("eval", "-p", root)
    assert result.exit_code == 0, result.output
    assert "warning: 16 of 16 gold answers hit eval.max_new_tokens (4) and were cut short" in result.output
    assert "cut: 16 answers hit eval.max_new_tokens (4)" in result.output
    failures = [json.loads(line) for line in (root / "output" / "eval_failures.jsonl").read_text().splitlines()]
    assert len(failures) == 16 and all(
        f["reason"].startswith("cut at eval.max_new_tokens (4 tokens): ") for f in failures
    )
    assert json.loads((root / "output" / "eval_results.json").read_text())["cut"] == 16
    categories = records.failure_categories(Project.open(root))
    assert categories and all("the model failed with: cut at eval.max_new_tokens" in c for c in categories)


def test_lora_adapter_loads_with_peft_and_survives_a_move(tmp_path, nano_model):
    root = make_project(tmp_path / "p", nano_model, method="lora", training={"epochs_min": 2, "epochs_max": 2})
    result = train(Project.open(root), echo=lambda *_: None)
    assert result.epoch_losses[1] < result.epoch_losses[0]
    from peft import AutoPeftModelForCausalLM, PeftModel
    from transformers import AutoModelForCausalLM

    assert AutoPeftModelForCausalLM.from_pretrained(str(result.output_dir)) is not None
    assert PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(nano_model)), str(result.output_dir))
    # The base is a local directory: copy it into the project, point the config at it relatively, move.
    shutil.copytree(nano_model, root / "models" / "tiny")
    meta_path = result.output_dir / "forge_meta.json"
    meta = json.loads(meta_path.read_text())
    meta["base"] = "models/tiny"
    meta_path.write_text(json.dumps(meta))
    moved = tmp_path / "moved"
    shutil.move(root, moved)
    (moved / "forge.yaml").write_text((moved / "forge.yaml").read_text().replace(str(nano_model), "models/tiny"))
    assert run_eval(Project.open(moved)).total == 16


def test_training_is_reproducible(tmp_path, nano_model):
    losses = []
    for name in ("a", "b"):
        root = make_project(tmp_path / name, nano_model, method="lora", training={"epochs_min": 1, "epochs_max": 1})
        losses.append(train(Project.open(root), echo=lambda *_: None).epoch_losses)
    assert losses[0] == losses[1]


def test_epochs_stop_when_loss_stops_improving(tmp_path, nano_model):
    root = make_project(
        tmp_path / "p", nano_model, method="lora", training={"epochs_min": 2, "epochs_max": 5, "loss_tolerance": 0.99}
    )
    r = train(Project.open(root), echo=lambda *_: None)
    assert r.epochs_run == 2  # improvement is always < 99%, so it stops at epochs_min


def test_bad_target_modules_lists_real_ones(tmp_path, nano_model):
    root = make_project(tmp_path / "p", nano_model, method="lora", lora={"target_modules": ["q_proj", "c_attn"]})
    with pytest.raises(ForgeError) as exc:
        train(Project.open(root), echo=lambda *_: None)
    assert str(exc.value) == (
        f"lora.target_modules: c_attn not in {nano_model}; its linear modules are: "
        "down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj"
    )


def test_missing_base_model_path(tmp_path, nano_model):
    root = make_project(tmp_path / "p", nano_model, model={"base": "./models/nope"})
    with pytest.raises(ForgeError) as exc:
        train(Project.open(root), echo=lambda *_: None)
    assert str(exc.value) == f"model.base ./models/nope: no such directory ({root}/models/nope)"


def test_unreachable_hub_model_is_one_line(tmp_path, nano_model):
    root = make_project(tmp_path / "p", nano_model, model={"base": "someorg/no-such-model"})
    with pytest.raises(ForgeError, match=r"^model.base someorg/no-such-model: could not load \("):
        train(Project.open(root), echo=lambda *_: None)


def test_gold_as_training_data_refused(tmp_path, nano_model):
    root = make_project(tmp_path / "p", nano_model, dataset={"canonical": "dataset/gold.jsonl"})
    with pytest.raises(ForgeError) as exc:
        train(Project.open(root), echo=lambda *_: None)
    assert str(exc.value) == "dataset/gold.jsonl: is a gold/sealed eval set; refusing to use it as training data"


def test_sealed_set_leaves_no_per_example_trace(tmp_path, nano_model):
    from conftest import chat, write_jsonl

    root = make_project(
        tmp_path / "p",
        nano_model,
        method="lora",
        training={"epochs_min": 1, "epochs_max": 1},
        dataset={"sealed": "dataset/sealed.jsonl"},
    )
    secret = [chat(f"zebra quartz sealed probe {i}", json.dumps({"cmd": "weather"})) for i in range(5)]
    write_jsonl(root / "dataset" / "sealed.jsonl", secret)
    project = Project.open(root)
    train(project, echo=lambda *_: None)
    from click.testing import CliRunner

    from forge.cli import main

    out = CliRunner().invoke(main, ["eval", "-p", str(root)])
    assert out.exit_code == 0, out.output
    res = json.loads((root / "output" / "eval_results.json").read_text())
    assert set(res["sealed"]) == {"accuracy", "correct", "total", "ci95", "forbidden_count", "hash"}
    assert res["sealed"]["total"] == 5
    assert "zebra" not in out.output
    for f in (root / "output").rglob("*"):
        if f.is_file() and f.suffix in (".json", ".jsonl", ".txt", ".log"):
            assert "zebra" not in f.read_text(errors="ignore"), f


def test_promote_preconditions_and_paired_test(tmp_path, nano_model):
    root = make_project(tmp_path / "p", nano_model, method="lora", training={"epochs_min": 1, "epochs_max": 1})
    project = Project.open(root)
    with pytest.raises(PromotionRefused, match="no trained adapter"):
        promote(project)
    train(project, echo=lambda *_: None)
    with pytest.raises(PromotionRefused, match="has not been evaluated"):
        promote(project)
    first = run_eval(project)
    rec = promote(project, iteration=1)
    assert rec["accuracy"] == first.accuracy and (root / rec["path"] / "adapter_model.safetensors").is_file()
    assert json.loads((root / "output" / "best_score.json").read_text())["iteration"] == 1
    with pytest.raises(PromotionRefused, match=r"is not above the best so far .* \(iter 1\)"):
        promote(project)
    # Pretend the previous best was worse on two examples: the paired test is recorded.
    best_path = root / "output" / "best_score.json"
    best = json.loads(best_path.read_text())
    flipped = dict(first.per_example)
    for key in list(flipped)[:2]:
        flipped[key] = not flipped[key]
    best.update(accuracy=-1.0, per_example=flipped)
    best_path.write_text(json.dumps(best))
    rec2 = promote(project, iteration=2)
    cmp = rec2["vs_previous"]
    assert cmp["shared"] == 16 and cmp["only_new_correct"] + cmp["only_previous_correct"] == 2
    assert 0 < cmp["p_value"] <= 1
    # Train again (different epochs, so different weights): the new adapter is not the evaluated one.
    train(project, epochs=2, echo=lambda *_: None)
    with pytest.raises(PromotionRefused, match="has not been evaluated"):
        promote(project)


def test_model_tiny_cli_all_archs(tmp_path, cli):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for arch in ("qwen2", "llama", "gemma3"):
        result = cli("model", "tiny", tmp_path / arch, "--arch", arch, "--size", "nano")
        assert result.exit_code == 0, result.output
        tok = AutoTokenizer.from_pretrained(tmp_path / arch)
        assert tok.tokenize("2024") == ["2", "0", "2", "4"]
        assert AutoModelForCausalLM.from_pretrained(tmp_path / arch).config.model_type in (arch, "gemma3_text")
        mask = tok.apply_chat_template(
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}],
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        trained = [t for t, m in zip(mask["input_ids"], mask["assistant_masks"], strict=True) if m]
        assert tok.decode(trained) == "ok<|im_end|>"
    again = cli("model", "tiny", tmp_path / "qwen2")
    assert again.exit_code == 1 and "already exists and is not empty" in again.output


def test_cli_train_eval_promote(tmp_path, nano_model, cli):
    root = make_project(tmp_path / "p", nano_model, method="lora", training={"epochs_min": 1, "epochs_max": 1})
    out = cli("train", "-p", root).output
    precision = "bf16" if cpu_has_bf16() else "fp32"  # training.precision auto
    assert f"backend: transformers on cpu (lora, {precision}, 64 examples)" in out
    assert "warning: model.load_in_4bit: ignored without CUDA" in out
    assert "epochs_run: 1" in out and "final_loss: " in out and "tokens_per_s: " in out
    # Not a terminal: one compact line per epoch, and none of the trainer's raw log dicts.
    assert re.search(r"^epoch 1/1: loss \d+\.\d{4}, [\d,]+ tokens/s, \d+\.\ds$", out, re.M), out
    assert "{'loss'" not in out and "train_runtime" not in out
    out = cli("eval", "-p", root).output
    assert "accuracy: " in out and "correct: " in out and "ci95: " in out
    assert "cmd" in out and "correct  total  accuracy" in out
    result = cli("promote", "-p", root)
    assert result.exit_code == 0 and "promoted: output/best_adapter_" in result.output
    again = cli("promote", "-p", root)
    assert again.exit_code == 1 and again.output.startswith("Error: accuracy ")
    status = cli("status", "-p", root).output
    assert "Best score:  " in status and "none yet" not in status.split("Best score:")[1].splitlines()[0]


def test_json_output_is_one_object_with_the_same_keys(tmp_path, nano_model, cli):
    root = make_project(tmp_path / "p", nano_model, method="lora", training={"epochs_min": 1, "epochs_max": 1})
    trained = cli("train", "--json", "-p", root)
    assert trained.exit_code == 0, trained.output
    t = json.loads(trained.stdout)  # progress went to stderr: stdout is the object alone
    assert t["adapter"] == "output/adapter" and t["epochs_run"] == 1 and len(t["epoch_losses"]) == 1
    assert "backend: transformers on cpu" in trained.stderr
    e = json.loads(cli("eval", "--json", "-p", root).stdout)
    assert e["total"] == 16 and 0 <= e["accuracy"] <= 1 and len(e["ci95"]) == 2 and e["per_cmd"]
    text = cli("eval", "-p", root).output  # the same keys, as lines, without --json
    assert f"accuracy: {e['accuracy']:.4f}" in text and f"correct: {e['correct']}/16" in text
    p = json.loads(cli("promote", "--json", "-p", root).stdout)
    assert p["promoted"].startswith("output/best_adapter_") and p["accuracy"] == e["accuracy"]
    x = json.loads(cli("export", "--json", "--dtype", "float32", "-p", root).stdout)
    assert x == {"exported": "output/export_merged", "format": "merged", "dtype": "float32"}
