"""`forge push`: upload the best adapter and a generated model card to promotion.hf_repo.

Uses huggingface_hub with HF_TOKEN (HF_ENDPOINT selects another hub). The card states the base
model, the task (mission.md), the gold accuracy with its 95% interval, the per-cmd table, the
training-set size and provenance mix, the flywheel history and how to load the model.
"""

from __future__ import annotations

import os
from collections import Counter

from forge import records
from forge.datasets import load_examples, provenance
from forge.errors import ForgeError
from forge.export import best_model_dir
from forge.model_loading import read_meta
from forge.project import Project


def model_card(project: Project) -> str:
    cfg, best = project.config, records.best(project)
    meta = read_meta(project.path(best["path"]))
    examples = load_examples(project.canonical_path, missing_ok=True)
    mix = Counter(provenance(e)["source"] for e in examples)
    mission = (project.root / "mission.md").read_text(encoding="utf-8").strip() if (
        project.root / "mission.md").is_file() else cfg.name
    lo, hi = best["ci95"]
    lines = ["---", "library_name: peft" if meta.get("method", "lora") == "lora" else "library_name: transformers",
             f"base_model: {meta.get('base', cfg.model.base)}", "tags: [forge]", "---", "",
             f"# {cfg.name}", "", mission, "",
             "## Gold-set accuracy", "",
             f"{best['accuracy']:.1%} ({best['correct']}/{best['total']}; 95% CI {lo:.1%}–{hi:.1%}), "
             f"iteration {best.get('iteration')}, scorer `{cfg.eval.scorer}`.", "",
             "| cmd | correct | total |", "|---|---|---|"]
    lines += [f"| {c} | {v['correct']} | {v['total']} |" for c, v in best.get("per_cmd", {}).items()]
    lines += ["", "## Training data", "", f"{len(examples)} examples: "
              + ", ".join(f"{n} {s}" for s, n in mix.most_common()) + ".", "",
              f"Method: {meta.get('method', 'lora')}, backend {meta.get('backend', '?')}, "
              f"{meta.get('epochs_run', '?')} epochs, final loss {meta.get('final_loss', '?')}.", "",
              "## Flywheel history", "", "| iteration | accuracy | hypothesis |", "|---|---|---|"]
    lines += [f"| {'base' if r.get('kind') == 'baseline' else r['iteration']} | {r['accuracy']:.1%} | {r['hypothesis']} |"
              for r in records.experiments(project, baseline=True)]
    repo = cfg.promotion.hf_repo
    if meta.get("method", "lora") == "lora":
        load = ['from peft import AutoPeftModelForCausalLM', f'model = AutoPeftModelForCausalLM.from_pretrained("{repo}")']
    else:
        load = ["from transformers import AutoModelForCausalLM", f'model = AutoModelForCausalLM.from_pretrained("{repo}")']
    lines += ["", "## How to load", "", "```python", *load,
              "from transformers import AutoTokenizer", f'tokenizer = AutoTokenizer.from_pretrained("{repo}")', "```",
              "", "Use the same system prompt as in training:", "", "```",
              (project.root / "system_prompt.md").read_text(encoding="utf-8").strip()
              if (project.root / "system_prompt.md").is_file() else "", "```", ""]
    return "\n".join(lines)


def push(project: Project) -> dict:
    repo = project.config.promotion.hf_repo
    if not repo:
        raise ForgeError("promotion.hf_repo: not set in forge.yaml (the repo to push to, e.g. you/intent-router)")
    token = os.environ.get("HF_TOKEN")
    if not token:
        raise ForgeError("HF_TOKEN is not set: create a write token on your hub account and export HF_TOKEN=...")
    src = best_model_dir(project)
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(token=token)
    api.create_repo(repo, private=project.config.promotion.private, exist_ok=True, repo_type="model")
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.name != "README.md")
    ops = [CommitOperationAdd(path_in_repo=str(p.relative_to(src)), path_or_fileobj=str(p)) for p in files]
    ops.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=model_card(project).encode()))
    best = records.best(project)
    info = api.create_commit(repo, ops, commit_message=f"forge: best adapter, gold accuracy {best['accuracy']:.1%}")
    return {"repo": repo, "commit_url": info.commit_url, "files": [op.path_in_repo for op in ops]}
