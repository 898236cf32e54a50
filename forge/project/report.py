"""`forge report`: output/report.html, self-contained, with the charts drawn as inline SVG.

Accuracy per iteration (last and best-so-far, the 95% band, the target line), the gap closed
between the base model and the teacher (when `forge eval --teacher` measured it), per-cmd accuracy
of the best adapter, the hypothesis of each iteration, the loss curves of each iteration (training
and validation, per epoch), training-set size and LLM cost over time.
"""

from __future__ import annotations

import html
import time

from forge.atomic import write_text_atomic
from forge.errors import ForgeError
from forge.project import gap, records
from forge.project.charts import accuracy_chart, data_cost_chart, gold_segments, loss_chart, loss_text, row_label
from forge.project.project import Project


def _contract(row: dict) -> str:
    """' (free 61.1%)' or ' (decoded free)' next to a score under an output schema."""
    if row.get("schema_valid") is None:
        return ""
    free = row.get("free")
    return f" (free {free['accuracy']:.1%})" if free else "" if row.get("constrained") else " (decoded free)"


def _sealed(row: dict) -> str:
    """The sealed set's score (never shown to the planner), or a dash where it was not measured."""
    s = row.get("sealed")
    return f"{s['accuracy']:.1%} ({s['correct']}/{s['total']})" if s else "–"


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def sweeps_html(project: Project) -> str:
    """Each finished sweep's table (mean and spread over seeds per configuration), and the noise floor."""
    out = []
    for rec in (r for r in records.sweep_records(project) if r.get("table")):
        cells = [
            [
                t["config"],
                f"{t['ok']}/{t['tried']}",
                "–" if t["mean"] is None else f"{t['mean']:.1%}",
                "–" if t["spread"] is None else f"{t['spread'] * 100:.1f} pts",
                f"{t['wall_s']:.0f} s",
                t["label"],
            ]
            for t in rec["table"]
        ]
        head = ["config", "finished", "mean", "spread (max − min)", "wall", "settings"]
        out.append(
            f"<p>Sweep {html.escape(rec['id'])}, best run {html.escape(str(rec.get('best')))}:</p>{_table(head, cells)}"
        )
    floor = records.noise_floor_now(project)
    if floor:
        out.append(
            f"<p>Noise floor: {floor['spread'] * 100:.1f} points, the spread of {len(floor['accuracies'])} seeds of "
            f"{html.escape(floor['label'])}; a promotion must gain more, with McNemar p ≤ 0.05.</p>"
        )
    return f"<h2>Sweeps</h2>{''.join(out)}" if out else ""


def build(project: Project) -> str:
    rows = records.experiments(project, baseline=True)
    if not rows:
        raise ForgeError(f"output/{records.EXPERIMENTS}: no iterations yet (run `forge flywheel` or `forge agent run`)")
    best = records.best(project)
    spend = project.read_state(records.SPEND_FILE) or {}
    target = project.config.eval.target_accuracy
    segments, table = gold_segments(rows), []
    has_sealed = any(r.get("sealed") for r in rows)
    for k, seg in enumerate(segments):
        best_so_far = 0.0
        for i in seg:
            r = rows[i]
            base = records.is_baseline(r)
            best_so_far = best_so_far if base else max(best_so_far, r["accuracy"])
            mark = "[gold changed] " if k and i == seg[0] else ""
            table.append(
                [
                    row_label(r),
                    f"{r['accuracy']:.1%}" + _contract(r),
                    f"{r['ci95'][0]:.1%}–{r['ci95'][1]:.1%}",
                    "–" if base else f"{best_so_far:.1%}",
                    *([_sealed(r)] if has_sealed else []),
                    r["train_size"],
                    records.start_text(r) or "–",
                    loss_text(r),
                    f"${r.get('llm_spend_usd', 0):.4f}",
                    mark + r["hypothesis"],
                ]
            )
    changed = ", ".join(row_label(rows[seg[0]]) for seg in segments[1:])
    gold_note = (
        (
            f"<p>The gold set changed before iteration {changed}: scores on either side measure different "
            "tests, so no line or best-so-far runs across.</p>"
        )
        if changed
        else ""
    )
    per_cmd = [
        [c, v["correct"], v["total"], f"{v['correct'] / v['total']:.1%}"]
        for c, v in (best or {}).get("per_cmd", {}).items()
    ]
    last = rows[-1].get("per_field") or {}
    per_field = _table(["field", "wrong answers"], [[k, n] for k, n in last.items()]) if last else ""
    headline = (
        f"best {best['accuracy']:.1%} (iteration {best.get('iteration')}, {best.get('path')})"
        if best
        else "nothing promoted yet"
    )
    base_rows = [r for r in rows if records.is_baseline(r)]
    baseline_note = f" from a zero-shot base of {base_rows[0]['accuracy']:.1%}" if base_rows else ""
    closure = gap.gap_text(gap.gap(project))
    teacher = (
        (
            f"<h2>How close to the teacher</h2><p>Gap closure, (best − base) / (teacher − base): "
            f"{html.escape(closure)}. At {gap.DEPLOY_CLOSURE:g} or more: deploy; "
            f"{gap.RETUNE_CLOSURE:g}–{gap.DEPLOY_CLOSURE:g}: retune; below: regenerate the data.</p>"
        )
        if closure
        else ""
    )
    cmp = (best or {}).get("vs_previous")
    noise = (
        (
            f"<p>Against the previous best: +{cmp['only_new_correct']} / −{cmp['only_previous_correct']} gold "
            f"examples, exact McNemar p = {cmp['p_value']:.3f}.</p>"
        )
        if cmp
        else ""
    )
    style = (
        "body{font-family:system-ui,sans-serif;max-width:760px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;"
        "font-size:13px;text-align:left}th{background:#f5f5f5}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>forge report: "
        f"{html.escape(project.config.name)}</title><style>{style}</style></head><body>"
        f"<h1>forge report: {html.escape(project.config.name)}</h1>"
        f"<p>{html.escape(headline)}; target {target:.1%}; {len(rows) - len(base_rows)} iterations"
        f"{baseline_note}; LLM spend "
        f"${spend.get('total_usd', 0.0):.4f}. Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.</p>"
        f"<h2>Gold accuracy per iteration</h2>{accuracy_chart(rows, target)}{gold_note}{noise}{teacher}"
        f"<h2>Per-cmd accuracy of the best adapter</h2>"
        f"{_table(['cmd', 'correct', 'total', 'accuracy'], per_cmd) if per_cmd else '<p>Nothing promoted yet.</p>'}"
        + (f"<h2>Wrong fields in the last eval</h2>{per_field}" if per_field else "")
        + sweeps_html(project)
        + f"<h2>Iterations</h2>{_table(['iter', 'accuracy', '95% CI', 'best so far', *(['sealed'] if has_sealed else []), 'train size', 'start', 'loss per epoch (val)', 'LLM spend', 'hypothesis'], table)}"
        f"<h2>Training loss</h2>{loss_chart(rows) or '<p>No losses recorded yet.</p>'}"
        f"<p>Step-level curves: <code>tensorboard --logdir output/tb</code> (one run per iteration).</p>"
        f"<h2>Training data and cost</h2>{data_cost_chart(rows)}</body></html>"
    )


def write(project: Project) -> str:
    path = project.output / "report.html"
    write_text_atomic(path, build(project))
    return project.rel(path)
