"""Models: loading, device and precision, import, tiny local models, chat formatting.

loading: device and precision policy, loading for training and inference, the base directory;
importing: a GGUF, a directory or a hub id as safetensors; family_templates: the chat template a base
without one is given, by its family's turn tokens; tool_template: tools for a base whose template has none; tiny: random-init models and
tokenizers built locally; chat_format: chat templates, tools, tokenization for training; memory: the
memory budget (training.max_memory_gb), what a training micro-batch or a generate batch may hold.
"""
