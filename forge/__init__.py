"""forge: turn a directory into a small-language-model fine-tuning project that improves itself."""

__version__ = "0.1.0"
