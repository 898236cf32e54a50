"""Training: supervised fine-tuning and pretraining, LoRA or full weights.

sft: `forge train` (setup, load, fit, save); pretrain: LoRA pretraining on a corpus; setup: the
Trainer's arguments; callbacks: progress, budgets, TensorBoard; completion_loss: loss on the
answer only, each step split into micro-batches; batching: batches by tokens, micro-batches,
right-padded collation; lora_precision: fp32 LoRA sums under bf16; checkpoints: resume after a kill;
distributed: compute.num_processes.
"""
