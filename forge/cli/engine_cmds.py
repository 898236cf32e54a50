"""Engine commands: train, eval (and the teacher baseline), promote, model tiny, judge calibrate."""

from __future__ import annotations

from pathlib import Path

import click

from forge.config.schema import field_choices, field_doc
from forge.project.options import CommandOutput, json_option, open_project, project_option, wait_option


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
    if r.grpo:
        g = r.grpo
        out.add("grpo_from", g["from"] or "a fresh adapter")
        out.add("steps", g["steps"])
        out.add("reward", [g["reward_first"], g["reward_last"]], shown=f"{g['reward_first']} -> {g['reward_last']}")
        if g.get("schema_valid_last") is not None:
            out.add("schema_valid", g["schema_valid_last"])
        out.add("wall_s", round(r.wall_s, 1))
        return out.done()
    if r.warm_start:
        w = r.warm_start
        out.add("warm_start", w, shown=f"from {w['from']}, {w['new']} new + {w['replayed']} replayed examples")
    out.add("epochs_run", r.epochs_run)
    out.add("epoch_losses", [round(x, 6) for x in r.epoch_losses], shown=", ".join(f"{x:.4f}" for x in r.epoch_losses))
    if r.final_loss is not None:
        out.add("final_loss", round(r.final_loss, 6), shown=f"{r.final_loss:.4f}")
    if r.val_losses:
        out.add("val_losses", [round(x, 6) for x in r.val_losses], shown=", ".join(f"{x:.4f}" for x in r.val_losses))
    out.add("tokens_per_s", round(r.tokens_per_s), shown=f"{r.tokens_per_s:.0f}")
    out.add("wall_s", round(r.wall_s, 1), shown=f"{r.wall_s:.1f}")
    out.done()


def _per_cmd_table(per_cmd: dict) -> str:
    width = max([len("cmd")] + [len(c) for c in per_cmd])
    lines = [f"{'cmd':<{width}}  correct  total  accuracy"]
    for cmd, row in per_cmd.items():
        lines.append(f"{cmd:<{width}}  {row['correct']:>7}  {row['total']:>5}  {row['correct'] / row['total']:>8.1%}")
    return "\n".join(lines)


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
    lo, hi = res.ci95
    out.add("accuracy", res.accuracy, shown=f"{res.accuracy:.4f}")
    out.add("correct", res.correct, shown=f"{res.correct}/{res.total}")
    out.data["total"] = res.total
    out.add("ci95", res.ci95, shown=f"{lo:.4f}-{hi:.4f}")
    out.add("forbidden", res.forbidden_count)
    out.add("examples_per_s", res.examples_per_s)
    if res.cut:
        out.add(
            "cut", res.cut, shown=f"{res.cut} answers hit eval.max_new_tokens ({project.config.eval.max_new_tokens})"
        )
    if res.schema_valid is not None:
        out.add("constrained", res.constrained)
        out.add("schema_valid", res.schema_valid, shown=f"{res.schema_valid:.4f}")
    if res.free:
        f = res.free
        out.add(
            "free_accuracy",
            f["accuracy"],
            shown=f"{f['accuracy']:.4f} ({f['correct']}/{f['total']}, schema-valid {f['schema_valid']:.4f})",
        )
    if res.per_field:
        out.add("wrong_fields", res.per_field, shown=", ".join(f"{k} {n}" for k, n in res.per_field.items()))
    if res.judge:
        j = res.judge
        out.add(
            "judge",
            j,
            shown=f"{j['model']}: {j['judged']} judged, {j['cached']} cached, {j['errors']} errors, "
            f"${j['cost_usd']:.4f}",
        )
    if res.sealed:
        s = res.sealed
        out.add("sealed_accuracy", s["accuracy"], shown=f"{s['accuracy']:.4f} ({s['correct']}/{s['total']})")
    out.data["per_cmd"] = res.per_cmd
    out.text(_per_cmd_table(res.per_cmd))
    out.add(
        "results", "output/eval_results.json", shown="output/eval_results.json, failures: output/eval_failures.jsonl"
    )
    out.done()


def _served_eval(project, out, url: str) -> None:
    from forge.evaluation.served import served_eval

    res = served_eval(project, url, echo=out.echo)
    lo, hi = res["ci95"]
    out.add("served_accuracy", res["accuracy"], shown=f"{res['accuracy']:.4f}")
    out.add("correct", res["correct"], shown=f"{res['correct']}/{res['total']}")
    out.add("ci95", res["ci95"], shown=f"{lo:.4f}-{hi:.4f}")
    out.add("tool_call_replies", res["tool_call_replies"], shown=f"{res['tool_call_replies']}/{res['total']}")
    if res["last_eval_accuracy"] is not None:
        out.add("last_eval_accuracy", res["last_eval_accuracy"], shown=f"{res['last_eval_accuracy']:.4f}")
        out.add(
            "differ",
            res["differ"],
            shown=f"{len(res['differ'])}" + (f" ({', '.join(res['differ'][:10])})" if res["differ"] else ""),
        )
    out.done()


def _teacher_eval(project, out, force: bool) -> None:
    from forge.evaluation.teacher import run_teacher
    from forge.project import gap

    row = run_teacher(project, echo=out.echo, force=force)
    lo, hi = row["ci95"]
    out.add("teacher_accuracy", row["accuracy"], shown=f"{row['accuracy']:.4f}")
    out.add("correct", row["correct"], shown=f"{row['correct']}/{row['total']}")
    out.add("ci95", row["ci95"], shown=f"{lo:.4f}-{hi:.4f}")
    if row.get("schema_valid") is not None:
        out.add("schema_valid", row["schema_valid"], shown=f"{row['schema_valid']:.4f}")
    out.add("cost_usd", row["cost_usd"], shown=f"${row['cost_usd']:.4f}")
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
    from forge.evaluation.promotion import promote

    out = CommandOutput(as_json)
    rec = promote(open_project(project_dir), iteration, accept_gold_change)
    out.add("promoted", rec["path"], shown=f"{rec['path']} ({rec['accuracy']:.1%})")
    out.data.update(
        accuracy=rec["accuracy"], new_gold_baseline=rec["new_gold_baseline"], vs_previous=rec["vs_previous"]
    )
    if rec["new_gold_baseline"]:
        out.text(f"new baseline on gold {rec['gold_hash']} (the previous best was measured on another gold set)")
    if rec["vs_previous"]:
        cmp = rec["vs_previous"]
        out.text(
            f"vs previous {rec['previous']['accuracy']:.1%}: +{cmp['only_new_correct']} / "
            f"-{cmp['only_previous_correct']} examples, McNemar p={cmp['p_value']:.3f}"
        )
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
    from forge.evaluation.judge_calibration import calibrate
    from forge.project.status import CALIBRATION_FEW

    project = open_project(project_dir)
    out = CommandOutput(as_json)
    rec = calibrate(project, file, warn=out.echo)
    if rec["items"] < CALIBRATION_FEW:
        out.echo(f"warning: {rec['items']} labels; under {CALIBRATION_FEW}, kappa is a rough estimate")
    out.add("items", rec["items"])
    out.add("agreement", rec["agreement"], shown=f"{rec['agreement']:.4f}")
    out.add(
        "kappa", rec["kappa"], shown="n/a (one label throughout)" if rec["kappa"] is None else f"{rec['kappa']:.4f}"
    )
    c = rec["confusion"]
    out.data["confusion"] = c
    out.text(
        f"{'':<18}{'judge: correct':>16}{'judge: wrong':>14}\n{'label: correct':<18}{c['both_correct']:>16}"
        f"{c['judge_too_strict']:>14}\n{'label: wrong':<18}{c['judge_too_lenient']:>16}{c['both_wrong']:>14}"
    )
    if rec["judge_errors"]:
        out.add("judge_errors", rec["judge_errors"])
    shown = ", ".join(f"{file}:{n}" for n in rec["disagreements"][:10]) + (
        " ..." if len(rec["disagreements"]) > 10 else ""
    )
    out.add("disagreements", rec["disagreements"], shown=shown or "none")
    out.add("cost_usd", rec["cost_usd"], shown=f"${rec['cost_usd']:.4f}")
    out.add("record", "output/judge_calibration.json")
    out.done()


COMMANDS = [train_cmd, eval_cmd, promote_cmd, model_group, judge_group]
