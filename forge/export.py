"""`forge export --format merged`: the best adapter merged into its base, loadable by transformers alone.

The merged weights are saved in 16-bit (bfloat16 by default) with the tokenizer, its chat
template and a generation config whose eos is the tokenizer's end-of-turn token, so the model
stops where it stopped in eval.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from forge.errors import ForgeError
from forge.model_loading import load_for_inference
from forge.project import Project

DTYPES = ("bfloat16", "float16", "float32")


def best_model_dir(project: Project) -> Path:
    best = project.read_state("best_score.json")
    if not best:
        raise ForgeError("nothing promoted yet: run `forge eval` and `forge promote` first")
    path = project.path(best["path"])
    if not path.is_dir():
        raise ForgeError(f"{best['path']}: the promoted adapter is missing")
    return path


def export_merged(project: Project, out: Path | None = None, dtype: str = "bfloat16",
                  model_dir: Path | None = None) -> Path:
    import torch

    if dtype not in DTYPES:
        raise ForgeError(f"--dtype {dtype}: must be one of {', '.join(DTYPES)}")
    src = Path(model_dir) if model_dir else best_model_dir(project)
    out = Path(out) if out else project.output / "export_merged"
    if out.exists() and any(out.iterdir()):
        raise ForgeError(f"{out}: already exists and is not empty; refusing to overwrite")
    model, tokenizer, kind = load_for_inference(src, project.root, "cpu")
    if kind == "adapter":
        model = model.merge_and_unload()
    model = model.to(getattr(torch, dtype))
    eos = tokenizer.eos_token_id
    if eos is not None and model.generation_config is not None:
        model.generation_config.eos_token_id = eos
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    if out.exists():
        out.rmdir()  # empty, checked above
    tmp.rename(out)
    return out
