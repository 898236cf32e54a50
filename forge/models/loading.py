"""Choosing the backend and device, and loading base models, adapters and tokenizers.

Unsloth is used only when CUDA is available and it imports; otherwise transformers (+ peft).
Any HF model id or local directory goes through the same calls; tiny local models included.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from forge.errors import ForgeError, first_line
from forge.project.records import read_meta
from forge.quiet_libraries import quiet_transformers


@dataclass
class Runtime:
    backend: str  # "unsloth" | "transformers"
    device: str  # "cuda:0", "cpu", "mps"
    notes: list[str]  # one-line warnings worth printing


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (Linux: the avx512_bf16 or amx_bf16 flag)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def training_precision(precision: str, device: str, method: str) -> str:
    """training.precision resolved for this machine: "bf16", "fp32", or "backend" (CUDA/MPS without an explicit
    bf16: the backend's own choice). auto is bf16 for LoRA on a CPU with native bf16, where forge's bf16 learns
    as fp32 does (forge.training.lora_precision); full fine-tuning keeps fp32 there (not measured in bf16)."""
    if precision == "auto":
        if device != "cpu":
            return "backend"
        return "bf16" if method == "lora" and cpu_has_bf16() else "fp32"
    return "backend" if precision == "fp32" and device != "cpu" else precision


def use_bf16(resolved: str) -> bool | None:
    """The trainer's bf16 argument for a resolved precision (None: the backend decides)."""
    return {"bf16": True, "fp32": False}.get(resolved)


def resolve_runtime(requested_device: str, load_in_4bit: bool) -> Runtime:
    import torch

    notes = []
    device = requested_device
    if device.startswith("cuda") and not torch.cuda.is_available():
        mps = getattr(torch.backends, "mps", None)
        device = "mps" if mps is not None and mps.is_available() else "cpu"
        notes.append(f"compute.device {requested_device}: CUDA is not available; using {device}")
    if load_in_4bit and not device.startswith("cuda"):
        notes.append("model.load_in_4bit: ignored without CUDA; loading in full precision")
    backend = "transformers"
    if device.startswith("cuda"):
        try:
            import unsloth  # noqa: F401  (must be imported before transformers to patch it)

            backend = "unsloth"
        except ImportError:
            notes.append("unsloth is not installed; training with transformers + peft on CUDA")
    return Runtime(backend, device, notes)


def looks_like_a_path(base: str) -> bool:
    """model.base spelled as a path (./x, /x, ~/x, a/b/c) rather than a hub id (org/name)."""
    return base.startswith((".", "/", "~")) or base.count("/") > 1


def resolve_base(base: str, root: Path) -> str:
    """A local directory (relative to the project) as an absolute path; a .gguf file as the directory it
    is imported into once (output/imported/<name>); anything else is a hub id."""
    local = Path(base) if Path(base).is_absolute() else root / base
    if local.is_file() and local.suffix == ".gguf":
        from forge.models.importing import import_model
        from forge.project.project import OUTPUT

        dest = root / OUTPUT / "imported" / local.stem
        if not (dest / "config.json").is_file():
            import_model(str(local), dest, echo=lambda _m: None)
        return str(dest.resolve())
    if local.exists():
        if (local / "adapter_config.json").is_file():
            raise ForgeError(
                f"model.base {base}: is an unmerged LoRA adapter, not a model; training LoRA on top of "
                f"it is refused: merge it first (`forge export --format merged --adapter {base}`)"
            )
        if not (local / "config.json").is_file():
            raise ForgeError(f"model.base {base}: {local} has no config.json (not a saved model directory)")
        return str(local.resolve())
    if looks_like_a_path(base):
        raise ForgeError(f"model.base {base}: no such directory ({local})")
    return base


def local_base_dir(project) -> Path:
    """model.base as a local model directory, for commands that use the base itself (`--base`), or a one-line
    error when it is a hub id."""
    path = Path(resolve_base(project.config.model.base, project.root))
    if not path.is_dir():
        raise ForgeError(
            f"model.base {project.config.model.base}: --base needs a local model directory "
            "(`forge model import` makes one)"
        )
    return path


def _hub_error(base: str, exc: Exception) -> ForgeError:
    return ForgeError(
        f"model.base {base}: could not load ({type(exc).__name__}: {first_line(exc)}); "
        "no model hub is reachable? use a local directory, e.g. one built by `forge model tiny`"
    )


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    quiet_transformers()
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # hub / file errors come in many types
        raise _hub_error(path, exc) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(path: str, device: str):
    import torch
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    dtype = torch.float32 if device == "cpu" else "auto"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except Exception as exc:
        raise _hub_error(path, exc) from None
    # PreTrainedModel.to is wrapped with functools.wraps(Module.to), whose typing takes `self` as the first argument
    return model.to(device)  # type: ignore[arg-type]


def linear_module_names(model) -> list[str]:
    import torch

    names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)}
    return sorted(names - {"lm_head"})


def check_target_modules(model, targets: list[str], base: str) -> None:
    available = linear_module_names(model)
    missing = [t for t in targets if t not in available]
    if missing:
        raise ForgeError(
            f"lora.target_modules: {', '.join(missing)} not in {base}; its linear modules are: {', '.join(available)}"
        )


def inference_precision(precision: str, device: str) -> str:
    """eval.precision resolved for this machine: "bf16" or "fp32" on CPU (auto: bf16 where the CPU has native
    bf16), "backend" elsewhere (the checkpoint's own dtype)."""
    if device != "cpu":
        return "bf16" if precision == "bf16" else "backend"
    if precision == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    return precision


def _contiguous_head_input(model) -> None:
    """generate() hands the LM head only the last position, a strided slice of the hidden states; torch's
    matmul then broadcasts the whole head weight per row (a ~1 GB copy per prefill on a 49k vocabulary, more
    than the prefill itself). A contiguous input makes it one matrix product, with the same result."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None:
        head.register_forward_pre_hook(lambda _mod, args: (args[0].contiguous(), *args[1:]))


def load_for_inference(model_dir: Path, root: Path, device: str, precision: str = "fp32"):
    """(model, tokenizer, identity) for a trained output: a PEFT adapter merged into its base (one matrix
    product per layer instead of three; the same answers), or a full model; in `precision`
    (inference_precision), ready for generate()."""
    model_dir = Path(model_dir)
    if (model_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        meta = read_meta(model_dir)
        base = meta.get("base")
        if not base:
            base = json.loads((model_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
        base_path = resolve_base(base, root)
        model = PeftModel.from_pretrained(load_causal_lm(base_path, device), str(model_dir)).to(device)
        model, kind = model.merge_and_unload(), "adapter"
    elif (model_dir / "config.json").is_file():
        model, kind, base = load_causal_lm(str(model_dir), device), "full", str(model_dir)
    else:
        raise ForgeError(f"{model_dir}: no trained adapter or model here (run `forge train`)")
    tok_dir = model_dir if (model_dir / "tokenizer_config.json").is_file() else resolve_base(base, root)
    return ready_for_generation(model, precision, device), load_tokenizer(str(tok_dir)), kind


def ready_for_generation(model, precision: str, device: str):
    """The model in `precision` (inference_precision), in eval mode, its LM head fed contiguously."""
    import torch

    if inference_precision(precision, device) == "bf16":
        model = model.to(torch.bfloat16)
    _contiguous_head_input(model)
    return model.eval()
