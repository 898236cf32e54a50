"""The memory budget (training.max_memory_gb): how much a training step and an eval batch may hold, and how forge
stays inside it.

The budget is the process's peak resident memory on CPU, or its peak allocated GPU memory on CUDA; unset, it is
what the process holds when the command starts plus 85% of what the machine (or its cgroup, or the GPU) has free.
A training step holds, beyond what is resident when training starts (model, optimizer, runtime), the activations
of one micro-batch: a cost per padded token that grows with the model's width and depth, plus, at the LM head,
the fp32 logits and their gradient of one chunk of learned tokens (forge.training.completion_loss computes no
others, and recomputes them for the backward pass).
training picks its micro-batches (forge.training.batching) from that estimate, turns on activation checkpointing
when one longest example would not fit otherwise, refuses in one line a budget that not even one example fits,
and stops a step that went over it anyway (MemoryGuard) with a line instead of the kernel's kill. The
coefficients are measured, not derived: bench/train_memory.py measures them (docs/benchmarks.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from forge.errors import ForgeError

GB = 1e9
FREE_SHARE = 0.85
# Resident bytes per padded token and layer, per unit of (hidden + intermediate) width, in a LoRA step under
# bf16 autocast (each LoRA sum in fp32: forge.training.lora_precision): the activations (SmolLM2-135M: 93 KB a
# token and layer) and what glibc's allocator keeps of them between micro-batches of changing shapes (at 400
# conversations and a 3 GB budget, 44 here left steps at 3.3-3.5 GB; bench/train_memory.py). With activation
# checkpointing each layer keeps its fp32 input.
ACT_PER_WIDTH = 60.0
CKPT_PER_HIDDEN = 6.0
HEAD_BYTES_PER_VOCAB = 12.0  # per learned token: fp32 logits, their softmax and gradient
# forge.training.completion_loss computes the head's logits this many learned tokens at a time, recomputing them
# for the backward pass: vocabulary x 12 bytes a token (SmolLM2's 49,152 columns: 0.6 MB) for one chunk only.
HEAD_CHUNK = 512
# Generation: activation bytes per token of a batch (prompts and answers) per unit of width, beyond its KV cache.
GEN_PER_WIDTH = 8.0
# On CPU a micro-batch past this many padded tokens trains no faster and only holds more (SmolLM2-135M: one row
# of 512 tokens and eight train at the same tokens/s; bench/train_memory.py).
CPU_SPEED_TOKENS = 1024


def _status_kb(field: str) -> float | None:
    try:
        m = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    except OSError:
        return None
    return float(m.group(1)) * 1024 if m else None


def resident_bytes() -> float:
    """This process's resident memory now (0 where /proc is missing)."""
    return _status_kb("VmRSS") or 0.0


def peak_resident_bytes() -> float:
    """This process's peak resident memory since it started."""
    return _status_kb("VmHWM") or 0.0


def free_memory() -> None:
    """Give back what dropped models and trainers held: their reference cycles collected, the CUDA cache emptied,
    and glibc's free pages returned to the system (else the next model's RSS adds to the last one's)."""
    import ctypes
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def out_of_memory() -> tuple[type[BaseException], ...]:
    """The exception classes an allocator raises when memory runs out (torch.OutOfMemoryError: CUDA, MPS)."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom,) if oom is not None else ()


def available_bytes() -> float | None:
    """What the machine can still give this process: MemAvailable, capped by a cgroup v2 limit (None: unknown)."""
    try:
        m = re.search(r"^MemAvailable:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    except OSError:
        return None
    free = float(m.group(1)) * 1024 if m else None
    try:
        limit, used = (Path("/sys/fs/cgroup") / n for n in ("memory.max", "memory.current"))
        cap = float(limit.read_text()) - float(used.read_text())
        free = cap if free is None else min(free, cap)
    except (OSError, ValueError):  # no cgroup v2, or "max" (no limit)
        pass
    return free


@dataclass(frozen=True)
class Budget:
    """How many bytes the process may hold at its peak, and where that number came from."""

    bytes: float
    source: str
    device: str

    @classmethod
    def for_device(cls, max_memory_gb: float | None, device: str, processes: int = 1) -> Budget:
        """training.max_memory_gb, or the automatic budget; on CPU, `processes` training together share the RAM."""
        if max_memory_gb is not None:
            share = max_memory_gb / processes if not device.startswith("cuda") else max_memory_gb
            return cls(share * GB, f"training.max_memory_gb {max_memory_gb:g}", device)
        if device.startswith("cuda"):
            import torch

            gpu_free, _total = torch.cuda.mem_get_info(torch.device(device))
            held = torch.cuda.memory_allocated(torch.device(device))
            return cls(
                held + FREE_SHARE * gpu_free, f"auto: 85% of the {gpu_free / GB:.1f} GB free on {device}", device
            )
        free = available_bytes()
        if free is None:
            return cls(float("inf"), "auto: free memory unknown", device)
        return cls(
            resident_bytes() + FREE_SHARE * free / processes, f"auto: 85% of the {free / GB:.1f} GB free", device
        )

    def held(self) -> float:
        """What the process holds now, as the budget counts it."""
        if self.device.startswith("cuda"):
            import torch

            return float(torch.cuda.memory_allocated(torch.device(self.device)))
        return resident_bytes()

    def peak(self) -> float:
        if self.device.startswith("cuda"):
            import torch

            return float(torch.cuda.max_memory_allocated(torch.device(self.device)))
        return peak_resident_bytes()


def model_shape(model) -> tuple[int, int, int, int]:
    """(layers, hidden, intermediate, vocabulary) of a causal LM, PEFT-wrapped or not."""
    cfg = model.config
    cfg = getattr(cfg, "text_config", None) or cfg
    hidden = int(cfg.hidden_size)
    return (
        int(cfg.num_hidden_layers),
        hidden,
        int(getattr(cfg, "intermediate_size", 4 * hidden) or 4 * hidden),
        int(cfg.vocab_size),
    )


@dataclass(frozen=True)
class StepPlan:
    """What one training micro-batch may hold, and whether activation checkpointing is on."""

    budget: Budget
    fixed: float  # bytes held before the first activation: resident now + optimizer state to come
    per_token: float  # activation bytes per padded token
    per_learned: float  # LM-head bytes per learned token
    checkpointing: bool
    speed_tokens: int | None  # the most padded tokens a micro-batch takes for speed (CPU), None: no such cap

    def fits(self, rows: int, length: int, learned: int) -> bool:
        tokens = rows * length
        if self.speed_tokens is not None and rows > 1 and tokens > self.speed_tokens:
            return False
        return self.fixed + tokens * self.per_token + min(learned, HEAD_CHUNK) * self.per_learned <= self.budget.bytes

    def max_tokens(self) -> int:
        """The most padded tokens one micro-batch takes (a full chunk of learned tokens, the worst case)."""
        room = (self.budget.bytes - self.fixed - HEAD_CHUNK * self.per_learned) / self.per_token
        cap = self.speed_tokens if self.speed_tokens is not None else float("inf")
        return int(max(0, min(room, cap)))

    def line(self) -> str:
        """For the one-line backend report."""
        cap = self.max_tokens()
        budget = "no limit" if self.budget.bytes == float("inf") else f"{self.budget.bytes / GB:.1f} GB"
        return (
            f"memory {budget} ({self.budget.source}): micro-batches up to {cap:,} tokens"
            f"{', activation checkpointing' if self.checkpointing else ''}"
        )


def plan_step(model, budget: Budget, trainable_params: int, longest: int, bf16: bool) -> StepPlan:
    """The plan for one micro-batch of a model about to train (already loaded: its memory is resident), whose
    longest example has `longest` tokens; a one-line error when not even that example fits."""
    layers, hidden, intermediate, vocab = model_shape(model)
    # AdamW's two moments and the gradient of each trainable weight (fp32), and autocast's bf16 copy of the weights
    optimizer = trainable_params * 12.0
    weight_copies = sum(p.numel() for p in model.parameters()) * 2.0 if bf16 else 0.0
    fixed = budget.held() + optimizer + weight_copies
    per_learned = vocab * HEAD_BYTES_PER_VOCAB
    speed = CPU_SPEED_TOKENS if budget.device == "cpu" else None
    full = StepPlan(budget, fixed, layers * ACT_PER_WIDTH * (hidden + intermediate), per_learned, False, speed)
    if full.fits(1, longest, longest):
        return full
    # checkpointing keeps each layer's input and redoes one layer's activations at a time in the backward pass
    ckpt = StepPlan(
        budget,
        fixed,
        layers * CKPT_PER_HIDDEN * hidden + ACT_PER_WIDTH * (hidden + intermediate),
        per_learned,
        True,
        speed,
    )
    if ckpt.fits(1, longest, longest):
        return ckpt
    need = ckpt.fixed + longest * ckpt.per_token + min(longest, HEAD_CHUNK) * per_learned
    raise ForgeError(
        f"{budget.source}: too small to train even one example of {longest} tokens, which needs "
        f"~{need / GB:.1f} GB with activation checkpointing ({fixed / GB:.1f} GB held before any "
        "activation); raise training.max_memory_gb or lower model.max_seq_len"
    )


def generation_tokens(model, budget: Budget) -> int | None:
    """The most tokens, rows x (longest prompt + max_new_tokens), one generate() batch may hold within the budget,
    beside the model already loaded: its KV cache in every layer and one layer's activations at a time (None: no
    limit known)."""
    if budget.bytes == float("inf"):
        return None
    layers, hidden, intermediate, _vocab = model_shape(model)
    cfg = getattr(model.config, "text_config", None) or model.config
    heads = int(getattr(cfg, "num_attention_heads", 1) or 1)
    kv_heads = int(getattr(cfg, "num_key_value_heads", heads) or heads)
    head_dim = int(getattr(cfg, "head_dim", None) or hidden // heads)
    elem = next(model.parameters()).element_size()
    per_token = layers * 2 * kv_heads * head_dim * elem + GEN_PER_WIDTH * (hidden + intermediate) * elem
    return max(1, int((budget.bytes - budget.held()) / per_token))
