"""The tokenizer half of a GGUF file: vocabulary, merges or scores, special ids, chat template.

llama.cpp does not run the Hugging Face tokenizer; it re-implements it, and a mismatch
silently tokenizes some inputs differently. Two families are written, each only when the
tokenizer's structure is one llama.cpp reproduces (anything else is refused, not guessed):
- byte-level BPE (Qwen, Llama 3, SmolLM, GPT-2): merges plus a pre-tokenizer chosen by name
  (`tokenizer.ggml.pre`) from the tokenizer's actual pre-tokenizer;
- SentencePiece-style BPE with byte fallback (Gemma, Llama 2, Mistral): llama.cpp's "llama"
  vocabulary, where the best-scored piece is merged first, so each piece's score is minus the
  rank of the merge that makes it; "<0xNN>" pieces are byte tokens.

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

QWEN2_REGEX = (
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
)
LLAMA3_REGEX = QWEN2_REGEX.replace("|\\p{N}|", "|\\p{N}{1,3}|")
# token types of llama.cpp's vocabulary
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
SENTINEL = "\x1eFORGE_ANSWER\x1e"


@dataclass
class GGUFVocab:
    model: str  # "gpt2" (byte-level BPE) or "llama" (SentencePiece-style, scored pieces)
    pre: str
    tokens: list[str]
    types: list[int]
    merges: list[str]  # gpt2 only
    scores: list[float]  # llama only
    add_space_prefix: bool  # llama only
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


def _require_bpe(tok_json: dict) -> None:
    if (tok_json.get("model") or {}).get("type") != "BPE":
        raise ForgeError(
            f"tokenizer.json: a {tok_json['model'].get('type')} tokenizer; forge writes byte-level BPE "
            "and SentencePiece-style BPE tokenizers to GGUF; run llama.cpp's convert_hf_to_gguf.py on "
            "`forge export --format merged` for others"
        )


def pre_tokenizer_name(tok_json: dict) -> str:
    """The llama.cpp pre-tokenizer equivalent to this byte-level BPE tokenizer.json, or a ForgeError."""
    _require_bpe(tok_json)
    if (tok_json.get("normalizer") or {}).get("type") not in (None, "NFC"):
        raise ForgeError(f"tokenizer.json: normalizer {tok_json['normalizer'].get('type')} has no llama.cpp equivalent")
    pre = tok_json.get("pre_tokenizer")
    parts = pre["pretokenizers"] if pre and pre.get("type") == "Sequence" else [pre] if pre else []
    kinds = [p.get("type") for p in parts]
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True) and not parts[0].get("add_prefix_space"):
        return "gpt-2"
    if (
        kinds == ["Digits", "ByteLevel"]
        and parts[0].get("individual_digits")
        and parts[1].get("use_regex", True)
        and not parts[1].get("add_prefix_space")
    ):
        return "starcoder"  # digits split one by one, then the GPT-2 regex (SmolLM, StarCoder)
    if kinds == ["Split", "ByteLevel"] and not parts[1].get("use_regex", True):
        regex = (parts[0].get("pattern") or {}).get("Regex")
        if regex == QWEN2_REGEX:
            return "qwen2"
        if regex == LLAMA3_REGEX:
            return "llama-bpe"
    raise ForgeError(
        f"tokenizer.json: pre-tokenizer {_describe(pre)} has no llama.cpp equivalent forge knows "
        "(gpt-2, starcoder, qwen2, llama-bpe); refusing to write a GGUF that would tokenize differently"
    )


def space_prefix(tok_json: dict) -> bool:
    """For SentencePiece-style tokenizers: whether a "▁" is put before the text (Llama 2) or not (Gemma)."""
    norm, pre = tok_json.get("normalizer") or {}, tok_json.get("pre_tokenizer") or {}
    steps = norm.get("normalizers", [norm]) if norm else []
    kinds = [
        (n.get("type"), (n.get("pattern") or {}).get("String"), n.get("content") or n.get("prepend")) for n in steps
    ]
    if (
        kinds
        and kinds[-1] == ("Replace", " ", "▁")
        and kinds[:-1] in ([], [("Prepend", None, "▁")])
        and (not pre or (pre.get("type") == "Split" and (pre.get("pattern") or {}).get("String") == " "))
    ):
        return bool(kinds[:-1])
    if not norm and pre.get("type") == "Metaspace" and pre.get("replacement") == "▁" and not pre.get("split", True):
        return pre.get("prepend_scheme", "always") != "never"
    raise ForgeError(
        "tokenizer.json: a SentencePiece-style tokenizer whose whitespace handling has no llama.cpp "
        "equivalent forge knows; refusing to write a GGUF that would tokenize differently"
    )


def _spm_scores(tok_json: dict, n: int) -> list[float]:
    """Piece scores ranking merges as the BPE merge list does (llama.cpp merges the best-scored piece first)."""
    scores = [0.0] * n
    vocab = tok_json["model"]["vocab"]
    for rank, merge in reversed(list(enumerate(tok_json["model"].get("merges", [])))):
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        if (i := vocab.get(left + right)) is not None and i < n:
            scores[i] = -float(rank)
    return scores


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
    specials = sorted(
        tokenizer.all_special_tokens + [t.content for t in tokenizer.added_tokens_decoder.values()],
        key=len,
        reverse=True,
    )
    tail = tail.lstrip(" ")
    return next((s for s in specials if s and tail.startswith(s)), None)


def build_vocab(tokenizer, n_vocab: int, pre_hint: str | None = None) -> GGUFVocab:
    """Everything llama.cpp needs to tokenize, detokenize and stop like `tokenizer`. `pre_hint`: the
    pre-tokenizer name of the GGUF the base was imported from, kept when it splits text the same way."""
    tok_json = json.loads(tokenizer.backend_tokenizer.to_str())
    _require_bpe(tok_json)
    spm = bool(tok_json["model"].get("byte_fallback"))  # Gemma, Llama 2, Mistral
    pre = "default" if spm else pre_tokenizer_name(tok_json)
    if pre_hint and not spm and pre_hint != pre:
        from forge.models.importing import PRE_TOKENIZERS

        if (
            pre_hint in PRE_TOKENIZERS
            and pre_tokenizer_name({"model": {"type": "BPE"}, "pre_tokenizer": PRE_TOKENIZERS[pre_hint]}) == pre
        ):
            pre = pre_hint
    by_id = {i: t for t, i in tok_json["model"]["vocab"].items()}
    added = {t["id"]: t for t in tok_json.get("added_tokens", [])}
    if max([*by_id, *added]) >= n_vocab:
        raise ForgeError(
            f"tokenizer has ids up to {max([*by_id, *added])} but the model's embedding has {n_vocab} rows"
        )
    tokens, types = [], []
    for i in range(n_vocab):
        if i in added:
            content = added[i]["content"]
            tokens.append(content)
            looks_special = spm and content.startswith("<") and content.endswith(">")
            types.append(CONTROL if added[i].get("special") or looks_special else USER_DEFINED)
        elif i in by_id:
            tokens.append(by_id[i])
            byte = spm and re.fullmatch(r"<0x[0-9A-Fa-f]{2}>", by_id[i])
            types.append(BYTE if byte else UNKNOWN if by_id[i] == tok_json["model"].get("unk_token") else NORMAL)
        else:  # embedding rows padded past the tokenizer (Qwen pads to a multiple of 64)
            tokens.append(f"[PAD{i}]")
            types.append(UNUSED)
    merges = [] if spm else [m if isinstance(m, str) else " ".join(m) for m in tok_json["model"].get("merges", [])]
    scores = (
        [
            -1000.0 if t in (CONTROL, USER_DEFINED, UNUSED) else s
            for t, s in zip(types, _spm_scores(tok_json, n_vocab), strict=True)
        ]
        if spm
        else []
    )
    probe_ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    bos = tokenizer.bos_token_id
    eot = end_of_turn_token(tokenizer)
    eot_id = tokenizer.convert_tokens_to_ids(eot) if eot else None
    template = strip_generation_markers(tokenizer.chat_template) if tokenizer.chat_template else None
    stops = [s for s in dict.fromkeys([eot, tokenizer.eos_token]) if s]
    return GGUFVocab(
        model="llama" if spm else "gpt2",
        pre=pre,
        tokens=tokens,
        types=types,
        merges=merges,
        scores=scores,
        add_space_prefix=spm and space_prefix(tok_json),
        bos_id=bos,
        eos_id=tokenizer.eos_token_id if tokenizer.eos_token_id is not None else eot_id,
        eot_id=eot_id,
        pad_id=tokenizer.pad_token_id,
        add_bos=bool(probe_ids) and bos is not None and probe_ids[0] == bos,
        chat_template=template,
        stop_strings=stops,
    )


def write_vocab(writer, vocab: GGUFVocab) -> None:
    writer.add_tokenizer_model(vocab.model)
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    if vocab.model == "llama":
        writer.add_token_scores(vocab.scores)
        writer.add_add_space_prefix(vocab.add_space_prefix)
    else:
        writer.add_token_merges(vocab.merges)
    for add, value in (
        (writer.add_bos_token_id, vocab.bos_id),
        (writer.add_eos_token_id, vocab.eos_id),
        (writer.add_eot_token_id, vocab.eot_id),
        (writer.add_pad_token_id, vocab.pad_id),
    ):
        if value is not None:
            add(value)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(False)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)
