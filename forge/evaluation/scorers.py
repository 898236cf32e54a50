"""Scorers: is one model answer correct, and if not, why.

- exact: the answer equals the expected text (case-sensitive; surrounding whitespace ignored).
- json_cmd: both parse as JSON objects and their `cmd` fields are equal (for calls: the same functions).
- json_match: both parse as JSON and are equal as values (key order ignored).
- call: a function call. The name (`cmd`, else `name`) must match, then every argument by value
  and type (1, 1.0, "1" and true all differ; nested objects compared field by field, dotted
  names); a missing or extra key is wrong; eval.ignore_fields are skipped. The verdict names
  every wrong field, and its reason says the first ("wrong room", "missing minutes"). Parallel
  calls (a list) match in any order; where a text reply is expected (no function fits) any
  reply is right and a call is wrong ("made a call where none fits"), and the reverse is "made no call".
- custom: the project's scorer.py defines `score(expected: str, actual: str) -> float`; an
  answer is correct when the score is >= eval.custom_threshold (default 1.0).
- judge: an LLM judge (forge.evaluation.judge) decides, from the input, the expected answer and
  eval.judge_rubric; `score_many` asks it once for a whole set (cached, batched).
Any answer whose `cmd` is in eval.forbidden_commands is wrong, whatever the scorer says; so is,
when eval.output_schema is set, an answer outside the schema ("outside the schema: ...").
Garbage never raises: it is a failure with a reason.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from forge.data.answers import cmd_of, parse_json
from forge.data.output_schema import ToolsContract
from forge.data.tool_calls import calls_in
from forge.errors import ForgeError
from forge.project.code import load_function


@dataclass
class Verdict:
    correct: bool
    reason: str | None = None  # why it is wrong
    forbidden: bool = False
    fields: tuple[str, ...] = ()  # the call scorer's wrong fields, dotted


def load_custom(root: Path):
    path = root / "scorer.py"
    if not path.is_file():
        raise ForgeError(f"eval.scorer custom: {path.name} not found in {root}")
    return load_function(path, "scorer.py", "score", "score(expected, actual) -> float")


def _typed(value):
    """A JSON value with its type made part of equality (True != 1, 1 != 1.0)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


def wrong_fields(want, got, ignore: Collection[str] = frozenset(), prefix: str = "") -> list[tuple[str, str]]:
    """(dotted field, what is wrong: wrong/missing/extra) for every field where `got` differs from `want`."""
    out = []
    for key in sorted(set(want) | set(got), key=lambda k: (k not in want, str(k))):
        name = f"{prefix}{key}"
        if name in ignore:
            continue
        if key not in got:
            out.append((name, "missing"))
        elif key not in want:
            out.append((name, "extra"))
        elif isinstance(want[key], dict) and isinstance(got[key], dict):
            out += wrong_fields(want[key], got[key], ignore, f"{name}.")
        elif _typed(want[key]) != _typed(got[key]):
            out.append((name, "wrong"))
    return out


def leaf_fields(value, prefix: str = "") -> set[str]:
    """The dotted names of a JSON object's leaf fields (nested objects walked), as wrong_fields names them."""
    out: set[str] = set()
    for key, v in value.items() if isinstance(value, dict) else ():
        out |= leaf_fields(v, f"{prefix}{key}.") if isinstance(v, dict) and v else {f"{prefix}{key}"}
    return out


_PROJECT = object()  # Scorer.__call__'s default: the project's schema


class Scorer:
    def __init__(
        self,
        kind: str,
        forbidden: Iterable[str] = (),
        custom=None,
        threshold: float = 1.0,
        schema=None,
        ignore_fields: Iterable[str] = (),
        judge=None,
        tool_choice: str = "auto",
    ):
        self.kind, self.forbidden, self.custom, self.threshold = kind, set(forbidden), custom, threshold
        self.schema, self.ignore, self.judge = schema, set(ignore_fields), judge
        self.tool_choice = tool_choice  # eval.tool_choice: the contract of examples with tools (schema_for)

    @classmethod
    def for_project(cls, project, schema=None) -> Scorer:
        """The project's scorer; `schema` (forge.data.output_schema.OutputSchema) makes answers outside it wrong."""
        ev = project.config.eval
        custom = load_custom(project.root) if ev.scorer == "custom" else None
        judge = None
        if ev.scorer == "judge":
            from forge.evaluation.judge import Judge

            judge = Judge(project)
        return cls(
            ev.scorer,
            ev.forbidden_commands,
            custom,
            ev.custom_threshold,
            schema,
            ev.ignore_fields,
            judge,
            ev.tool_choice,
        )

    def _contract(self, actual: str, schema) -> Verdict | None:
        """The verdict every scorer shares: a forbidden command or an answer outside the schema is wrong."""
        actual_cmd = cmd_of(actual)
        if actual_cmd is not None and actual_cmd in self.forbidden:
            return Verdict(False, f"forbidden command {actual_cmd!r}", forbidden=True)
        schema = self.schema if schema is _PROJECT else schema
        outside = schema.violation(actual) if schema else None
        return Verdict(False, outside) if outside else None

    def __call__(self, expected: str, actual: str, schema=_PROJECT, input_text: str = "(not shown)") -> Verdict:
        """The verdict on `actual`; `schema` overrides the project's for this answer (an example's tools)."""
        return self.score_many([(input_text, expected, actual, schema)])[0]

    def score_many(self, items: list[tuple], sealed: bool = False) -> list[Verdict]:
        """Verdicts on (input, expected, answer, schema) items, in order; the judge is asked once for all the
        answers that keep the contract (`sealed`: cache no reason, see forge.evaluation.judge)."""
        verdicts: list[Verdict | None] = [self._contract(answer, schema) for _, _, answer, schema in items]
        todo = [i for i, v in enumerate(verdicts) if v is None]
        if self.kind == "judge":
            from forge.evaluation.judge import JudgeItem

            judged = self.judge.verdicts([JudgeItem(*items[i][:3]) for i in todo], sealed=sealed)
            for i, j in zip(todo, judged, strict=True):
                verdicts[i] = Verdict(j.correct, j.reason)
        else:
            for i in todo:
                expected, answer, own = items[i][1], items[i][2], items[i][3]
                if self.kind == "call" and isinstance(own, ToolsContract):  # an example's tools: defaults may go
                    expected, answer = own.with_defaults(expected), own.with_defaults(answer)
                verdicts[i] = getattr(self, f"_{self.kind}")(expected, answer)
        return [v for v in verdicts if v is not None]

    def reward(self, expected: str, actual: str, schema=_PROJECT) -> float:
        """The verdict as a number in [0, 1], GRPO's reward: 1 correct; 0 for an answer outside the contract (a
        forbidden command, outside the schema) or wrong; with the call scorer, partial credit: the share of the
        expected answer's fields it got right once the name is right; a custom scorer's own score."""
        verdict = self._contract(actual, schema)
        if verdict is not None:
            return 0.0
        if self.kind == "judge":
            raise ForgeError(
                "GRPO with eval.scorer judge would pay a judge call per sampled answer: pick a "
                "programmatic scorer (call, json_match, exact, custom)"
            )
        if self.kind == "custom":
            try:
                return min(1.0, max(0.0, float(self.custom(expected, actual))))
            except Exception:  # a bug in the project's scorer scores 0, as in eval
                return 0.0
        verdict = getattr(self, f"_{self.kind}")(expected, actual)
        if verdict.correct or self.kind != "call" or not verdict.fields:
            return float(verdict.correct)
        want, _ = parse_json(expected)
        name = "cmd" if "cmd" in want else "name" if "name" in want else None
        if name in verdict.fields:
            return 0.0
        fields = leaf_fields(want) - ({name} if name else set())
        # every wrong, missing or extra field costs one field's share
        return max(0.0, 1 - len(set(verdict.fields)) / len(fields)) if fields else 0.0

    def _call(self, expected, actual):
        want, want_err = parse_json(expected)
        value, err = parse_json(actual)
        wanted, made = calls_in(want), calls_in(value)
        if want_err and not isinstance(want, dict):  # a text reply expected (no function fits): any reply is right
            return Verdict(False, "made a call where none fits", fields=("name",)) if made else Verdict(True)
        if wanted and not made and err:
            return Verdict(False, "made no call", fields=("name",))
        if err:
            return Verdict(False, err)
        if wanted and (len(wanted) > 1 or (made and len(made) > 1)):
            return self._calls(wanted, made or [value])
        if not isinstance(value, dict) or not isinstance(want, dict):
            return Verdict(True) if _typed(value) == _typed(want) else Verdict(False, "not a JSON object")
        return self._one_call(want, value)

    def _one_call(self, want: dict, value: dict) -> Verdict:
        name = "cmd" if "cmd" in want else "name" if "name" in want else None
        if name and _typed(value.get(name)) != _typed(want[name]):
            return Verdict(False, f"wrong {name} {str(value.get(name))!r}", fields=(name,))
        wrong = wrong_fields(want, value, self.ignore)
        if not wrong:
            return Verdict(True)
        field, how = wrong[0]
        if name == "name" and field.startswith("arguments."):  # "wrong room", as for a cmd-keyed answer
            field = field[len("arguments.") :]
        return Verdict(
            False,
            f"{how} {field}" + (f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""),
            fields=tuple(f for f, _ in wrong),
        )

    def _calls(self, wanted: list, made: list) -> Verdict:
        """Parallel calls: the same calls in any order, each matched as one call is."""
        if len(made) != len(wanted):
            return Verdict(False, f"{len(made)} calls where {len(wanted)} fit", fields=("name",))
        left = list(made)
        misses = []
        for want in wanted:
            exact = next((m for m in left if self._one_call(want, m).correct), None)
            if exact is not None:
                left.remove(exact)
            else:
                misses.append(want)
        if not misses:
            return Verdict(True)
        # the first call left unmatched, against a call of the same function where there is one
        want = misses[0]
        other = next((m for m in left if m.get("name") == want["name"]), left[0])
        verdict = self._one_call(want, other)
        return Verdict(False, verdict.reason, fields=verdict.fields)

    def _exact(self, expected, actual):
        return Verdict(True) if actual.strip() == expected.strip() else Verdict(False, "text differs")

    def _json_cmd(self, expected, actual):
        value, err = parse_json(actual)
        if err:
            return Verdict(False, err)
        if calls_in(parse_json(expected)[0]):  # calls: the functions called (cmd_of: "a+b" for parallel calls)
            said = cmd_of(actual)
            return Verdict(True) if said == cmd_of(expected) else Verdict(False, f"wrong name {said!r}")
        if not isinstance(value, dict) or "cmd" not in value:
            return Verdict(False, "no cmd field")
        want = cmd_of(expected)
        return Verdict(True) if str(value["cmd"]) == want else Verdict(False, f"wrong cmd {str(value['cmd'])!r}")

    def _json_match(self, expected, actual):
        value, err = parse_json(actual)
        if err:
            return Verdict(False, err)
        want, _ = parse_json(expected)
        return Verdict(True) if value == want else Verdict(False, "JSON differs")

    def _custom(self, expected, actual):
        try:
            s = float(self.custom(expected, actual))
        except Exception as exc:  # a bug in the project's scorer must not crash an eval
            return Verdict(False, f"scorer error: {type(exc).__name__}: {exc}")
        return Verdict(True) if s >= self.threshold else Verdict(False, f"score {s:g} < {self.threshold:g}")
