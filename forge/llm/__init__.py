"""The LLM side: one Anthropic-compatible client and the prompts forge fills.

client: requests with timeouts, retries, the prompt cache and spend accounting; api_errors: what a
server's error means (transient, a context overflow and its window, a failed batch request), read
from its status and JSON body, never the SDK's wording; batches: the Message Batches API, created
once and polled to its end; prompts: the templates of prompts/ filled with a project's context
(BACKGROUND.md without gold lines); tool_use: tool conversations as the API's tool use, and its calls back in
forge's shape.
"""
