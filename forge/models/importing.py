"""`forge model import SOURCE DIR`: a GGUF file, a local HF model directory or a hub id, as a
self-contained safetensors model directory forge can train.

A GGUF is dequantized by transformers' GGUF loader. That loader rebuilds byte-level BPE
tokenizers as plain ByteLevel, losing the model's real pre-tokenizer; the import puts back the
one the file names (`tokenizer.ggml.pre`), so training, eval and a later GGUF export tokenize as
the original does. A base without a chat template gets its family's (forge.models.family_templates).
DIR/forge_import.json records where the model came from: source, sha256, quantization, architecture, the GGUF
pre-tokenizer name and the chat template given, if any.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
from pathlib import Path

from forge.atomic import write_json_atomic
from forge.clock import now
from forge.errors import ForgeError, first_line
from forge.models.family_templates import give_template

IMPORT_FILE = "forge_import.json"
GGUF_MAGIC = b"GGUF"
# llama.cpp pre-tokenizer name -> the tokenizers pre_tokenizer with the same splits
_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
PRE_TOKENIZERS = {
    "gpt-2": _BYTE_LEVEL,
    # llama.cpp treats these alike: digits one by one, then the GPT-2 regex
    **{
        name: {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, _BYTE_LEVEL]}
        for name in ("smollm", "starcoder", "refact", "codeshell")
    },
}


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def read_import_record(model_dir: Path) -> dict:
    """DIR/forge_import.json of an imported model, or {} for any other directory."""
    path = Path(model_dir) / IMPORT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def hub_base_id(root: Path, base: str) -> str | None:
    """A base model's hub id, or None for a local one (including a GGUF imported from a file)."""
    local = Path(base) if Path(base).is_absolute() else root / base
    if local.exists():
        source = read_import_record(local).get("source", "")
        return source if HUB_ID.fullmatch(source) else None
    return base if HUB_ID.fullmatch(base) else None


def public_name(root: Path, base: str) -> str:
    """How to name a base model outside this machine: its hub id, else its directory's name."""
    return hub_base_id(root, base) or Path(base).name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def gguf_metadata(path: Path) -> dict:
    """architecture, pre-tokenizer and quantization of a GGUF file, or a one-line error."""
    with open(path, "rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise ForgeError(f"{path}: not a GGUF file (no GGUF magic at the start)")
    import gguf

    reader = gguf.GGUFReader(str(path))

    def field(key):
        f = reader.get_field(key)
        return f.contents() if f is not None else None

    file_type = field("general.file_type")
    try:
        quant = gguf.LlamaFileType(file_type).name.removeprefix("MOSTLY_") if file_type is not None else None
    except ValueError:
        quant = str(file_type)
    return {
        "architecture": field("general.architecture"),
        "gguf_pre": field("tokenizer.ggml.pre"),
        "quantization": quant,
        "name": field("general.name"),
        "license": field("general.license"),
    }


def _restore_pre_tokenizer(tmp: Path, pre: str | None) -> None:
    if pre is None or pre not in PRE_TOKENIZERS:
        if pre not in (None, "default"):
            raise ForgeError(
                f"tokenizer.ggml.pre {pre!r}: forge does not know its pre-tokenizer (known: "
                f"{', '.join(sorted(PRE_TOKENIZERS))}); importing it would tokenize differently"
            )
        return
    path = tmp / "tokenizer.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["pre_tokenizer"] = PRE_TOKENIZERS[pre]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _load_gguf(path: Path, meta: dict):
    import torch
    import transformers.modeling_gguf_pytorch_utils as gguf_loader
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # The loader's dequantization bar is a module-level tqdm (TQDM_DISABLE is read at tqdm's import).
    bar = gguf_loader.tqdm
    gguf_loader.tqdm = functools.partial(bar, disable=True)
    try:
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    except (ValueError, KeyError, NotImplementedError, RuntimeError) as exc:
        raise ForgeError(
            f"{path}: transformers cannot load this GGUF (architecture {meta['architecture']!r}, "
            f"{meta['quantization']}): {first_line(exc)}"
        ) from None
    finally:
        gguf_loader.tqdm = bar
    # A dequantized model is an ordinary one; without this save_pretrained refuses ("not serializable").
    # transformers' from_pretrained type lacks hf_quantizer, so mypy falls back to torch's Module.__setattr__ (Tensor |
    # Module values only); a plain attribute at run time
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model, tok


def _load_dir(source: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        return (
            AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32),
            AutoTokenizer.from_pretrained(source),
        )
    except OSError as exc:
        raise ForgeError(
            f"{source}: could not load ({first_line(exc)}); a hub id needs a reachable "
            "hub: pass a .gguf file or a local model directory"
        ) from None


def import_model(source: str, dest: Path, echo=print) -> dict:
    """Write DIR from SOURCE; returns the provenance record."""
    from forge.quiet_libraries import quiet_transformers

    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ForgeError(f"{dest}: exists and is not empty")
    quiet_transformers()
    src = Path(source).expanduser()
    record = {"source": str(src.resolve()) if src.exists() else source, "time": now()}
    if src.is_file():
        meta = gguf_metadata(src)
        echo(f"reading {src.name}: {meta['architecture']}, {meta['quantization']}, pre-tokenizer {meta['gguf_pre']}")
        model, tok = _load_gguf(src, meta)
        record.update(meta, sha256=_sha256(src), dequantized_from=meta["quantization"])
    elif src.is_dir():
        if (src / "adapter_config.json").is_file():
            raise ForgeError(f"{src}: is a LoRA adapter, not a model (merge it: `forge export --format merged`)")
        model, tok = _load_dir(str(src))
    elif source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise ForgeError(f"{source}: no such file or directory")
    else:
        model, tok = _load_dir(source)
    if family := give_template(model, tok):
        echo(
            f"{src.name if src.exists() else source} carries no chat template: given {family}'s, whose turn tokens "
            "its vocabulary holds (forge.models.family_templates)"
        )
        record["chat_template_given"] = family
    tmp = dest.parent / f".{dest.name}.importing"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    if src.is_file():
        _restore_pre_tokenizer(tmp, record.get("gguf_pre"))
    record["parameters"] = sum(p.numel() for p in model.parameters())
    write_json_atomic(tmp / IMPORT_FILE, record)
    if dest.exists():
        dest.rmdir()
    tmp.rename(dest)
    return record
