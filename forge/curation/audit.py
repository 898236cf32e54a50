"""`forge audit [--fix]`: the LLM reviews every training example; fixes are applied atomically.

Examples are reviewed in chunks; each gets a severity (error > warning > info > ok), an issue and
a suggested fix. With --fix, examples at or above the chosen severity are rewritten in place
after a backup in output/backups/; each fix is re-validated (chat format, the scorer's JSON
rules, the gold guard) and its provenance becomes audit-fix (the original source kept).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from forge.curation.cleaning import backup
from forge.curation.datagen import answer_problem
from forge.data.datasets import assistant_text, example_problem, load_examples, rewrite_examples, stamp, user_text
from forge.errors import ForgeError
from forge.llm import prompts as prompts_io
from forge.llm.client import Ledger, make_client, output_config, retrying
from forge.locks import file_lock
from forge.project.project import Project
from forge.project.run_lock import holds_run_lock

SEVERITIES = ("ok", "info", "warning", "error")
CHUNK = 25
FINDINGS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["findings"],
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["index", "severity", "issue", "suggested_fix"],
                "properties": {
                    "index": {"type": "integer"},
                    "severity": {"type": "string", "enum": list(SEVERITIES)},
                    "issue": {"type": "string"},
                    "suggested_fix": {
                        "anyOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["user", "assistant"],
                                "properties": {"user": {"type": "string"}, "assistant": {"type": "string"}},
                            },
                        ]
                    },
                },
            },
        }
    },
}


@dataclass
class Finding:
    index: int
    severity: str
    issue: str
    suggested_fix: dict | None
    fixed: str = ""  # "", "fixed", or why the fix was not applied


def _review_chunk(client, project, examples, start: int, ledger) -> list[Finding]:
    cfg = project.config
    shown = "\n".join(
        json.dumps({"index": start + i, "user": user_text(e), "assistant": assistant_text(e)}, ensure_ascii=False)
        for i, e in enumerate(examples)
    )
    prompt = prompts_io.render("datagen_audit", project, examples=shown)
    msg = retrying(
        lambda: client.messages.create(
            model=cfg.datagen.model,
            max_tokens=16000,
            messages=[{"role": "user", "content": prompt}],
            output_config=output_config(cfg.llm.datagen_effort, FINDINGS_SCHEMA),
        ),
        cfg.llm.max_retries,
    )
    ledger.record(cfg.datagen.model, msg.usage, "audit")
    text = "".join(b.text for b in msg.content if b.type == "text")
    try:
        raw = json.loads(text)["findings"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ForgeError(
            f"audit: the model returned invalid JSON for examples {start}-{start + len(examples) - 1}"
        ) from None
    valid = range(start, start + len(examples))
    return [Finding(f["index"], f["severity"], f["issue"], f.get("suggested_fix")) for f in raw if f["index"] in valid]


def audit(project: Project, progress=None) -> tuple[list[dict], list[Finding]]:
    examples = load_examples(project.canonical_path, project.rel(project.canonical_path), missing_ok=True)
    if not examples:
        raise ForgeError(f"{project.rel(project.canonical_path)}: no training examples to audit")
    client, ledger = make_client(project.config), Ledger.for_project(project)
    findings: list[Finding] = []
    for start in range(0, len(examples), CHUNK):
        findings += _review_chunk(client, project, examples[start : start + CHUNK], start, ledger)
        if progress:
            progress(min(CHUNK, len(examples) - start))
    return examples, sorted(findings, key=lambda f: f.index)


@holds_run_lock("audit --fix")
def apply_fixes(project: Project, examples: list[dict], findings: list[Finding], min_severity: str) -> int:
    """Rewrite flagged examples at or above min_severity; returns how many were fixed."""
    threshold = SEVERITIES.index(min_severity)
    gold_guard, scorer, schema = project.gold_guard(), project.config.eval.scorer, project.output_schema()
    fixed = list(examples)
    count = 0
    for f in findings:
        if SEVERITIES.index(f.severity) < threshold or f.severity == "ok":
            continue
        if not f.suggested_fix:
            f.fixed = "no suggested fix"
            continue
        old = examples[f.index]
        system = [m for m in old["messages"] if m["role"] == "system"]
        new = {
            "messages": system
            + [
                {"role": "user", "content": f.suggested_fix["user"]},
                {"role": "assistant", "content": f.suggested_fix["assistant"]},
            ]
        }
        problem = (
            example_problem(new)
            or answer_problem(new, scorer)
            or (schema.violation(assistant_text(new)) if schema else None)
        )
        if problem:
            f.fixed = f"fix rejected: {problem}"
            continue
        if gold_guard.is_gold_like(user_text(new), assistant_text(new)):
            f.fixed = "fix rejected: gold near-duplicate"
            continue
        original = (old.get("provenance") or {"source": "hand"}).get("source")
        fixed[f.index] = stamp(new, "audit-fix", original_source=original, issue=f.issue[:200])
        f.fixed = "fixed"
        count += 1
    if count:
        # The review took minutes; examples imported meanwhile stay. Each fix replaces its original where it
        # still is, in the file as it is now, under the file's lock.
        replaced = {_key(examples[f.index]): fixed[f.index] for f in findings if f.fixed == "fixed"}
        path = project.canonical_path
        with file_lock(path):
            current = load_examples(path, project.rel(path), missing_ok=True)
            backup(project)
            rewrite_examples(path, [replaced.get(_key(e), e) for e in current])
    return count


def _key(example: dict) -> str:
    return json.dumps(example, sort_keys=True, ensure_ascii=False)
