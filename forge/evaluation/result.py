"""EvalResult: what one `forge eval` measured, as typed fields; `as_record()` is eval_results.json and
`lines()` its `key: value` result lines, the one formatting that `forge eval` and the eval tool share."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from forge.result_lines import ResultLine, fraction, score_lines


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
    max_new_tokens: int | None = None  # the eval.max_new_tokens the answers were generated under
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

    def lines(self) -> list[ResultLine]:
        """The result lines, in order: score, interval, contract, free decoding, wrong fields, judge, sealed."""
        out = [
            *score_lines("accuracy", self.accuracy, self.correct, self.total, self.ci95),
            ResultLine("total", self.total, None),
            ResultLine("forbidden", self.forbidden_count, str(self.forbidden_count)),
            ResultLine("examples_per_s", self.examples_per_s, str(self.examples_per_s)),
        ]
        if self.cut:
            shown = f"{self.cut} answers hit eval.max_new_tokens ({self.max_new_tokens}): raise it if they need more"
            out.append(ResultLine("cut", self.cut, shown))
        if self.schema_valid is not None:
            how = "under the output schema" if self.constrained else "free (eval.constrained false)"
            out.append(ResultLine("constrained", self.constrained, how))
            out.append(ResultLine("schema_valid", self.schema_valid, fraction(self.schema_valid)))
        if self.free:
            f = self.free
            shown = (
                f"{fraction(f['accuracy'])} ({f['correct']}/{f['total']}, schema-valid {fraction(f['schema_valid'])})"
            )
            out.append(ResultLine("free_accuracy", f["accuracy"], shown))
        if self.per_field:
            out.append(
                ResultLine("wrong_fields", self.per_field, ", ".join(f"{k} {n}" for k, n in self.per_field.items()))
            )
        if self.judge:
            j = self.judge
            shown = (
                f"{j['model']}: {j['judged']} judged, {j['cached']} cached, {j['errors']} errors (scored wrong), "
                f"${j['cost_usd']:.4f}"
            )
            out.append(ResultLine("judge", j, shown))
        if self.sealed:
            s = self.sealed
            shown = f"{fraction(s['accuracy'])} ({s['correct']}/{s['total']})"
            out.append(ResultLine("sealed_accuracy", s["accuracy"], shown))
        return out

    def per_cmd_table(self) -> str:
        """Per cmd (or function): correct, total and accuracy, one row each."""
        width = max([len("cmd")] + [len(c) for c in self.per_cmd])
        rows = [f"{'cmd':<{width}}  correct  total  accuracy"]
        for cmd, row in self.per_cmd.items():
            rows.append(
                f"{cmd:<{width}}  {row['correct']:>7}  {row['total']:>5}  {row['correct'] / row['total']:>8.1%}"
            )
        return "\n".join(rows)
