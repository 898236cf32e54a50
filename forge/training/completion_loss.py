"""The training loss where it counts: LM head and cross-entropy only at the positions that predict a learned token.

A causal LM's own forward projects every position onto the whole vocabulary (SmolLM2: 49,152 columns) and
then ignores all but the assistant tokens. For chat fine-tuning most positions are prompt, so most of that
work, and the largest activation of the step, is thrown away. Here the decoder runs as usual (LoRA included,
under the trainer's autocast), its hidden states are gathered at the learned positions, and only those go
through the head, in fp32. Batches are padded on the right (forge.training.batching.pad_right), so the decoder
runs without an attention mask: causal attention alone keeps every real token from the pads after it, and
sdpa takes its fused kernel instead of keeping attention probabilities for the backward pass. fp32 there is what keeps bf16 training's loss on fp32's: late in training the loss
is a few hundredths of a nat, and bf16 logits (8 bits of mantissa) round away differences that size. Past
HEAD_CHUNK learned tokens the head runs in chunks whose logits are recomputed for the backward pass, so a long
multi-turn batch never holds every learned token's vocabulary-wide logits at once.

Used for the plain transformers Trainer (CPU, and CUDA without Unsloth) on architectures whose logits are
exactly `lm_head(hidden)` (optionally soft-capped); any other model keeps its own forward.
"""

from __future__ import annotations

from forge.models.memory import HEAD_CHUNK
from forge.training.batching import right_padded

# model_type values whose causal-LM forward is `lm_head(decoder(...).last_hidden_state)`, soft-capped when
# the config says final_logit_softcapping (checked against each modeling file's forward in transformers 5.x).
PLAIN_HEAD_TYPES = frozenset(
    {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "smollm3", "olmo2"}
)


def _causal_lm(model):
    """The transformers *ForCausalLM inside a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _unwrapped(model):
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def supported(model) -> bool:
    lm = _causal_lm(_unwrapped(model))
    return (
        getattr(lm.config, "model_type", None) in PLAIN_HEAD_TYPES
        and lm.get_output_embeddings() is not None
        and hasattr(lm, lm.base_model_prefix)
    )


def completion_loss(model, inputs: dict, autocast, num_items: int | None = None):
    """Mean cross-entropy over the learned tokens (or their sum / num_items, for gradient accumulation)."""
    import torch
    import torch.nn.functional as F

    lm = _causal_lm(model)
    labels = inputs["labels"][:, 1:]
    mask = inputs.get("attention_mask")
    if mask is not None and right_padded(mask):  # causal attention alone keeps pads after every real token
        mask = None
    with autocast():
        hidden = getattr(lm, lm.base_model_prefix)(
            input_ids=inputs["input_ids"],
            attention_mask=mask,
            use_cache=False,
        ).last_hidden_state
    learned = labels != -100
    picked, targets = hidden[:, :-1][learned], labels[learned]
    head = lm.get_output_embeddings()
    cap = getattr(lm.config, "final_logit_softcapping", None)

    def head_loss(rows, wanted):
        with torch.autocast(rows.device.type, enabled=False):
            logits = F.linear(rows.float(), head.weight.float(), None if head.bias is None else head.bias.float())
            if cap:
                logits = torch.tanh(logits / cap) * cap
            return F.cross_entropy(logits, wanted, reduction="sum")

    if len(targets) <= HEAD_CHUNK:
        total = head_loss(picked, targets)
    else:  # the vocabulary-wide logits of a chunk at a time, redone in the backward pass instead of kept for it
        from torch.utils.checkpoint import checkpoint

        chunk = (
            (lambda r, w: checkpoint(head_loss, r, w, use_reentrant=False)) if torch.is_grad_enabled() else head_loss
        )
        total = sum(
            chunk(picked[i : i + HEAD_CHUNK], targets[i : i + HEAD_CHUNK]) for i in range(0, len(targets), HEAD_CHUNK)
        )
    if num_items is None:
        return total / learned.sum().clamp(min=1)
    return total / num_items


def trainer_class():
    """transformers.Trainer with the loss above, where the model supports it; each step split into the micro-batches
    its memory plan allows (`step_plan`, forge.models.memory), and batches by tokens (`token_sampler`) when set."""
    import contextlib

    import torch
    from transformers import Trainer

    from forge.training.batching import micro_batches

    class CompletionLossTrainer(Trainer):
        step_plan = None  # forge.models.memory.StepPlan: what one micro-batch may hold
        token_sampler = None  # forge.training.batching.TokenBatchSampler (training.tokens_per_batch)

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

        def training_step(self, model, inputs, num_items_in_batch=None):
            parts = micro_batches(inputs, self.step_plan.fits) if self.step_plan is not None else [inputs]
            if len(parts) == 1:
                return super().training_step(model, inputs, num_items_in_batch)
            if num_items_in_batch is None:  # each part's loss over the batch's learned tokens: the parts add up
                learned = int((inputs["labels"][:, 1:] != -100).sum())
                num_items_in_batch = learned * self.current_gradient_accumulation_steps
            total = None
            for i, part in enumerate(parts):  # gradients add up; DDP syncs once, after the last part
                sync = contextlib.nullcontext() if i == len(parts) - 1 else self.accelerator.no_sync(model)
                with sync:
                    loss = super().training_step(model, part, num_items_in_batch)
                total = loss if total is None else total + loss
            return total

        def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
            """The validation loss as training computes it: no logits over the whole vocabulary at every position."""
            inner = _unwrapped(model)
            if not prediction_loss_only or not supported(inner) or "labels" not in inputs:
                return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)
            inputs = self._prepare_inputs(inputs)
            learned = (inputs["labels"][:, 1:] != -100).sum().clamp(min=1)
            parts = micro_batches(inputs, self.step_plan.fits) if self.step_plan is not None else [inputs]
            with torch.no_grad():
                loss = sum(completion_loss(inner, p, self.accelerator.autocast, learned) for p in parts)
            return loss.detach(), None, None

        def get_train_dataloader(self):
            if self.token_sampler is None:
                return super().get_train_dataloader()
            from torch.utils.data import DataLoader

            return self.accelerator.prepare(
                DataLoader(self.train_dataset, batch_sampler=self.token_sampler, collate_fn=self.data_collator)
            )

    return CompletionLossTrainer
