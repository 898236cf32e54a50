"""Engine commands: train, eval (and the teacher baseline), promote, model tiny, judge calibrate."""

from __future__ import annotations

from pathlib import Path

import click

from forge.cli.options import CommandOutput, json_option, open_project, project_option, wait_option
from forge.config.schema import field_choices, field_doc


@click.command("train")
@wait_option
@project_option
@click.option(
    "--epochs",
    type=click.IntRange(1, 100),
    default=None,
    help="Train exactly this many epochs (overrides training.epochs_min/epochs_max for this run).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run a crash or kill cut off, from its last epoch checkpoint (same config and data).",
)
@click.option(
    "--warm-start",
    type=click.Choice(["best", "none"]),
    default=None,
    help="For this run: " + field_doc("training.warm_start"),
)
@click.option(
    "--method",
    type=click.Choice(field_choices("training.method")),
    default=None,
    help="For this run: " + field_doc("training.method"),
)
@json_option
def train_cmd(project_dir, epochs, resume, warm_start, method, as_json):
    """Fine-tune on the training set (dataset.canonical) into output/adapter/."""
    from forge.training.entry import train

    project = open_project(project_dir)
    out = CommandOutput(as_json)
    training = {k: v for k, v in (("warm_start", warm_start), ("method", method)) if v}
    r = train(
        project, epochs=epochs, overrides={"training": training} if training else None, echo=out.echo, resume=resume
    )
    out.add("adapter", project.rel(r.output_dir))
    out.add_lines(r.lines())
    out.done()


@click.command("eval")
@wait_option
@project_option
@click.option(
    "--adapter",
    "model_dir",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="Adapter or full model directory (default: output/adapter).",
)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=None, help=field_doc("eval.batch_size"))
@click.option(
    "--base",
    "zero_shot",
    is_flag=True,
    help="Score the base model itself (model.base, no adapter): the zero-shot baseline, recorded for the "
    "current gold set and schema (`forge status`, gap closure).",
)
@click.option(
    "--compare-free",
    is_flag=True,
    help="Also score free decoding on the gold set in the same run, to see what the output schema buys.",
)
@click.option(
    "--teacher",
    is_flag=True,
    help="Score the teacher (datagen.model, asked as the fine-tuned model is, with training examples as "
    "shots) on the gold set: the reference for gap closure. Recorded once per gold set, model and "
    "prompt.",
)
@click.option("--force", is_flag=True, help="With --teacher: measure again even when nothing changed.")
@click.option(
    "--server",
    metavar="URL",
    default=None,
    help="Score what a server serves instead (an OpenAI-compatible chat API: llama-server --jinja on the "
    "exported GGUF, vLLM, Ollama's /v1), asked as applications ask it: tools as tools, calls read "
    "from tool_calls. Printed beside the last eval; nothing recorded.",
)
@json_option
def eval_cmd(project_dir, model_dir, batch_size, zero_shot, compare_free, teacher, force, server, as_json):
    """Evaluate on the gold set (and the sealed set, aggregates only)."""
    from forge.evaluation.runner import run_eval

    project = open_project(project_dir)
    out = CommandOutput(as_json)
    if server:
        if model_dir or zero_shot or compare_free or teacher:
            raise click.UsageError(
                "--server scores the server alone: no --adapter, --base, --compare-free or --teacher"
            )
        return _served_eval(project, out, server)
    if teacher:
        if model_dir or zero_shot or compare_free:
            raise click.UsageError("--teacher scores the teacher alone: no --adapter, --base or --compare-free")
        return _teacher_eval(project, out, force)
    if force:
        raise click.UsageError("--force goes with --teacher")
    if zero_shot:
        if model_dir:
            raise click.UsageError("--base and --adapter are exclusive")
        out.echo(f"model: {project.config.model.base} (zero-shot, no adapter)")
    res = run_eval(project, model_dir, batch_size, echo=out.echo, base=zero_shot, compare_free=compare_free)
    if zero_shot:
        from forge.evaluation.baseline import keep

        keep(project, res.as_record(), echo=out.echo)
    out.add_lines(res.lines())
    out.data["per_cmd"] = res.per_cmd
    out.text(res.per_cmd_table())
    out.add(
        "results", "output/eval_results.json", shown="output/eval_results.json, failures: output/eval_failures.jsonl"
    )
    out.done()


def _served_eval(project, out, url: str) -> None:
    from forge.evaluation.served import served_eval, served_lines

    out.add_lines(served_lines(served_eval(project, url, echo=out.echo)))
    out.done()


def _teacher_eval(project, out, force: bool) -> None:
    from forge.evaluation.teacher import run_teacher, teacher_lines
    from forge.project import gap

    out.add_lines(teacher_lines(run_teacher(project, echo=out.echo, force=force)))
    g = gap.gap(project)
    out.add(
        "gap_closure",
        g["closure"] if g else None,
        shown=gap.gap_text(g) or "undefined without a zero-shot baseline on this gold set (`forge eval --base`)",
    )
    out.done()


@click.command("promote")
@wait_option
@project_option
@click.option("--iteration", type=click.IntRange(0), default=None, help="Iteration number to record.")
@click.option(
    "--accept-gold-change",
    is_flag=True,
    help="The gold set changed since the best was measured: promote as a new baseline on the current gold.",
)
@json_option
def promote_cmd(project_dir, iteration, accept_gold_change, as_json):
    """Snapshot the evaluated adapter as the new best (only if strictly better, on the same gold set)."""
    from forge.evaluation.promotion import promote, promotion_lines

    out = CommandOutput(as_json)
    rec = promote(open_project(project_dir), iteration, accept_gold_change)
    out.add_lines(promotion_lines(rec))
    out.done()


@click.group("model")
def model_group():
    """Build local models."""


@model_group.command("import")
@wait_option
@click.argument("source")
@click.argument("directory", type=click.Path(path_type=Path))
def model_import(source, directory):
    """Make SOURCE (a .gguf file, a local model directory or a hub id) a safetensors model in DIRECTORY.

    A GGUF is dequantized; its tokenizer keeps the model's own pre-tokenizer. Set model.base to
    DIRECTORY (model.base may also name a .gguf file directly: it is imported on first use)."""
    from forge.models.importing import import_model

    info = import_model(source, directory, echo=click.echo)
    click.echo(
        f"imported {info['source']} into {directory}: {info['parameters']:,} parameters"
        + (f", dequantized from {info['dequantized_from']}" if info.get("dequantized_from") else "")
    )


@model_group.command("tiny")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--arch", type=click.Choice(["qwen2", "llama", "gemma3"]), default="qwen2", show_default=True)
@click.option(
    "--size",
    type=click.Choice(["nano", "tiny", "small"]),
    default="tiny",
    show_default=True,
    help="nano: 64 hidden x 2 layers; tiny: 128 x 4; small: 256 x 6.",
)
@click.option(
    "--corpus",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    multiple=True,
    help="Texts (.txt/.md, or .jsonl chat/text lines) to train the tokenizer on. Repeatable.",
)
@click.option("--vocab-size", type=click.IntRange(300, 65536), default=512, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def model_tiny(directory, arch, size, corpus, vocab_size, seed):
    """Build a small random-init causal LM and BPE tokenizer (no hub needed)."""
    from forge.models.tiny import build_tiny

    info = build_tiny(directory, arch, size, list(corpus), vocab_size, seed=seed)
    click.echo(
        f"built {info['arch']}/{info['size']} in {info['path']}: {info['parameters']:,} parameters, "
        f"vocab {info['vocab']}"
    )


@click.group("judge")
def judge_group():
    """The judge scorer (eval.scorer judge): how far to trust it."""


@judge_group.command("calibrate")
@project_option
@click.argument("file", type=click.Path(path_type=Path))
@json_option
def judge_calibrate(project_dir, file, as_json):
    """Score the judge against hand labels: FILE has one {"input", "expected", "answer", "label": true|false}
    per line. Prints agreement, Cohen's kappa and the confusion table; `forge status` shows the last one."""
    from forge.evaluation.judge_calibration import calibrate, calibration_lines
    from forge.project.status import CALIBRATION_FEW

    project = open_project(project_dir)
    out = CommandOutput(as_json)
    rec = calibrate(project, file, warn=out.echo)
    if rec["items"] < CALIBRATION_FEW:
        out.echo(f"warning: {rec['items']} labels; under {CALIBRATION_FEW}, kappa is a rough estimate")
    out.add_lines(calibration_lines(rec, file))
    out.add("record", "output/judge_calibration.json")
    out.done()


COMMANDS = [train_cmd, eval_cmd, promote_cmd, model_group, judge_group]
