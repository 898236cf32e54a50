"""The training set's sources: bringing examples in, making them, reviewing them.

import_file: `forge import`; cleaning: `forge clean`; datagen: generation through the LLM or the project's
generator; generator_source: which generator; batch_api: the Message Batches path; augment:
examples targeting failure categories; audit: LLM review and fixes; tool_datagen: tool conversations from the
LLM.
"""
