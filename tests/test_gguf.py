"""GGUF export: trained tiny models of each architecture run in llama.cpp (llama-cpp-python) and give
the transformers model's greedy answers on the gold prompts; metadata, Modelfile and refusals."""

from __future__ import annotations

import json

import gguf
import pytest

from forge.errors import ForgeError
from forge.evaluation.promotion import promote
from forge.evaluation.runner import run_eval
from forge.export.gguf.convert import write_gguf
from forge.export.gguf.verify import verify_gguf
from forge.export.gguf.vocab import LLAMA3_REGEX, QWEN2_REGEX, build_vocab, pre_tokenizer_name
from forge.export.modelfile import ollama_template
from forge.export.ship import gold_prompts
from forge.models.loading import load_causal_lm, load_for_inference, load_tokenizer
from forge.models.tiny import build_tiny
from forge.project.project import Project
from forge.training.sft import train

from conftest import assert_gguf_verified
from engine_fixtures import make_project

QUIET = {"echo": lambda *_: None}


def _field(reader: gguf.GGUFReader, key: str):
    return reader.fields[key].contents()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One trained project per architecture (full fine-tune, 12 epochs: confident greedy answers)."""
    root = tmp_path_factory.mktemp("gguf")
    projects = {}
    for arch in ("qwen2", "llama", "gemma3"):
        build_tiny(root / f"model-{arch}", arch=arch, size="nano")
        project = Project.open(make_project(root / arch, root / f"model-{arch}"))
        train(project, **QUIET)
        projects[arch] = project
    return projects


def test_a_failed_verify_is_raised_by_the_export_and_shown_after_the_results(trained, cli, monkeypatch, tmp_path):
    """A Python caller of export_gguf sees a failed verify as GgufVerifyFailed (with everything measured); the CLI
    prints the results first, then the failure in one line. The real comparison runs; its verdict is overturned
    here, as a GGUF that loses gold answers would have it."""
    from forge.export import ship
    from forge.export.gguf import verify as verify_module

    real = verify_module.verify_gguf

    def losing(*args, **kwargs):
        v = real(*args, **kwargs)
        return {
            **v,
            "passed": False,
            "lost": 2,
            "lost_allowed": 0,
            "gguf_correct": v["transformers_correct"] - 2,
            "mismatches": [
                {"transformers": '{"cmd": "weather"}', "llama_cpp": '{"cmd": "play_music"}', "why": "different answer"}
            ],
        }

    monkeypatch.setattr(verify_module, "verify_gguf", losing)
    project = trained["llama"]
    with pytest.raises(ship.GgufVerifyFailed, match="the GGUF gets 2 gold answers wrong") as caught:
        ship.export_gguf(project, tmp_path / "out", "f32", project.output / "adapter", verify=True)
    assert caught.value.info["path"].is_file() and not caught.value.info["verify"]["passed"]
    assert (tmp_path / "out" / "verify.json").is_file()
    result = cli(
        "export",
        "--format",
        "gguf",
        "--quant",
        "f32",
        "--verify",
        "--adapter",
        project.output / "adapter",
        "--out",
        tmp_path / "cli",
        "-p",
        project.root,
    )
    assert result.exit_code == 1 and "verify_lost: 2 right in transformers" in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: the GGUF gets 2 gold answers wrong")


@pytest.mark.parametrize("arch", ["qwen2", "llama", "gemma3"])
def test_gguf_gives_the_transformers_answers_in_llama_cpp(trained, cli, arch):
    project = trained[arch]
    result = cli(
        "export",
        "--format",
        "gguf",
        "--quant",
        "f32",
        "--verify",
        "--adapter",
        project.output / "adapter",
        "-p",
        project.root,
    )
    assert result.exit_code == 0, result.output
    assert "verify_tokens_match: 16/16" in result.output
    out = project.output / "export_gguf_f32"
    verify = assert_gguf_verified(out / "verify.json", 16)
    assert verify["max_logit_diff"] < 1e-2

    reader = gguf.GGUFReader(out / f"{arch}-f32.gguf")
    tok = load_tokenizer(str(project.root / "../" / f"model-{arch}"))
    assert _field(reader, "general.architecture") == arch
    # transformers loads qwen2 checkpoints with Qwen2's own split regex; the others keep the tiny
    # tokenizer's digits-then-GPT-2 pre-tokenizer (llama.cpp's "starcoder")
    assert _field(reader, "tokenizer.ggml.pre") == {"qwen2": "qwen2"}.get(arch, "starcoder")
    assert _field(reader, "tokenizer.ggml.eot_token_id") == tok.convert_tokens_to_ids("<|im_end|>")
    assert _field(reader, "tokenizer.ggml.add_bos_token") is False
    template = _field(reader, "tokenizer.chat_template")
    assert "{% generation %}" not in template and "endgeneration" not in template and "<|im_start|>" in template
    assert len(_field(reader, "tokenizer.ggml.tokens")) == len(tok)
    modelfile = (out / "Modelfile").read_text()
    assert f"FROM ./{arch}-f32.gguf" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert 'SYSTEM """Route the request. Answer with JSON.\n"""' in modelfile


def test_quantized_exports_and_the_promoted_default(trained, cli):
    project = trained["qwen2"]
    assert "nothing promoted yet" in cli("export", "--format", "gguf", "-p", project.root).output
    run_eval(project)
    promote(project)
    for quant, qtype in (("f16", gguf.GGMLQuantizationType.F16), ("q8_0", gguf.GGMLQuantizationType.Q8_0)):
        result = cli("export", "--format", "gguf", "--quant", quant, "--verify", "-p", project.root)
        assert result.exit_code == 0, result.output
        assert_gguf_verified(project.output / f"export_gguf_{quant}" / "verify.json", 16)
        reader = gguf.GGUFReader(project.output / f"export_gguf_{quant}" / f"qwen2-{quant}.gguf")
        types = {t.name: t.tensor_type for t in reader.tensors}
        assert types["blk.0.attn_q.weight"] == qtype
        assert types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32
        assert "output.weight" not in types  # tied embeddings: llama.cpp reuses token_embd
    again = cli("export", "--format", "gguf", "--quant", "f16", "-p", project.root)
    assert again.exit_code == 1 and "refusing to overwrite" in again.output
    assert "--verify applies to --format gguf" in cli("export", "--verify", "-p", project.root).output


def _random_model(tmp_path, arch, size, **config):
    path = tmp_path / arch
    build_tiny(path, arch=arch, size=size)
    cfg = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**cfg, **config}))
    return load_causal_lm(str(path), "cpu"), load_tokenizer(str(path))


def _logit_diff(tmp_path, model, tok, project_root) -> dict:
    vocab = build_vocab(tok, model.get_input_embeddings().weight.shape[0])
    write_gguf(model, vocab, tmp_path / "m.gguf", "f32", "m")
    prompts = gold_prompts(Project.open(project_root), tok)[:4]
    return verify_gguf(tmp_path / "m.gguf", model, tok, prompts, max_new_tokens=1)


def _with_margin(model, ids: list[int], a: int, b: int, margin: float):
    """A copy of `model` whose next token after `ids` is `a`, ahead of every other token by 1 and of `b` by
    `margin` (negative: `b` wins by that much): rank-one changes of the two output rows."""
    import copy

    import torch

    m = copy.deepcopy(model)
    with torch.no_grad():
        h = m.model(torch.tensor([ids])).last_hidden_state[0, -1]
        logits = m.lm_head(h)
        top = float(logits.max())
        m.lm_head.weight[a] += (top + 1.0 - logits[a]) * h / h.dot(h)
        m.lm_head.weight[b] += (top + 1.0 - margin - logits[b]) * h / h.dot(h)
    return m


@pytest.mark.parametrize("margin, near_tie", [(0.02, True), (0.5, False)])
def test_a_flip_within_the_near_tie_margin_is_reported_not_failed(tmp_path, nano_model, margin, near_tie):
    """The file's logits put `b` 0.02 ahead of `a`; the transformers model puts `a` ahead by `margin`. Below
    the f32 threshold (0.1) that is a near-tie llama.cpp may break either way; above it, a wrong answer."""
    model, tok = _random_model(tmp_path, "llama", "tiny", tie_word_embeddings=False)
    prompt = gold_prompts(Project.open(make_project(tmp_path / "p", nano_model)), tok)[0]
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    a, b = (tok.convert_tokens_to_ids(t) for t in ("x", "y"))
    write_gguf(_with_margin(model, ids, a, b, -0.02), build_vocab(tok, len(tok)), tmp_path / "m.gguf", "f32", "m")
    result = verify_gguf(
        tmp_path / "m.gguf", _with_margin(model, ids, a, b, margin), tok, [prompt], max_new_tokens=1, near_tie=0.1
    )
    assert result["tokens_match"] == 1 and result["greedy_match"] == 0
    seen = (result["near_tie_examples"] if near_tie else result["mismatches"])[0]
    assert (seen["transformers"], seen["llama_cpp"]) == ("x", "y")
    assert seen["step"] == 0 and seen["margin"] == pytest.approx(margin, abs=1e-3)
    assert result["near_ties"] == int(near_tie) and result["passed"] is near_tie
    assert ("below" if near_tie else "above") + " the near-tie threshold 0.1" in seen["why"]


def test_llama3_rope_scaling_is_written_as_rope_freqs(tmp_path, nano_model):
    rope = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
        "rope_theta": 500000.0,
    }
    model, tok = _random_model(tmp_path, "llama", "tiny", rope_parameters=rope)
    result = _logit_diff(tmp_path, model, tok, make_project(tmp_path / "p", nano_model))
    # without the rope_freqs tensor the difference is about 7e-3 on this model
    assert result["tokens_match"] == 4 and result["max_logit_diff"] < 1e-3
    assert "rope_freqs.weight" in {t.name for t in gguf.GGUFReader(tmp_path / "m.gguf").tensors}


def test_gemma3_sliding_window_matches(tmp_path, nano_model):
    model, tok = _random_model(tmp_path, "gemma3", "small", sliding_window=8)
    result = _logit_diff(tmp_path, model, tok, make_project(tmp_path / "p", nano_model))
    # a window off by one changes these logits by more than 0.1
    assert result["tokens_match"] == 4 and result["max_logit_diff"] < 5e-3
    reader = gguf.GGUFReader(tmp_path / "m.gguf")
    assert _field(reader, "gemma3.attention.sliding_window") == 8
    assert _field(reader, "gemma3.attention.sliding_window_pattern") == [True] * 5 + [False]


def test_gemma3_query_scaling_llama_cpp_cannot_express_is_refused(tmp_path):
    model, tok = _random_model(tmp_path, "gemma3", "nano", query_pre_attn_scalar=256)
    with pytest.raises(ForgeError, match="query_pre_attn_scalar 256 differs from the 32 llama.cpp uses"):
        write_gguf(model, build_vocab(tok, len(tok)), tmp_path / "m.gguf", "f16", "m")
    assert not (tmp_path / "m.gguf").exists()


def _tok_json(pre, model_type="BPE", **model):
    return {"normalizer": None, "pre_tokenizer": pre, "model": {"type": model_type, **model}}


def _split(regex):
    return {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        ],
    }


def test_pre_tokenizer_names():
    assert pre_tokenizer_name(_tok_json(_split(QWEN2_REGEX))) == "qwen2"
    assert pre_tokenizer_name(_tok_json(_split(LLAMA3_REGEX))) == "llama-bpe"
    assert pre_tokenizer_name(_tok_json({"type": "ByteLevel", "add_prefix_space": False, "use_regex": True})) == "gpt-2"
    with pytest.raises(ForgeError, match="pre-tokenizer Sequence\\[Split, ByteLevel\\] has no llama.cpp equivalent"):
        pre_tokenizer_name(_tok_json(_split("\\p{L}+|\\s+")))
    with pytest.raises(ForgeError, match="a Unigram tokenizer"):
        pre_tokenizer_name(_tok_json({"type": "Metaspace"}, model_type="Unigram"))


def test_ollama_template_renders_like_the_chat_template(nano_model):
    tok = load_tokenizer(str(nano_model))
    tok.chat_template = (
        "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}: {{ m['content'] }}"
        "<|im_end|>{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant: {% endif %}"
    )
    template = ollama_template(tok, strip_bos=True)
    assert not template.startswith(tok.bos_token)  # llama.cpp adds BOS itself when add_bos_token is set
    with_system, rest = template.removeprefix("{{ if .System }}").split("{{ else }}")
    without, response = rest.split("{{ end }}")
    messages = [{"role": "system", "content": "S {{x}}"}, {"role": "user", "content": "U"}]
    expected = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    rendered = with_system.replace("{{ .System }}", "S {{x}}").replace("{{ .Prompt }}", "U")
    assert tok.bos_token + rendered == expected
    assert without == "<|im_start|>user: {{ .Prompt }}<|im_end|><|im_start|>assistant: "
    assert response == "{{ .Response }}<|im_end|>"
    tok.chat_template = "{{ '{{' }}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    assert ollama_template(tok, strip_bos=False).startswith('{{ if .System }}{{ "{{" }}')


TRICKY = [
    "  two leading spaces",
    "tabs\tand\nnew\n\nlines\r\n",
    "unicode é ü 漢字 🙂 done",
    "numbers 12345 3.14 -7",
    "it's we'LL they'd",
    'json {"cmd": "add", "args": [12, 7]}',
    "trailing spaces   ",
    "<|im_end|> in text",
    "<end_of_turn>mid<start_of_turn>",
    "a" * 40,
    "",
]


@pytest.fixture(scope="module")
def spm_gemma(tmp_path_factory):
    from spm_fixtures import build_spm_gemma

    return build_spm_gemma(tmp_path_factory.mktemp("spm") / "gemma")


@pytest.mark.parametrize("kind", ["qwen2", "llama", "spm"])
def test_tricky_text_tokenizes_identically(tmp_path, kind, spm_gemma):
    from llama_cpp import Llama

    if kind == "spm":
        path = spm_gemma
    else:
        build_tiny(path := tmp_path / kind, arch=kind, size="nano", corpus=[])
    model, tok = load_causal_lm(str(path), "cpu"), load_tokenizer(str(path))
    vocab = build_vocab(tok, model.get_input_embeddings().weight.shape[0])
    assert (vocab.model, vocab.pre) == {
        "qwen2": ("gpt2", "qwen2"),
        "llama": ("gpt2", "starcoder"),
        "spm": ("llama", "default"),
    }[kind]
    write_gguf(model, vocab, tmp_path / "m.gguf", "f16", "m")
    llm = Llama(model_path=str(tmp_path / "m.gguf"), vocab_only=True, verbose=False)
    try:
        for text in TRICKY:
            ids = llm.tokenize(text.encode(), add_bos=False, special=True)
            assert ids == tok(text, add_special_tokens=False)["input_ids"], text
            assert llm.detokenize(ids, special=True).decode() == tok.decode(ids), text
    finally:
        llm.close()


def test_ollama_template_of_a_template_that_trims_the_text(spm_gemma):
    """Gemma 3's template trims each message (`| trim`): the markers the Go template is read from survive it."""
    from forge.models.family_templates import GEMMA

    tok = load_tokenizer(str(spm_gemma))
    tok.chat_template = GEMMA
    template = ollama_template(tok, strip_bos=True)
    assert template.startswith("{{ if .System }}<start_of_turn>user\n{{ .System }}\n\n{{ .Prompt }}<end_of_turn>\n")
    assert template.endswith("<start_of_turn>model\n{{ end }}{{ .Response }}<end_of_turn>\n")


def test_sentencepiece_gemma_gives_the_transformers_answers(tmp_path, spm_gemma, cli):
    project = Project.open(make_project(tmp_path / "p", spm_gemma))
    train(project, **QUIET)
    result = cli(
        "export",
        "--format",
        "gguf",
        "--quant",
        "f32",
        "--verify",
        "--adapter",
        project.output / "adapter",
        "-p",
        project.root,
    )
    assert result.exit_code == 0, result.output
    assert "stop: <end_of_turn>, <eos>" in result.output
    assert_gguf_verified(project.output / "export_gguf_f32" / "verify.json", 16)
    reader = gguf.GGUFReader(project.output / "export_gguf_f32" / "p-f32.gguf")
    tok = load_tokenizer(str(spm_gemma))
    assert _field(reader, "tokenizer.ggml.model") == "llama"
    assert _field(reader, "tokenizer.ggml.add_space_prefix") is False
    assert _field(reader, "tokenizer.ggml.eot_token_id") == tok.convert_tokens_to_ids("<end_of_turn>")
    assert _field(reader, "tokenizer.ggml.eos_token_id") == tok.convert_tokens_to_ids("<eos>")
    types = _field(reader, "tokenizer.ggml.token_type")
    assert types[tok.convert_tokens_to_ids("<0x0A>")] == 6 and types[tok.convert_tokens_to_ids("<end_of_turn>")] == 3


def test_a_gguf_llama_cpp_cannot_load_is_a_one_line_error(trained, cli, tmp_path):
    project = trained["llama"]
    result = cli(
        "export",
        "--format",
        "gguf",
        "--out",
        tmp_path / "g",
        "--adapter",
        project.output / "adapter",
        "-p",
        project.root,
    )
    assert result.exit_code == 0, result.output
    model = tmp_path / "g" / "llama-f16.gguf"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])  # truncated download
    merged, tok, _ = load_for_inference(project.output / "adapter", project.root, "cpu")
    with pytest.raises(ForgeError, match=r"llama-f16.gguf: llama.cpp could not run it: .*"):
        verify_gguf(model, merged, tok, gold_prompts(project, tok)[:2], max_new_tokens=4)


@pytest.mark.parametrize("quant", ["q4_k_m", "q6_k"])
def test_k_quants_from_llama_cpps_quantizer_pass_verify(trained, cli, quant):
    project = trained["llama"]
    result = cli(
        "export",
        "--format",
        "gguf",
        "--quant",
        quant,
        "--verify",
        "--json",
        "--adapter",
        project.output / "adapter",
        "-p",
        project.root,
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["quant"] == quant and info["verify_tokens_match"] == info["verify_prompts"] == 16
    assert info["verify_agreement"] >= 0.9
    out = project.output / f"export_gguf_{quant}"
    verify = json.loads((out / "verify.json").read_text())
    assert verify["required"] == 0.9 and verify["passed"]
    reader = gguf.GGUFReader(out / f"llama-{quant}.gguf")
    assert gguf.LlamaFileType(_field(reader, "general.file_type")).name == f"MOSTLY_{quant.upper()}"
    assert _field(reader, "general.quantization_version") == gguf.GGML_QUANT_VERSION
    assert _field(reader, "general.name") == "llama" and _field(reader, "general.base_model.count") == 1
    assert not list(out.glob(".*"))  # the intermediate f16 file is gone
    f16 = out.parent / "export_gguf_f16"
    assert not f16.exists() or not list(f16.glob(".*"))


def test_tensors_are_converted_and_written_one_at_a_time(tmp_path, monkeypatch):
    """Peak memory stays near one tensor beyond the model: each converted tensor is gone before the next."""
    import gc
    import weakref

    import forge.export.gguf.convert as gguf_export

    model, tok = _random_model(tmp_path, "llama", "nano")
    live, original = [], gguf_export._encode

    def tracking(data, quant):
        gc.collect()
        assert all(ref() is None for ref in live), "an earlier tensor is still held"
        out = original(data, quant)
        live.append(weakref.ref(out))
        return out

    monkeypatch.setattr(gguf_export, "_encode", tracking)
    info = write_gguf(model, build_vocab(tok, len(tok)), tmp_path / "m.gguf", "q8_0", "m")
    assert len(live) == info["tensors"] > 10
    reader = gguf.GGUFReader(tmp_path / "m.gguf")
    assert len(reader.tensors) == info["tensors"]
