"""Training: supervised fine-tuning, reinforcement learning from the project's scorer, and pretraining, LoRA
or full weights. It sits above evaluation: GRPO's reward is evaluation's scorer.

entry: `forge train`'s one entry point, by training.method; sft: supervised fine-tuning (setup, load, fit,
save); grpo: GRPO (TRL), the project's scorer as the reward; common: what both share; pretrain: LoRA pretraining on a corpus; setup: the
Trainer's arguments; callbacks: progress, budgets, TensorBoard; completion_loss: loss on the
answer only, each step split into micro-batches; batching: batches by tokens, micro-batches,
right-padded collation; lora_precision: fp32 LoRA sums under bf16; checkpoints: resume after a kill;
distributed: compute.num_processes.
"""
