"""`forge model tiny`: a small random-init causal LM and byte-level BPE tokenizer, built offline.

The result is saved with save_pretrained and loads through exactly the same code path as any
hub model. Digits are split into single tokens so arithmetic-style tasks are learnable, and the
chat template wraps the assistant turn (its end-of-turn token included) in
`{% generation %}` markers so assistant-only loss trains the model to stop.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from forge.errors import ForgeError

ARCHES = ("qwen2", "llama", "gemma3")
SIZES = {  # hidden, layers, heads, kv heads, intermediate
    "nano": (64, 2, 2, 2, 128),
    "tiny": (128, 4, 4, 2, 256),
    "small": (256, 6, 8, 4, 512),
}
SPECIAL = ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] }}{{ '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# Always in the tokenizer's training text, so every printable ASCII character and the chat
# scaffolding have merges even when the corpus is small.
BASE_TEXT = "".join(chr(c) for c in range(32, 127)) + "\nsystem\nuser\nassistant\n"


def _corpus_texts(files: list[Path]) -> list[str]:
    texts = [BASE_TEXT]
    for f in files:
        if not Path(f).is_file():
            raise ForgeError(f"--corpus {f}: not found")
        raw = Path(f).read_text(encoding="utf-8")
        if str(f).endswith(".jsonl"):
            # Chat datasets: train the tokenizer on the message contents.
            for line in raw.splitlines():
                if line.strip():
                    obj = json.loads(line)
                    texts += [m.get("content", "") for m in obj.get("messages", [])] or [obj.get("text", "")]
        else:
            texts.append(raw)
    return texts


def build_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<|pad|>",
        eos_token="<|im_end|>",
        bos_token="<|endoftext|>",
        unk_token=None,
        padding_side="left",
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def model_config(arch: str, size: str, vocab_size: int, tokenizer, max_positions: int):
    hidden, layers, heads, kv, inter = SIZES[size]
    common = dict(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    if arch == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(**common)
    if arch == "qwen2":
        from transformers import Qwen2Config

        return Qwen2Config(**common)
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(
        **common, head_dim=hidden // heads, sliding_window=max_positions, query_pre_attn_scalar=hidden // heads
    )  # the scaling llama.cpp uses


def build_tiny(
    out_dir: Path,
    arch: str = "qwen2",
    size: str = "tiny",
    corpus: Iterable[Path] = (),
    vocab_size: int = 512,
    max_positions: int = 2048,
    seed: int = 0,
) -> dict:
    """Build and save the model and tokenizer; returns a summary."""
    if arch not in ARCHES:
        raise ForgeError(f"--arch {arch}: must be one of {', '.join(ARCHES)}")
    if size not in SIZES:
        raise ForgeError(f"--size {size}: must be one of {', '.join(SIZES)}")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ForgeError(f"{out_dir}: already exists and is not empty; refusing to overwrite")
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    tokenizer = build_tokenizer(_corpus_texts(list(corpus)), vocab_size)
    config = model_config(arch, size, len(tokenizer), tokenizer, max_positions)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        do_sample=False,
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    params = sum(p.numel() for p in model.parameters())
    return {"path": str(out_dir), "arch": arch, "size": size, "vocab": len(tokenizer), "parameters": params}
