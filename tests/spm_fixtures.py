"""A tiny Gemma 3 with a Gemma-style SentencePiece tokenizer (BPE, byte fallback, no space prefix,
<start_of_turn>/<end_of_turn>, eos distinct from the end-of-turn token), built offline."""

from __future__ import annotations

import json
from pathlib import Path

from forge.models.tiny import BASE_TEXT, model_config

from engine_fixtures import COMMANDS

TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<start_of_turn>model\\n' }}{% generation %}{{ message['content'] }}{{ '<end_of_turn>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}{{ '<start_of_turn>' + role + '\\n' + message['content'] + '<end_of_turn>\\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)


def build_spm_gemma(path: Path, vocab_size: int = 700) -> Path:
    import sentencepiece as spm
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    path.mkdir(parents=True)
    lines = [BASE_TEXT, "Route the request. Answer with JSON.", '{"cmd": "x"}']
    lines += [f"{p} in room {n}" for phrases in COMMANDS.values() for p in phrases for n in (1, 42, 907)]
    lines += [json.dumps({"cmd": c}) for c in COMMANDS]
    (path / "corpus.txt").write_text("\n".join(lines * 3))
    spm.SentencePieceTrainer.train(
        input=str(path / "corpus.txt"),
        model_prefix=str(path / "sp"),
        vocab_size=vocab_size,
        model_type="bpe",
        byte_fallback=True,
        add_dummy_prefix=False,
        split_digits=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        character_coverage=1.0,
        minloglevel=2,
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
        user_defined_symbols=["<start_of_turn>", "<end_of_turn>"],
    )
    (path / "corpus.txt").unlink()
    (path / "sp.model").rename(path / "tokenizer.model")
    (path / "sp.vocab").unlink()
    (path / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "GemmaTokenizer",
                "bos_token": "<bos>",
                "eos_token": "<eos>",
                "pad_token": "<pad>",
                "unk_token": "<unk>",
                "padding_side": "left",
                "chat_template": TEMPLATE,
            }
        )
    )
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    (path / "tokenizer.model").unlink()  # from here on, tokenizer.json is the tokenizer (as after save_pretrained)
    config = model_config("gemma3", "nano", len(tokenizer), tokenizer, 2048)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.eos_token_id, end_of_turn], pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
