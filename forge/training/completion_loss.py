"""The training loss where it counts: LM head and cross-entropy only at the positions that predict a learned token.

A causal LM's own forward projects every position onto the whole vocabulary (SmolLM2: 49,152 columns) and
then ignores all but the assistant tokens. For chat fine-tuning most positions are prompt, so most of that
work, and the largest activation of the step, is thrown away. Here the decoder runs as usual (LoRA included,
under the trainer's autocast), its hidden states are gathered at the learned positions, and only those go
through the head, in fp32. fp32 there is what keeps bf16 training's loss on fp32's: late in training the loss
is a few hundredths of a nat, and bf16 logits (8 bits of mantissa) round away differences that size.

Used for the plain transformers Trainer (CPU, and CUDA without Unsloth) on architectures whose logits are
exactly `lm_head(hidden)` (optionally soft-capped); any other model keeps its own forward.
"""

from __future__ import annotations

# model_type values whose causal-LM forward is `lm_head(decoder(...).last_hidden_state)`, soft-capped when
# the config says final_logit_softcapping (checked against each modeling file's forward in transformers 5.x).
PLAIN_HEAD_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3",
                              "smollm3", "olmo2"})


def _causal_lm(model):
    """The transformers *ForCausalLM inside a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _unwrapped(model):
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def supported(model) -> bool:
    lm = _causal_lm(_unwrapped(model))
    return (getattr(lm.config, "model_type", None) in PLAIN_HEAD_TYPES and lm.get_output_embeddings() is not None
            and hasattr(lm, lm.base_model_prefix))


def completion_loss(model, inputs: dict, autocast, num_items: int | None = None):
    """Mean cross-entropy over the learned tokens (or their sum / num_items, for gradient accumulation)."""
    import torch
    import torch.nn.functional as F

    lm = _causal_lm(model)
    labels = inputs["labels"][:, 1:]
    with autocast():
        hidden = getattr(lm, lm.base_model_prefix)(
            input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"), use_cache=False,
        ).last_hidden_state
    learned = labels != -100
    picked = hidden[:, :-1][learned]
    head = lm.get_output_embeddings()
    with torch.autocast(picked.device.type, enabled=False):
        logits = F.linear(picked.float(), head.weight.float(), None if head.bias is None else head.bias.float())
        cap = getattr(lm.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        total = F.cross_entropy(logits, labels[learned], reduction="sum")
    if num_items is None:
        return total / learned.sum().clamp(min=1)
    return total / num_items


def trainer_class():
    """transformers.Trainer with the loss above, where the model supports it."""
    from transformers import Trainer

    class CompletionLossTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if return_outputs or not supported(model):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            # Normalised over the whole accumulated batch when the trainer counted it, as the model's own loss is.
            self.loss_is_scaled_for_ga = num_items_in_batch is not None
            inner = _unwrapped(model)
            if inner is model:
                loss = completion_loss(model, inputs, self.accelerator.autocast, num_items_in_batch)
            else:  # DDP syncs gradients through its own forward: run the loss as the wrapped module's forward
                inner.forward = lambda **kw: completion_loss(inner, kw, self.accelerator.autocast, num_items_in_batch)
                try:
                    loss = model(**inputs)
                finally:
                    del inner.forward
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes  # num_items counted every process's tokens
            return loss

    return CompletionLossTrainer
