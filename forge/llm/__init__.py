"""The LLM side: one Anthropic-compatible client and the prompts forge fills.

client: requests with timeouts, retries, the prompt cache and spend accounting; prompts: the
templates of prompts/ filled with a project's context (BACKGROUND.md without gold lines).
"""
