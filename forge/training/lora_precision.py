"""bf16 LoRA training that learns as fp32 does: autocast for the frozen weights' matmuls, fp32 for each sum.

Under bf16 autocast a LoRA layer computes `base(x) + B(A(x)) * scale` in bf16. Early in training the LoRA
term is a thousandth of the base output, below bf16's resolution (8 bits of mantissa), so most of each
update vanishes from the forward pass and the model learns slower. Lifting every LoRA layer's base output to
fp32 before the sum learns as fp32 does, still at most of bf16's speed; lifting only the residual writers
(o_proj, down_proj) is not enough. docs/benchmarks.md (bench/train_real.py) has the measurements.
"""

from __future__ import annotations


def keep_lora_sums_fp32(model) -> int:
    """Make every LoRA layer's frozen base output fp32, so the adapter's term is added at full precision.
    Returns how many layers were changed."""
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    for layer in layers:
        layer.get_base_layer().register_forward_hook(lambda _m, _inp, out: out.float())
    return len(layers)
