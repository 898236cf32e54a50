"""`forge judge calibrate FILE`: how far the judge scorer agrees with a person's labels.

FILE holds one {"input", "expected", "answer", "label"} object per line, `label` true when the answer is
correct (a person's verdict). The project's judge (same model, rubric, cache) scores every answer; the
result is the agreement, Cohen's kappa (agreement beyond chance) and the confusion table, recorded in
output/judge_calibration.json with the judge's rubric hash, so `forge status` can show it beside the
scorer and say when the rubric or model changed since.
"""

from __future__ import annotations

from pathlib import Path

from forge.atomic import write_json_atomic
from forge.clock import now
from forge.data.datasets import file_hash
from forge.errors import ForgeError
from forge.evaluation.judge import Judge, JudgeItem
from forge.evaluation.stats import cohen_kappa
from forge.jsonl import read_jsonl
from forge.project.project import Project
from forge.project.records import JUDGE_CALIBRATION
from forge.result_lines import ResultLine, fraction


def load_labels(path: Path, display: str) -> list[tuple[int, JudgeItem, bool]]:
    """(line, item, label) for each line of a hand-labelled file, or a file:line error."""
    out = []
    for n, obj in read_jsonl(path, display):
        if not isinstance(obj, dict) or not all(isinstance(obj.get(k), str) for k in ("input", "expected", "answer")):
            raise ForgeError(
                f'{display}:{n}: expected {{"input": "...", "expected": "...", "answer": "...", "label": true|false}}'
            )
        if not isinstance(obj.get("label"), bool):
            raise ForgeError(f"{display}:{n}: label must be true (the answer is correct) or false")
        out.append((n, JudgeItem(obj["input"], obj["expected"], obj["answer"]), obj["label"]))
    if not out:
        raise ForgeError(f"{display}: no labelled answers")
    return out


def calibrate(project: Project, path: Path, warn=None) -> dict:
    display = str(path)
    if not path.is_file():
        raise ForgeError(f"{display}: not found")
    rows = load_labels(path, display)
    judge = Judge(project, warn)
    verdicts = judge.verdicts([item for _, item, _ in rows])
    pairs = [(label, v.correct) for (_, _, label), v in zip(rows, verdicts, strict=True)]
    confusion = {
        "both_correct": sum(a and b for a, b in pairs),
        "both_wrong": sum(not a and not b for a, b in pairs),
        "judge_too_lenient": sum(not a and b for a, b in pairs),
        "judge_too_strict": sum(a and not b for a, b in pairs),
    }
    kappa = cohen_kappa(pairs)
    record = {
        "time": now(),
        "file": display,
        "file_hash": file_hash(path),
        "items": len(rows),
        "agreement": round(sum(a == b for a, b in pairs) / len(pairs), 4),
        "kappa": None if kappa is None else round(kappa, 4),
        "confusion": confusion,
        "judge_errors": sum(v.error for v in verdicts),
        "disagreements": [n for (n, _, _), (a, b) in zip(rows, pairs, strict=True) if a != b],
        **{k: v for k, v in judge.summary().items() if k in ("model", "rubric_hash", "cost_usd")},
    }
    write_json_atomic(project.output / JUDGE_CALIBRATION, record)
    return record


def confusion_table(c: dict) -> str:
    """Hand labels against the judge's verdicts, two by two."""
    return (
        f"{'':<18}{'judge: correct':>16}{'judge: wrong':>14}\n{'label: correct':<18}{c['both_correct']:>16}"
        f"{c['judge_too_strict']:>14}\n{'label: wrong':<18}{c['judge_too_lenient']:>16}{c['both_wrong']:>14}"
    )


def calibration_lines(rec: dict, file: Path) -> list[ResultLine]:
    """`forge judge calibrate`'s result lines: agreement, kappa, the confusion table, where they disagree."""
    kappa = "n/a (one label throughout)" if rec["kappa"] is None else fraction(rec["kappa"])
    lines = [
        ResultLine("items", rec["items"], str(rec["items"])),
        ResultLine("agreement", rec["agreement"], fraction(rec["agreement"])),
        ResultLine("kappa", rec["kappa"], kappa),
        ResultLine("confusion", rec["confusion"], "\n" + confusion_table(rec["confusion"])),
    ]
    if rec["judge_errors"]:
        lines.append(ResultLine("judge_errors", rec["judge_errors"], str(rec["judge_errors"])))
    wrong = rec["disagreements"]
    shown = ", ".join(f"{file}:{n}" for n in wrong[:10]) + (" ..." if len(wrong) > 10 else "")
    lines.append(ResultLine("disagreements", wrong, shown or "none"))
    return lines + [ResultLine("cost_usd", rec["cost_usd"], f"${rec['cost_usd']:.4f}")]
