"""Domain knowledge and shipping: probe, pretrain, export, push."""

from __future__ import annotations

from pathlib import Path

import click

from forge.cli.options import CommandOutput, json_option, open_project, project_option, wait_option
from forge.errors import ForgeError
from forge.export.gguf.convert import QUANTS
from forge.export.gguf.quantize import K_QUANTS
from forge.export.ship import DTYPES


@click.command("probe")
@project_option
@click.option("--tag", default=None, help="Record name: output/probe_TAG.json (`pre` is permanent).")
@click.option(
    "--adapter",
    "model_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="Answer with this adapter or merged model instead of model.base.",
)
@click.option("--compare", is_flag=True, help="Print the per-question delta between the pre and post records.")
@click.option("--before", default="pre", show_default=True, help="With --compare: the earlier tag.")
@click.option("--after", default="post", show_default=True, help="With --compare: the later tag.")
def probe_cmd(project_dir, tag, model_dir, compare, before, after):
    """Score what the model knows: answers to dataset/probe.jsonl against their ideal answers."""
    from forge.evaluation import probe

    project = open_project(project_dir)
    if compare:
        rows = probe.compare(project, before, after)
        width = min(60, max(len(q) for q, _, _ in rows))
        click.echo(f"{'question':<{width}}  {before:>6}  {after:>6}  {'delta':>6}")
        for q, a, b in rows:
            click.echo(f"{q[:width]:<{width}}  {a:>6.3f}  {b:>6.3f}  {b - a:>+6.3f}")
        return
    if not tag:
        raise click.UsageError("--tag is required (or --compare)")
    rec = probe.run_probe(project, tag, model_dir)
    click.echo(f"probe: output/probe_{tag}.json")
    click.echo(f"model: {rec['model']}")
    click.echo(f"scorer: {rec['scorer']}")
    click.echo(f"mean: {rec['mean']:.4f}")


@click.command("pretrain")
@wait_option
@project_option
@click.option("--epochs", type=click.IntRange(1, 100), default=None, help="Default: pretrain.epochs.")
def pretrain_cmd(project_dir, epochs):
    """Continued LoRA pretraining on the corpus, merged into output/pretrain_merged/."""
    from forge.training.pretrain import pretrain

    info = pretrain(open_project(project_dir), epochs, echo=click.echo)
    click.echo(f"merged: {info['path']}")
    click.echo(f"tokens: {info['tokens']}")
    click.echo(f"loss_before: {info['loss_before']}")
    click.echo(f"loss_after: {info['loss_after']}")
    click.echo(f"next: set model.base to {info['path']} in forge.yaml, then `forge train`")


@click.command("export")
@project_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["merged", "gguf"]),
    default="merged",
    show_default=True,
    help="merged: a transformers model directory; gguf: one file for llama.cpp / Ollama, with a Modelfile.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Default: output/export_merged/ or output/export_gguf_QUANT/.",
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default="bfloat16",
    show_default=True,
    help="merged only: the saved weights' type.",
)
@click.option(
    "--quant",
    type=click.Choice([*QUANTS, *K_QUANTS]),
    default="f16",
    show_default=True,
    help="gguf only: the weights' type (norms and biases stay f32); q4_k_m, q5_k_m and q6_k are made from "
    "the f16 file by llama.cpp's quantizer (the llama-cpp extra).",
)
@click.option(
    "--verify",
    is_flag=True,
    help="gguf only: run the GGUF in llama.cpp (llama-cpp-python) on the gold prompts and compare tokens, "
    "logits and greedy answers with the transformers model (both under eval.output_schema when set), and "
    "score both with the project's scorer; exit 1 when the GGUF loses gold answers beyond near-ties (a "
    "flip where the transformers model's own margin is below the threshold for --quant).",
)
@click.option(
    "--adapter",
    "model_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="Export this adapter instead of the promoted best.",
)
@json_option
def export_cmd(project_dir, fmt, out, dtype, quant, verify, model_dir, as_json):
    """Merge the best adapter into its base: a transformers model, or a GGUF for llama.cpp and Ollama."""
    from forge.export import ship as export

    project = open_project(project_dir)
    res = CommandOutput(as_json)
    if fmt == "merged":
        if verify:
            raise click.UsageError("--verify applies to --format gguf")
        path = export.export_merged(project, out, dtype, model_dir)
        res.add("exported", project.rel(path), shown=f"{project.rel(path)} (merged, {dtype})")
        res.data.update(format="merged", dtype=dtype)
        res.done()
        return
    try:
        info, failed = export.export_gguf(project, out, quant, model_dir, verify), None
    except export.GgufVerifyFailed as exc:  # the results first, then the failure
        info, failed = exc.info, exc
    res.add(
        "exported",
        project.rel(info["path"]),
        shown=f"{project.rel(info['path'])} (gguf, {info['arch']}, {quant}, {info['bytes']} bytes)",
    )
    res.data.update(format="gguf", arch=info["arch"], quant=quant, bytes=info["bytes"])
    res.add("modelfile", project.rel(info["modelfile"]))
    res.add("pre_tokenizer", info["pre_tokenizer"])
    res.add("stop", info["stop"], shown=", ".join(info["stop"]))
    for key in ("schema", "grammar"):
        if info.get(key):
            res.add(key, project.rel(info[key]))
    if verify:
        v = info["verify"]
        res.add("verify_tokens_match", v["tokens_match"], shown=f"{v['tokens_match']}/{v['prompts']}")
        res.add("verify_greedy_match", v["greedy_match"], shown=f"{v['greedy_match']}/{v['prompts']}")
        res.add("verify_near_ties", v["near_ties"], shown=f"{v['near_ties']} (margin below {v['near_tie_margin']:g})")
        res.add("verify_max_logit_diff", v["max_logit_diff"])
        res.add("verify_agreement", v["agreement"], shown=f"{v['agreement']:.1%}")
        res.add("verify_constrained", v["constrained"])
        res.add(
            "verify_gold_gguf",
            v["gguf_correct"],
            shown=f"{v['gguf_correct']}/{v['prompts']} with the "
            f"{project.config.eval.scorer} scorer (transformers: {v['transformers_correct']}/{v['prompts']})",
        )
        res.add(
            "verify_lost",
            v["lost"],
            shown=f"{v['lost']} right in transformers, wrong in the GGUF beyond "
            f"near-ties (allowed {v['lost_allowed']})",
        )
        res.data.update(verify_prompts=v["prompts"], verify_gold_transformers=v["transformers_correct"])
    res.done()
    if failed:
        raise ForgeError(str(failed))


@click.command("push")
@project_option
def push_cmd(project_dir):
    """Upload the best adapter and a model card to hub.hf_repo (HF_TOKEN; HF_ENDPOINT for another hub)."""
    from forge.export.push import push

    info = push(open_project(project_dir))
    click.echo(f"pushed: {info['repo']} ({len(info['files'])} files)")
    click.echo(f"commit: {info['commit_url']}")


COMMANDS = [probe_cmd, pretrain_cmd, export_cmd, push_cmd]
