"""`forge export`: the best adapter merged into its base, as a transformers model or a GGUF file.

`merged`: the weights saved in 16-bit (bfloat16 by default) with the tokenizer, its chat
template and a generation config whose end ids are the base's plus the tokenizer's end-of-turn
token, so the model stops where it stopped in eval. `gguf`: one file for llama.cpp / Ollama (forge/export/gguf/convert.py)
with an Ollama Modelfile beside it (forge/export/modelfile.py), optionally checked against the
transformers model on the gold prompts (forge/export/gguf/verify.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from forge.atomic import write_bytes_atomic, write_json_atomic
from forge.errors import ForgeError
from forge.models.loading import load_for_inference
from forge.project import records
from forge.project.project import Project
from forge.project.records import read_meta
from forge.remote.mark import Pull, remote_step

DTYPES = ("bfloat16", "float16", "float32")


def promoted(project: Project) -> dict:
    """The best record (output/best.json), or a ForgeError saying nothing is promoted yet."""
    best = records.best(project)
    if not best:
        raise ForgeError("nothing promoted yet: run `forge eval` and `forge promote` first")
    return best


def best_model_dir(project: Project) -> Path:
    best = promoted(project)
    path = project.path(best["path"])
    if not path.is_dir():
        raise ForgeError(f"{best['path']}: the promoted adapter is missing")
    return path


def _fresh(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise ForgeError(f"{out}: already exists and is not empty; refusing to overwrite")


def end_ids(declared, eos: int | None):
    """Every end id the base declares (Gemma-3-IT: [1, 106], eos and end-of-turn) plus the tokenizer's eos, in
    that order; a single id stays an int."""
    ids = list(declared) if isinstance(declared, (list, tuple)) else [] if declared is None else [declared]
    if eos is not None and eos not in ids:
        ids.append(eos)
    return ids[0] if len(ids) == 1 else ids or None


def _merged_model(project: Project, model_dir: Path):
    model, tokenizer, _kind = load_for_inference(model_dir, project.root, "cpu")  # an adapter comes merged
    return model, tokenizer


@remote_step(lambda project, out: [Pull(project.rel(out), "dir")])
def export_merged(
    project: Project, out: Path | None = None, dtype: str = "bfloat16", model_dir: Path | None = None
) -> Path:
    import torch

    if dtype not in DTYPES:
        raise ForgeError(f"--dtype {dtype}: must be one of {', '.join(DTYPES)}")
    out = Path(out) if out else project.output / "export_merged"
    _fresh(out)
    model, tokenizer = _merged_model(project, Path(model_dir) if model_dir else best_model_dir(project))
    model = model.to(getattr(torch, dtype))
    if model.generation_config is not None:
        model.generation_config.eos_token_id = end_ids(model.generation_config.eos_token_id, tokenizer.eos_token_id)
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    if out.exists():
        out.rmdir()  # empty, checked above
    tmp.rename(out)
    return out


def base_import_record(project: Project) -> dict:
    """forge_import.json of the base (pre-tokenizer, license), or {} when it was not imported."""
    from forge.models.importing import read_import_record
    from forge.models.loading import resolve_base

    try:
        return read_import_record(Path(resolve_base(project.config.model.base, project.root)))
    except ForgeError:
        return {}


def gold_prompts(project: Project, tokenizer, gold: list[dict] | None = None) -> list[str]:
    """The gold prompts exactly as `forge eval` renders them (`gold`: the gold set, already read)."""
    from forge.data.datasets import load_examples
    from forge.evaluation.runner import eval_prompts

    if gold is None:
        gold = load_examples(project.gold_path, project.config.dataset.gold, missing_ok=True)
    if not gold:
        raise ForgeError(f"{project.config.dataset.gold}: no gold examples to verify the GGUF on")
    return eval_prompts(project, tokenizer, gold)


def write_contract(out: Path, gguf_name: str, schema, layout: str) -> dict:
    """The output schema and its GBNF grammar beside the GGUF (same stem), for Ollama's `format` and
    llama-server's --json-schema-file / --grammar-file."""
    import json

    from forge.inference.gbnf import gbnf

    stem = Path(gguf_name).stem
    schema_path, grammar_path = out / f"{stem}.schema.json", out / f"{stem}.gbnf"
    write_bytes_atomic(schema_path, (json.dumps(schema.schema, indent=2) + "\n").encode())
    write_bytes_atomic(grammar_path, gbnf(schema.schema, layout).encode())
    return {"schema": schema_path, "grammar": grammar_path}


class GgufVerifyFailed(ForgeError):
    """`export_gguf(verify=True)` wrote a file that does not answer as the model it came from; `info` is everything
    the export wrote and measured (verify.json beside the file holds the details)."""

    def __init__(self, message: str, info: dict):
        super().__init__(message)
        self.info = info


def verify_failure(v: dict) -> str:
    """What a failed verify (verify.json's record) found, in one line."""
    first = v["mismatches"][0]
    what = (
        f"{v['prompts'] - v['tokens_match']}/{v['prompts']} gold prompts tokenized differently"
        if v["tokens_match"] < v["prompts"]
        else f"the GGUF gets {v['lost']} gold answers wrong that the transformers model gets right, beyond "
        f"near-ties (allowed {v['lost_allowed']}; gold {v['gguf_correct']} vs {v['transformers_correct']})"
    )
    return (
        f"{what}; first: transformers {first['transformers']!r}, llama.cpp {first['llama_cpp']!r}: "
        f"{first['why']}; details in verify.json"
    )


def export_gguf(
    project: Project, out: Path | None = None, quant: str = "f16", model_dir: Path | None = None, verify: bool = False
) -> dict:
    """Write model.gguf (+ Modelfile) for the best adapter; with `verify`, compare it on the gold prompts and raise
    GgufVerifyFailed when it does not pass (here, after a compute.remote export has brought its files back)."""
    info = _export_gguf(project, out, quant, model_dir, verify)
    if verify and not info["verify"]["passed"]:
        raise GgufVerifyFailed(verify_failure(info["verify"]), info)
    return info


@remote_step(lambda project, info: [Pull(project.rel(info["path"].parent), "dir")])
def _export_gguf(project: Project, out: Path | None, quant: str, model_dir: Path | None, verify: bool) -> dict:
    from forge.data.datasets import load_examples
    from forge.export.gguf.convert import QUANTS, write_gguf
    from forge.export.gguf.quantize import K_QUANT_AGREEMENT, K_QUANTS, quantize
    from forge.export.gguf.vocab import build_vocab
    from forge.export.modelfile import modelfile_text
    from forge.inference.constrained import project_layout
    from forge.models.importing import public_name

    if quant not in (*QUANTS, *K_QUANTS):
        raise ForgeError(f"--quant {quant}: must be one of {', '.join((*QUANTS, *K_QUANTS))}")
    out = Path(out) if out else project.output / f"export_gguf_{quant}"
    _fresh(out)
    src = Path(model_dir) if model_dir else best_model_dir(project)
    model, tokenizer = _merged_model(project, src)
    model = model.float()
    imported = base_import_record(project)
    vocab = build_vocab(tokenizer, model.get_input_embeddings().weight.shape[0], imported.get("gguf_pre"))
    name = f"{project.root.name}-{quant}.gguf"
    schema = project.output_schema()
    gold = load_examples(project.gold_path, project.config.dataset.gold, missing_ok=True)
    modelfile = modelfile_text(
        name,
        tokenizer,
        vocab.stop_strings,
        project.system_prompt(),
        vocab.add_bos,
        contract=bool(schema),
        tools=any(e.get("tools") for e in gold),
    )
    prompts = gold_prompts(project, tokenizer, gold) if verify else []
    out.mkdir(parents=True, exist_ok=True)
    about = {
        "name": project.root.name,
        "license": imported.get("license"),
        "base": public_name(project.root, read_meta(src).get("base", project.config.model.base)),
    }
    if quant in K_QUANTS:  # llama.cpp's quantizer works from the f16 file
        f16 = out / f".{name}.f16"
        info = write_gguf(model, vocab, f16, "f16", about)
        try:
            quantize(f16, out / name, quant)
        finally:
            f16.unlink(missing_ok=True)
        info.update(path=out / name, quant=quant, bytes=(out / name).stat().st_size)
    else:
        info = write_gguf(model, vocab, out / name, quant, about)
    write_bytes_atomic(out / "Modelfile", modelfile.encode())
    info.update(modelfile=out / "Modelfile", pre_tokenizer=vocab.pre, stop=vocab.stop_strings)
    layout = project_layout(project)
    if schema:
        info.update(write_contract(out, name, schema, layout))
    if verify:
        from forge.evaluation.runner import score_set, scored_answers
        from forge.evaluation.scorers import Scorer
        from forge.export.gguf.verify import near_tie_margin, verify_gguf
        from forge.inference.constrained import example_constraints

        scorer = Scorer.for_project(project, schema)
        info["verify"] = verify_gguf(
            out / name,
            model,
            tokenizer,
            prompts,
            project.config.eval.max_new_tokens,
            project.config.eval.batch_size,  # as eval batches: 64 rows of a 1,300-token conversation took 13 GB
            required=K_QUANT_AGREEMENT if quant in K_QUANTS else 1.0,
            near_tie=near_tie_margin(quant),
            constraints=example_constraints(project, tokenizer, gold, schema),
            score=lambda answers: [v.correct for v in score_set(gold, scored_answers(gold, answers), scorer)[0]],
        )
        write_json_atomic(out / "verify.json", info["verify"])
    return info
