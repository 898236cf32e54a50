"""`forge probe`: what does the model know about the domain, before and after training?

dataset/probe.jsonl holds {"question", "ideal"} lines. Each question is answered greedily by the
base (or a given adapter / merged model) and scored against `ideal`: by an LLM judge when a key
is set (rubric in prompts/probe_judge.md: 1 same facts, 0.5 partly right, 0 wrong), otherwise by
token F1 (SQuAD-style: normalized word overlap). Results go to output/probe_<TAG>.json. The
`pre` record is permanent, and every record carries the probe file's hash: `--compare` refuses
records made from different questions.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from forge.atomic import write_json_atomic
from forge.clock import now
from forge.data.datasets import normalize
from forge.errors import ForgeError
from forge.hashing import content_hash
from forge.jsonl import read_jsonl
from forge.llm import prompts as prompts_io
from forge.llm.client import Ledger, has_credentials, make_client, output_config, retrying
from forge.project.project import Project
from forge.remote.mark import remote_step

JUDGE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["score", "reason"],
    "properties": {"score": {"type": "number"}, "reason": {"type": "string"}},
}


def load_probe(project: Project) -> tuple[list[dict], str]:
    """(items, hash) of the probe file, or a file:line error."""
    path, rel = project.path(project.config.dataset.probe), project.config.dataset.probe
    if not path.is_file():
        raise ForgeError(f'{rel}: not found (one {{"question": ..., "ideal": ...}} object per line)')
    items = []
    for n, obj in read_jsonl(path, rel):
        if not (
            isinstance(obj, dict)
            and isinstance(obj.get("question"), str)
            and isinstance(obj.get("ideal"), str)
            and obj["question"].strip()
        ):
            raise ForgeError(f'{rel}:{n}: expected {{"question": "...", "ideal": "..."}}')
        items.append({"question": obj["question"], "ideal": obj["ideal"]})
    if not items:
        raise ForgeError(f"{rel}: no questions")
    digest = content_hash(json.dumps(items, sort_keys=True))
    return items, digest


def token_f1(answer: str, ideal: str) -> float:
    a, b = normalize(answer).split(), normalize(ideal).split()
    if not a or not b:
        return float(a == b)
    common = sum((Counter(a) & Counter(b)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(a), common / len(b)
    return 2 * precision * recall / (precision + recall)


@remote_step(lambda _project, _answers: [])
def answer_questions(project: Project, questions: list[str], model_dir: Path | None) -> tuple[list[str], str]:
    from forge.inference.constrained import project_constraint
    from forge.inference.generate import generate
    from forge.models.loading import (
        load_causal_lm,
        load_for_inference,
        load_tokenizer,
        ready_for_generation,
        resolve_base,
        resolve_runtime,
    )

    device = resolve_runtime(project.config.compute.device, load_in_4bit=False).device
    if model_dir:
        model, tok, _ = load_for_inference(Path(model_dir), project.root, device, project.config.eval.precision)
        identity = project.rel(model_dir)
    else:
        base = resolve_base(project.config.model.base, project.root)
        model, tok, identity = load_causal_lm(base, device), load_tokenizer(base), project.config.model.base
        model = ready_for_generation(model, project.config.eval.precision, device)
    if tok.chat_template:
        prompts = [
            tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
            for q in questions
        ]
    else:
        prompts = [f"Question: {q}\nAnswer:" for q in questions]
    cfg = project.config.eval
    answers = generate(
        model, tok, prompts, cfg.max_new_tokens, cfg.batch_size, device, None, project_constraint(project, tok)
    )
    return [a.strip() for a in answers], identity


def _judge(project: Project, items: list[dict], answers: list[str]) -> list[tuple[float, str]]:
    cfg = project.config
    client, ledger, model = make_client(cfg), Ledger.for_project(project), cfg.datagen.model
    out = []
    for item, answer in zip(items, answers, strict=True):
        prompt = prompts_io.render(
            "probe_judge", project, question=item["question"], ideal=item["ideal"], answer=answer or "(empty)"
        )
        msg = retrying(
            lambda p=prompt: client.messages.create(
                model=model,
                max_tokens=1000,
                messages=[{"role": "user", "content": p}],
                output_config=output_config(cfg.llm.datagen_effort, JUDGE_SCHEMA),
            ),
            cfg.llm.max_retries,
        )
        ledger.record(model, msg.usage, "probe")
        try:
            verdict = json.loads("".join(b.text for b in msg.content if b.type == "text"))
            out.append((min(1.0, max(0.0, float(verdict["score"]))), str(verdict["reason"])))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            out.append((0.0, "judge returned invalid JSON; scored 0"))
    return out


def run_probe(project: Project, tag: str, model_dir: Path | None = None) -> dict:
    path = project.output / f"probe_{tag}.json"
    if tag == "pre" and path.exists():
        raise ForgeError("output/probe_pre.json already exists; the `pre` record is permanent (use another tag)")
    items, digest = load_probe(project)
    answers, identity = answer_questions(project, [i["question"] for i in items], model_dir)
    if has_credentials(project.config):
        scored, scorer = _judge(project, items, answers), f"judge:{project.config.datagen.model}"
    else:
        scored, scorer = (
            [(token_f1(a, i["ideal"]), "token F1") for i, a in zip(items, answers, strict=True)],
            "token_f1",
        )
    rows = [
        {**i, "answer": a, "score": round(s, 4), "reason": r}
        for i, a, (s, r) in zip(items, answers, scored, strict=True)
    ]
    record = {
        "tag": tag,
        "time": now(),
        "model": identity,
        "probe_hash": digest,
        "scorer": scorer,
        "mean": round(sum(r["score"] for r in rows) / len(rows), 4),
        "items": rows,
    }
    write_json_atomic(path, record)
    return record


def compare(project: Project, before: str = "pre", after: str = "post") -> list[tuple[str, float, float]]:
    """(question, before, after) rows plus a final ("mean", ...) row; refuses mismatched probes."""
    recs = []
    for tag in (before, after):
        rec = project.read_state(f"probe_{tag}.json")
        if rec is None:
            raise ForgeError(f"output/probe_{tag}.json: not found (run `forge probe --tag {tag}`)")
        recs.append(rec)
    _, digest = load_probe(project)
    if not recs[0]["probe_hash"] == recs[1]["probe_hash"] == digest:
        raise ForgeError("probe questions changed between the records (or since): the comparison would be meaningless")
    if recs[0]["scorer"] != recs[1]["scorer"]:
        raise ForgeError(f"the records were scored differently ({recs[0]['scorer']} vs {recs[1]['scorer']})")
    rows = [(a["question"], a["score"], b["score"]) for a, b in zip(recs[0]["items"], recs[1]["items"], strict=True)]
    return rows + [("mean", recs[0]["mean"], recs[1]["mean"])]
