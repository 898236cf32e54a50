"""forge.yaml: defaults, validation messages, the commented template and comment-keeping patches."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from forge.config import load as config_io
from forge.config.fields import ForgeConfig
from forge.config.render import render_markdown, render_yaml
from forge.errors import ConfigError


def test_seed_defaults():
    c = ForgeConfig()
    assert (c.model.base, c.model.max_seq_len, c.model.load_in_4bit) == ("unsloth/functiongemma-270m-it", 2048, True)
    assert (c.lora.r, c.lora.alpha, c.lora.dropout) == (32, 32, 0.0)
    assert c.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    t = c.training
    assert (t.epochs_min, t.epochs_max, t.batch_size, t.gradient_accumulation_steps) == (2, 4, 4, 1)
    assert (t.learning_rate, t.warmup_ratio, t.weight_decay, t.lr_scheduler, t.seed) == (5e-5, 0.1, 0.01, "cosine", 42)
    assert (c.eval.target_accuracy, c.eval.scorer, c.eval.max_new_tokens, c.eval.forbidden_commands) == (
        0.95,
        "json_cmd",
        256,
        [],
    )
    assert (c.hub.hf_repo, c.hub.private) == (None, True)
    assert (c.agent.max_iterations, c.datagen.augment_per_failure) == (10, 20)
    assert (c.compute.device, c.compute.remote) == ("cuda:0", None)


def test_template_parses_to_defaults():
    data = yaml.safe_load(render_yaml("demo"))
    expected = dataclasses.asdict(ForgeConfig())
    expected["name"] = "demo"
    assert data == expected
    assert config_io.validate(data).name == "demo"


def test_every_field_documented():
    md = render_markdown()
    for key in ("training.learning_rate", "agent.max_cost_usd", "dataset.sealed", "llm.base_url", "llm.prices"):
        assert f"`{key}`" in md


@pytest.mark.parametrize(
    "text, message",
    [
        ("training:\n  learning_rate: -1\n", "forge.yaml: training.learning_rate: must be > 0, got -1"),
        (
            "training:\n  learnin_rate: 0.1\n",
            "forge.yaml: training.learnin_rate: unknown key (did you mean 'learning_rate'?)",
        ),
        ("trainig:\n  seed: 1\n", "forge.yaml: trainig: unknown key (did you mean 'training'?)"),
        ("training:\n  batch_size: four\n", "forge.yaml: training.batch_size: must be an integer, got 'four'"),
        (
            "training:\n  lr_scheduler: step\n",
            "forge.yaml: training.lr_scheduler: must be one of cosine, linear, constant, got 'step'",
        ),
        ("eval:\n  target_accuracy: 1.5\n", "forge.yaml: eval.target_accuracy: must be <= 1, got 1.5"),
        ("lora:\n  target_modules: []\n", "forge.yaml: lora.target_modules: must have at least 1 item(s)"),
        (
            "training:\n  epochs_min: 3\n  epochs_max: 2\n",
            "forge.yaml: training.epochs_max: must be >= training.epochs_min (3), got 2",
        ),
        ("- a\n- b\n", "forge.yaml: must be a mapping of sections, got list"),
        ("model:\n  load_in_4bit: 1\n", "forge.yaml: model.load_in_4bit: must be true or false, got 1"),
        ("dataset:\n  sealed: 3\n", "forge.yaml: dataset.sealed: must be a string or null, got 3"),
    ],
)
def test_validation_messages(tmp_path, text, message):
    path = tmp_path / "forge.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        config_io.load(path)
    assert str(exc.value) == message


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "forge.yaml"
    path.write_text("training:\n  seed: 1\n  bad: [1, 2\n")
    with pytest.raises(ConfigError, match=r"^forge.yaml:4:1: invalid YAML: "):
        config_io.load(path)


def test_empty_file_means_defaults(tmp_path):
    path = tmp_path / "forge.yaml"
    path.write_text("# nothing yet\n")
    assert config_io.load(path) == ForgeConfig()


def test_patch_keeps_comments_and_order(tmp_path):
    path = tmp_path / "forge.yaml"
    path.write_text(render_yaml("p"))
    before = path.read_text().splitlines()
    cfg = config_io.patch_file(
        path, {"training": {"learning_rate": 0.001, "epochs_max": 6}, "lora": {"target_modules": ["q_proj", "v_proj"]}}
    )
    after = path.read_text().splitlines()
    assert cfg.training.learning_rate == 0.001 and cfg.training.epochs_max == 6
    assert len(after) == len(before)
    assert [line for line in after if line.lstrip().startswith("#")] == [
        line for line in before if line.lstrip().startswith("#")
    ]
    assert "  learning_rate: 0.001" in after
    assert "  target_modules: [q_proj, v_proj]" in after
    assert config_io.load(path).lora.target_modules == ["q_proj", "v_proj"]


BLOCK_STYLE = """\
# my project's config
name: p  # the name
lora:
  r: 16  # rank
  # which layers get adapters
  target_modules:
    - q_proj  # attention query
    - v_proj
  alpha: 32
training:
  # the one I tuned
  learning_rate: 0.0002
  method: 'lora'   # quoted on purpose
"""


def test_patch_of_a_block_list_keeps_every_comment(tmp_path):
    path = tmp_path / "forge.yaml"
    path.write_text(BLOCK_STYLE)
    config_io.patch_file(
        path,
        {"lora": {"target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], "r": 8}, "training": {"epochs_max": 5}},
    )
    text = path.read_text()
    comments = [line.split("#", 1)[1] for line in BLOCK_STYLE.splitlines() if "#" in line]
    assert all(c in text for c in comments), text
    assert "  target_modules:\n    - q_proj" in text and "    - o_proj\n" in text  # still a block list
    assert re.search(r"^  r: 8 +# rank$", text, re.M) and "method: 'lora'   # quoted on purpose" in text
    cfg = config_io.load(path)
    assert cfg.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"] and cfg.training.epochs_max == 5
    # nothing but the patched values changed
    untouched = [line for line in BLOCK_STYLE.splitlines() if not line.strip().startswith(("r:", "- "))]
    assert all(line in text.splitlines() for line in untouched), text


def test_patched_floats_read_back_as_floats(tmp_path):
    """ruamel writes YAML 1.2 (1e-06); forge reads with PyYAML (1.1), which needs 1.0e-06 to see a float."""
    path = tmp_path / "forge.yaml"
    path.write_text(render_yaml("p"))
    cfg = config_io.patch_file(path, {"llm": {"batch_deadline_minutes": 1e-6}, "training": {"learning_rate": 2e-5}})
    assert "batch_deadline_minutes: 1.0e-06" in path.read_text()
    assert config_io.load(path).llm.batch_deadline_minutes == cfg.llm.batch_deadline_minutes == 1e-6
    assert config_io.load(path).training.learning_rate == 2e-5


def test_patch_adds_missing_keys_and_sections(tmp_path):
    path = tmp_path / "forge.yaml"
    path.write_text("name: p  # my project\ntraining:\n  seed: 7  # lucky\n")
    config_io.patch_file(path, {"training": {"batch_size": 8}, "eval": {"max_new_tokens": 32}})
    text = path.read_text()
    assert "seed: 7  # lucky" in text and "name: p  # my project" in text
    cfg = config_io.load(path)
    assert (cfg.training.seed, cfg.training.batch_size, cfg.eval.max_new_tokens) == (7, 8, 32)


def test_invalid_patch_leaves_file_untouched(tmp_path):
    path = tmp_path / "forge.yaml"
    path.write_text(render_yaml("p"))
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="training.learning_rate: must be > 0, got 0"):
        config_io.patch_file(path, {"training": {"learning_rate": 0}})
    assert path.read_bytes() == before


def test_config_reference_in_sync():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text()
    block = page.split("<!-- config-reference:start -->\n")[1].split("<!-- config-reference:end -->")[0]
    assert block == render_markdown(), "docs/config.md is stale: run `make docs`"


def test_renamed_sections_are_still_read_with_one_line_naming_the_new_key(tmp_path, capsys):
    """`promotion` (it configures forge push) became `hub`; `flywheel` (data generation) became `datagen`."""
    path = tmp_path / "forge.yaml"
    path.write_text(
        "promotion:\n  hf_repo: me/router\n  private: false\n"
        "flywheel:\n  augment_per_failure: 7\n  datagen_model: claude-haiku-5-5\n"
    )
    cfg = config_io.load(path)
    assert (cfg.hub.hf_repo, cfg.hub.private) == ("me/router", False)
    assert (cfg.datagen.augment_per_failure, cfg.datagen.model) == (7, "claude-haiku-5-5")
    err = capsys.readouterr().err
    for old, new in [
        ("promotion.hf_repo", "hub.hf_repo"),
        ("flywheel.datagen_model", "datagen.model"),
        ("flywheel.augment_per_failure", "datagen.augment_per_failure"),
    ]:
        assert f"forge.yaml: {old} is deprecated: use {new}\n" in err
