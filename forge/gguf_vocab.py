"""The tokenizer half of a GGUF file: vocabulary, merges, pre-tokenizer, special ids, chat template.

llama.cpp does not run the Hugging Face tokenizer; it re-implements a fixed set of
pre-tokenizers chosen by name (`tokenizer.ggml.pre`). A wrong name silently tokenizes some
inputs differently, so the name is chosen from the tokenizer's actual pre-tokenizer structure
and an unknown structure is refused rather than guessed.

Stop tokens are the other classic failure: a chat model learns to end its turn with the token
its template puts after the assistant's text (`<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`),
which is often not the tokenizer's eos. That token is found by rendering the template and is
written as the end-of-turn id, so llama.cpp and Ollama stop exactly where the model does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from forge.errors import ForgeError

QWEN2_REGEX = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
               "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
LLAMA3_REGEX = QWEN2_REGEX.replace("|\\p{N}|", "|\\p{N}{1,3}|")
# token types of llama.cpp's vocabulary
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5
SENTINEL = "\x1eFORGE_ANSWER\x1e"


@dataclass
class GGUFVocab:
    pre: str
    tokens: list[str]
    types: list[int]
    merges: list[str]
    bos_id: int | None
    eos_id: int | None
    eot_id: int | None
    pad_id: int | None
    add_bos: bool
    chat_template: str | None
    stop_strings: list[str] = field(default_factory=list)


def _describe(pre: dict | None) -> str:
    if pre is None:
        return "none"
    if pre.get("type") == "Sequence":
        return "Sequence[" + ", ".join(_describe(p) for p in pre["pretokenizers"]) + "]"
    return pre.get("type", "?")


def pre_tokenizer_name(tok_json: dict) -> str:
    """The llama.cpp pre-tokenizer equivalent to this tokenizer.json, or a ForgeError."""
    model = tok_json.get("model") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        raise ForgeError("tokenizer.json: only byte-level BPE tokenizers (Qwen, Llama 3, SmolLM, GPT-2 style) can be "
                         "written to GGUF by forge; for SentencePiece-style tokenizers (Gemma, Llama 2, Mistral) run "
                         "llama.cpp's convert_hf_to_gguf.py on `forge export --format merged`")
    if (tok_json.get("normalizer") or {}).get("type") not in (None, "NFC"):
        raise ForgeError(f"tokenizer.json: normalizer {tok_json['normalizer'].get('type')} has no llama.cpp equivalent")
    pre = tok_json.get("pre_tokenizer")
    parts = pre["pretokenizers"] if pre and pre.get("type") == "Sequence" else [pre] if pre else []
    kinds = [p.get("type") for p in parts]
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True) and not parts[0].get("add_prefix_space"):
        return "gpt-2"
    if (kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits")
            and parts[1].get("use_regex", True) and not parts[1].get("add_prefix_space")):
        return "starcoder"  # digits split one by one, then the GPT-2 regex (SmolLM, StarCoder)
    if kinds == ["Split", "ByteLevel"] and not parts[1].get("use_regex", True):
        regex = (parts[0].get("pattern") or {}).get("Regex")
        if regex == QWEN2_REGEX:
            return "qwen2"
        if regex == LLAMA3_REGEX:
            return "llama-bpe"
    raise ForgeError(f"tokenizer.json: pre-tokenizer {_describe(pre)} has no llama.cpp equivalent forge knows "
                     "(gpt-2, starcoder, qwen2, llama-bpe); refusing to write a GGUF that would tokenize differently")


def strip_generation_markers(template: str) -> str:
    """`{% generation %}` is a transformers extension for assistant masks; llama.cpp's Jinja rejects it."""
    return re.sub(r"\{%-?\s*(end)?generation\s*-?%\}", "", template)


def end_of_turn_token(tokenizer) -> str | None:
    """The special token the chat template puts right after the assistant's text."""
    if not tokenizer.chat_template:
        return None
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": SENTINEL}]
    text = tokenizer.apply_chat_template(msgs, tokenize=False)
    tail = text.split(SENTINEL, 1)[1] if SENTINEL in text else ""
    specials = sorted(tokenizer.all_special_tokens + [t.content for t in tokenizer.added_tokens_decoder.values()],
                      key=len, reverse=True)
    tail = tail.lstrip(" ")
    return next((s for s in specials if s and tail.startswith(s)), None)


def build_vocab(tokenizer, n_vocab: int) -> GGUFVocab:
    """Everything llama.cpp needs to tokenize, detokenize and stop like `tokenizer`."""
    tok_json = json.loads(tokenizer.backend_tokenizer.to_str())
    pre = pre_tokenizer_name(tok_json)
    by_id = {i: t for t, i in tok_json["model"]["vocab"].items()}
    added = {t["id"]: t for t in tok_json.get("added_tokens", [])}
    if max([*by_id, *added]) >= n_vocab:
        raise ForgeError(f"tokenizer has ids up to {max([*by_id, *added])} but the model's embedding has {n_vocab} rows")
    tokens, types = [], []
    for i in range(n_vocab):
        if i in added:
            tokens.append(added[i]["content"])
            types.append(CONTROL if added[i].get("special") else USER_DEFINED)
        elif i in by_id:
            tokens.append(by_id[i])
            types.append(NORMAL)
        else:  # embedding rows padded past the tokenizer (Qwen pads to a multiple of 64)
            tokens.append(f"[PAD{i}]")
            types.append(UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok_json["model"].get("merges", [])]
    probe_ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    bos = tokenizer.bos_token_id
    eot = end_of_turn_token(tokenizer)
    eot_id = tokenizer.convert_tokens_to_ids(eot) if eot else None
    template = strip_generation_markers(tokenizer.chat_template) if tokenizer.chat_template else None
    stops = [s for s in dict.fromkeys([eot, tokenizer.eos_token]) if s]
    return GGUFVocab(pre=pre, tokens=tokens, types=types, merges=merges, bos_id=bos,
                     eos_id=tokenizer.eos_token_id if tokenizer.eos_token_id is not None else eot_id,
                     eot_id=eot_id, pad_id=tokenizer.pad_token_id,
                     add_bos=bool(probe_ids) and bos is not None and probe_ids[0] == bos,
                     chat_template=template, stop_strings=stops)


def write_vocab(writer, vocab: GGUFVocab) -> None:
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    for add, value in ((writer.add_bos_token_id, vocab.bos_id), (writer.add_eos_token_id, vocab.eos_id),
                       (writer.add_eot_token_id, vocab.eot_id), (writer.add_pad_token_id, vocab.pad_id)):
        if value is not None:
            add(value)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(False)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)
