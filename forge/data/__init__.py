"""Dataset files and what an answer must be: the layer every other folder reads through.

datasets: examples, validation, dedupe, atomic appends; formats: alpaca, sharegpt and other shapes
to chat messages; gold_guard: keeping gold and sealed inputs out of training; output_schema: the
task's contract (eval.output_schema, an example's tools); schema_infer: a schema proposed from the
training set; answers: what an answer says (its cmd, its category); val_split: the held-out split.
"""
