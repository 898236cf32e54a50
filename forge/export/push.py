"""`forge push`: upload the best adapter and a generated model card to hub.hf_repo.

Uses huggingface_hub with its token (`huggingface_hub.get_token()`: HF_TOKEN, else the token of
`hf auth login`; HF_ENDPOINT selects another hub). The card's metadata is huggingface_hub's
ModelCardData: `base_model` is the base's hub id, or absent when the base is local (the Hub
refuses a path there); library_name, pipeline_tag, tags and a model-index with the gold
accuracy and its 95% interval. The body states the task (mission.md), the per-cmd table, the
training-set size and provenance mix, the flywheel history and how to load the model. Uploaded
JSON files carry no absolute local paths: each becomes the hub id, a project-relative path or
a bare name.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from forge.data.datasets import load_examples, provenance
from forge.errors import ForgeError
from forge.export.ship import best_model_dir, promoted
from forge.models.importing import hub_base_id, public_name
from forge.project import gap, records
from forge.project.project import Project
from forge.project.records import read_meta
from forge.text import one_line


def card_data(project: Project, meta: dict, best: dict):
    from huggingface_hub import EvalResult, ModelCardData

    cfg = project.config
    lora = meta.get("method", "lora") == "lora"
    lo, hi = best["ci95"]
    gold = EvalResult(
        task_type="text-generation",
        dataset_type="gold",
        dataset_name=f"{cfg.name} gold set",
        dataset_split="gold",
        metric_type="accuracy",
        metric_value=round(best["accuracy"], 4),
        metric_name=f"gold accuracy ({best['correct']}/{best['total']}, 95% CI {lo:.3f}-{hi:.3f})",
        metric_args={"ci95_low": lo, "ci95_high": hi, "scorer": cfg.eval.scorer},
    )
    return ModelCardData(
        base_model=hub_base_id(project.root, meta.get("base", cfg.model.base)),
        library_name="peft" if lora else "transformers",
        pipeline_tag="text-generation",
        tags=["forge", "lora" if lora else "full-fine-tune"],
        model_name=cfg.name,
        eval_results=[gold],
    )


def model_card(project: Project) -> str:
    cfg, best = project.config, promoted(project)
    meta = read_meta(project.path(best["path"]))
    examples = load_examples(project.canonical_path, missing_ok=True)
    mix = Counter(provenance(e)["source"] for e in examples)
    mission_path = project.root / records.MISSION_FILE
    mission = mission_path.read_text(encoding="utf-8").strip() if mission_path.is_file() else cfg.name
    lo, hi = best["ci95"]
    lines = [
        "---",
        card_data(project, meta, best).to_yaml(),
        "---",
        "",
        f"# {cfg.name}",
        "",
        mission,
        "",
        "## Gold-set accuracy",
        "",
        f"{best['accuracy']:.1%} ({best['correct']}/{best['total']}; 95% CI {lo:.1%}–{hi:.1%}), "
        f"iteration {best.get('iteration')}, scorer `{cfg.eval.scorer}`.",
        "",
    ]
    g = gap.gap(project)
    if g:
        lines += [
            f"Against the teacher ({g['teacher_model']}, asked with the same system prompt and training "
            f"examples as shots): {gap.gap_text(g)}.",
            "",
        ]
    lines += ["| cmd | correct | total |", "|---|---|---|"]
    lines += [f"| {c} | {v['correct']} | {v['total']} |" for c, v in best.get("per_cmd", {}).items()]
    lines += [
        "",
        "## Training data",
        "",
        f"{len(examples)} examples: " + ", ".join(f"{n} {s}" for s, n in mix.most_common()) + ".",
        "",
        f"Method: {meta.get('method', 'lora')}, backend {meta.get('backend', '?')}, "
        f"{meta.get('epochs_run', '?')} epochs, final loss {meta.get('final_loss', '?')}.",
        "",
        "## Flywheel history",
        "",
        "| iteration | accuracy | hypothesis |",
        "|---|---|---|",
    ]
    lines += [
        f"| {'base' if records.is_baseline(r) else r['iteration']} | {r['accuracy']:.1%} | {r['hypothesis']} |"
        for r in records.experiments(project, baseline=True)
    ]
    repo = cfg.hub.hf_repo
    if meta.get("method", "lora") == "lora":
        load = [
            "from peft import AutoPeftModelForCausalLM",
            f'model = AutoPeftModelForCausalLM.from_pretrained("{repo}")',
        ]
    else:
        load = [
            "from transformers import AutoModelForCausalLM",
            f'model = AutoModelForCausalLM.from_pretrained("{repo}")',
        ]
    lines += [
        "",
        "## How to load",
        "",
        "```python",
        *load,
        "from transformers import AutoTokenizer",
        f'tokenizer = AutoTokenizer.from_pretrained("{repo}")',
        "```",
        "",
        "Use the same system prompt as in training:",
        "",
        "```",
        project.system_prompt().strip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def scrub_paths(value, project: Project, base_ref: str):
    """`value` (parsed JSON) with every absolute path replaced: the base model's by `base_ref`, one inside the
    project by its relative path, any other by its bare name."""
    if isinstance(value, dict):
        return {k: scrub_paths(v, project, base_ref) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_paths(v, project, base_ref) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        path = Path(value)
        base = Path(project.config.model.base)
        if path == (base if base.is_absolute() else project.root / base).resolve():
            return base_ref
        return project.rel(path) if path.is_relative_to(project.root) else path.name
    return value


def _payload(path: Path, project: Project, base_ref: str):
    if path.suffix != ".json":
        return str(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    return (json.dumps(scrub_paths(data, project, base_ref), indent=2, ensure_ascii=False) + "\n").encode()


def push(project: Project) -> dict:
    repo = project.config.hub.hf_repo
    if not repo:
        raise ForgeError("hub.hf_repo: not set in forge.yaml (the repo to push to, e.g. you/intent-router)")
    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    token = get_token()
    if not token:
        raise ForgeError("no hub token: `hf auth login`, or create a write token and export HF_TOKEN=...")
    src = best_model_dir(project)
    meta = read_meta(src)
    base_ref = public_name(project.root, meta.get("base", project.config.model.base))
    api = HfApi(token=token)
    api.create_repo(repo, private=project.config.hub.private, exist_ok=True, repo_type="model")
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.name != "README.md")
    ops = [
        CommitOperationAdd(path_in_repo=str(p.relative_to(src)), path_or_fileobj=_payload(p, project, base_ref))
        for p in files
    ]
    ops.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=model_card(project).encode()))
    best = promoted(project)
    try:
        info = api.create_commit(repo, ops, commit_message=f"forge: best adapter, gold accuracy {best['accuracy']:.1%}")
    except ValueError as exc:  # the hub's metadata check of README.md
        raise ForgeError(f"{repo}: the hub refused the model card: {one_line(exc)}") from None
    return {"repo": repo, "commit_url": info.commit_url, "files": [op.path_in_repo for op in ops]}
