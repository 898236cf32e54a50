"""EvalResult: what one `forge eval` measured, as typed fields; `as_record()` is eval_results.json."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class EvalResult:
    """One eval of one model on the gold set (and the sealed set, aggregates only)."""

    eval_id: str
    time: str
    accuracy: float
    correct: int
    total: int
    ci95: list[float]  # Wilson interval
    forbidden_count: int
    failure_count: int
    per_cmd: dict[str, dict]  # cmd -> {"correct", "total"}
    per_field: dict[str, int]  # field the call scorer named -> wrong answers
    scorer: str
    model: dict  # {"path", "kind", "hash"}: the weights this measured
    gold: dict  # {"path", "hash"}
    schema: dict | None  # {"path", "hash"} of eval.output_schema
    constrained: bool
    schema_valid: float | None
    wall_s: float
    examples_per_s: float | None
    per_example: dict[str, bool]  # example id -> correct
    cut: int = 0  # gold answers that hit eval.max_new_tokens before their end
    free: dict | None = None  # free decoding's score, with --compare-free
    sealed: dict | None = None  # the sealed set's aggregates and hash
    judge: dict | None = None  # the judge scorer's model, calls, cache hits, errors and cost

    def as_record(self) -> dict:
        """The JSON of output/eval_results.json and of an experiment's results (free/sealed only when measured)."""
        record = dataclasses.asdict(self)
        for key in ("free", "sealed", "judge"):
            if record[key] is None:
                del record[key]
        return record
