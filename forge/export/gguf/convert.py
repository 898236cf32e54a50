"""`forge export --format gguf`: a merged model written as one GGUF file for llama.cpp and Ollama.

Weights, hyper-parameters and tokenizer are written with the `gguf` package (llama.cpp's own
writer). The per-architecture differences between Hugging Face and llama.cpp are handled here,
following llama.cpp's convert_hf_to_gguf.py:
- llama: Q/K rows are permuted (HF rotates halves, llama.cpp rotates pairs); Llama 3.1-style
  RoPE scaling becomes a `rope_freqs` tensor.
- qwen2: taken as is (NEOX RoPE, q/k/v biases).
- gemma3: RMSNorm weights are stored as (1 + w); the sliding-window layers and their RoPE base
  are written explicitly; a query scaling llama.cpp cannot express is refused.
Anything this file does not know how to translate is refused, never approximated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from forge.atomic import disk_full
from forge.errors import ForgeError

QUANTS = ("f32", "f16", "bf16", "q8_0")
ARCHES = {"llama": "LLAMA", "qwen2": "QWEN2", "gemma3_text": "GEMMA3", "gemma3": "GEMMA3"}


def _rope(cfg, layer_type: str = "full_attention") -> dict:
    params = getattr(cfg, "rope_parameters", None) or {}
    if layer_type in params:  # gemma3 keeps one set per attention kind
        params = params[layer_type]
    scaling = getattr(cfg, "rope_scaling", None) or {}
    return {"rope_theta": getattr(cfg, "rope_theta", 10000.0), **scaling, **params}


def llama3_rope_factors(rope: dict, head_dim: int):
    """Per-frequency factors of Llama 3.1 RoPE scaling, as llama.cpp's `rope_freqs` tensor."""
    import numpy as np

    base, factor = rope["rope_theta"], rope.get("factor", 8.0)
    low, high = rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    old_ctx = rope.get("original_max_position_embeddings", 8192)
    out = []
    for i in range(0, head_dim, 2):
        wavelen = 2 * math.pi * base ** (i / head_dim)
        if wavelen < old_ctx / high:
            out.append(1.0)
        elif wavelen > old_ctx / low:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def _head_dim(cfg) -> int:
    return getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads


def write_hparams(writer, cfg, arch: str, quant: str) -> None:
    import gguf

    heads = cfg.num_attention_heads
    head_dim = _head_dim(cfg)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(getattr(cfg, "num_key_value_heads", None) or heads)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_file_type(
        {
            "f32": gguf.LlamaFileType.ALL_F32,
            "f16": gguf.LlamaFileType.MOSTLY_F16,
            "bf16": gguf.LlamaFileType.MOSTLY_BF16,
            "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
        }[quant]
    )
    rope = _rope(cfg)
    writer.add_rope_freq_base(rope["rope_theta"])
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(rope["factor"])
    elif kind not in ("default", "llama3") or (kind == "llama3" and arch != "LLAMA"):
        raise ForgeError(f"config.json: RoPE type {kind!r} is not translated to GGUF by forge")
    if arch == "LLAMA":
        writer.add_rope_dimension_count(head_dim)
        writer.add_vocab_size(cfg.vocab_size)
    if head_dim != cfg.hidden_size // heads or arch == "GEMMA3":
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    if arch == "GEMMA3":
        _gemma3_hparams(writer, cfg, head_dim, heads)


def _gemma3_hparams(writer, cfg, head_dim: int, heads: int) -> None:
    # llama.cpp scales queries by 1/sqrt(head_dim) (1/sqrt(hidden/heads) for the 62-layer 27B)
    implied = cfg.hidden_size // heads if cfg.num_hidden_layers == 62 else head_dim
    if getattr(cfg, "query_pre_attn_scalar", implied) != implied:
        raise ForgeError(
            f"config.json: query_pre_attn_scalar {cfg.query_pre_attn_scalar} differs from the "
            f"{implied} llama.cpp uses for gemma3; the GGUF would compute different attention"
        )
    if getattr(cfg, "final_logit_softcapping", None):
        writer.add_final_logit_softcapping(cfg.final_logit_softcapping)
    layer_types = getattr(cfg, "layer_types", None) or []
    if getattr(cfg, "sliding_window", None) and "sliding_attention" in layer_types:
        writer.add_sliding_window(cfg.sliding_window)
        writer.add_sliding_window_pattern([t == "sliding_attention" for t in layer_types])
        writer.add_rope_freq_base_swa(_rope(cfg, "sliding_attention")["rope_theta"])


def _permute(w, n_head: int):
    """HF's rotate-half Q/K layout to llama.cpp's interleaved one (convert_hf_to_gguf's permute)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _kind(shape: tuple, quant: str):
    """(numpy dtype, GGML raw type or None) a tensor of `shape` is stored as: norms and biases always f32, as
    llama.cpp expects; q8_0 rows not a multiple of 32 fall back to f16."""
    import gguf
    import numpy as np

    if len(shape) == 1 or quant == "f32":
        return np.float32, None
    if quant == "f16" or (quant == "q8_0" and shape[-1] % 32):
        return np.float16, None
    return np.uint8, gguf.GGMLQuantizationType.BF16 if quant == "bf16" else gguf.GGMLQuantizationType.Q8_0


def _encode(data, quant: str):
    import gguf
    import numpy as np

    data = np.ascontiguousarray(data, dtype=np.float32)
    dtype, raw = _kind(data.shape, quant)
    return gguf.quants.quantize(data, raw) if raw is not None else data.astype(dtype)


def _tensors(model, arch: str) -> list[tuple[str, tuple, Callable[[], object]]]:
    """(GGUF name, shape, a function giving the float32 data) for every tensor, in file order: nothing
    is materialised until it is written."""
    import gguf

    cfg = model.config
    names = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, arch), cfg.num_hidden_layers)
    tied = getattr(cfg, "tie_word_embeddings", False)
    heads = cfg.num_attention_heads
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    out: list[tuple[str, tuple, Callable[[], object]]] = []
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and tied:
            continue  # llama.cpp reuses token_embd when output.weight is absent
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ForgeError(f"{hf_name}: no GGUF tensor name for it in {arch.lower()}; refusing a partial export")

        def data(hf_name=hf_name, tensor=tensor):
            d = tensor.detach().float().cpu().numpy()
            if arch == "LLAMA" and hf_name.endswith(("q_proj.weight", "q_proj.bias")):
                return _permute(d, heads)
            if arch == "LLAMA" and hf_name.endswith(("k_proj.weight", "k_proj.bias")):
                return _permute(d, kv_heads)
            if arch == "GEMMA3" and hf_name.endswith("norm.weight"):
                return d + 1.0  # Gemma3RMSNorm computes x * (1 + w)
            return d

        out.append((name, tuple(tensor.shape), data))
    rope = _rope(cfg)
    if arch == "LLAMA" and rope.get("rope_type") == "llama3":
        factors = llama3_rope_factors(rope, _head_dim(cfg))
        out.append(("rope_freqs.weight", factors.shape, lambda: factors))
    return out


def declare_tensors(writer, tensors: list, quant: str) -> None:
    """The tensor-info table, from shapes alone."""
    import gguf
    import numpy as np

    for name, shape, _ in tensors:
        dtype, raw = _kind(shape, quant)
        stored = gguf.quant_shape_to_byte_shape(shape, raw) if raw is not None else shape
        writer.add_tensor_info(
            name, stored, np.dtype(dtype), int(np.prod(stored)) * np.dtype(dtype).itemsize, raw_dtype=raw
        )


def write_tensor_data(writer, tensors: list, quant: str) -> int:
    """Each tensor converted and written in turn: peak memory is the model plus one tensor."""
    for _, _, data in tensors:
        writer.write_tensor_data(_encode(data(), quant))
    return len(tensors)


def write_general(writer, about: dict | str) -> None:
    """general.*: name, base model, license (when known) and the quantization version."""
    import gguf

    about = {"name": about} if isinstance(about, str) else about
    writer.add_name(about["name"])
    if about.get("base"):  # its public name (forge.models.importing.public_name)
        writer.add_base_model_count(1)
        writer.add_base_model_name(0, about["base"])
    if about.get("license"):
        writer.add_license(about["license"])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def write_gguf(model, vocab, path: Path, quant: str, about: dict | str) -> dict:
    """Write `model` (merged, any dtype) and `vocab` to `path` atomically; returns a summary. `about`: the
    general.* facts (name, base, license), or just the name."""
    import gguf

    from forge.export.gguf.vocab import write_vocab

    model_type = model.config.model_type
    arch = ARCHES.get(model_type)
    if arch is None:
        raise ForgeError(
            f"model type {model_type!r}: GGUF export supports {', '.join(sorted(set(ARCHES) - {'gemma3'}))}"
        )
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    writer = gguf.GGUFWriter(str(tmp), gguf.MODEL_ARCH_NAMES[getattr(gguf.MODEL_ARCH, arch)])
    try:
        try:
            write_general(writer, about)
            write_hparams(writer, model.config, arch, quant)
            write_vocab(writer, vocab)
            tensors = _tensors(model, arch)
            declare_tensors(writer, tensors, quant)
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            count = write_tensor_data(writer, tensors, quant)
        finally:
            writer.close()
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        full = disk_full(path, exc)
        if full:
            raise full from None
        raise
    tmp.replace(path)
    return {"path": path, "arch": arch.lower(), "quant": quant, "tensors": count, "bytes": path.stat().st_size}
