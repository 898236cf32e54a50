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
from forge.project.project import Project

W, H, PAD = 640, 280, 48


INSET = 32  # keeps the first and last points and bars off the axes


def _x(i: int, n: int) -> float:
    return PAD + INSET + (W - 2 * PAD - 2 * INSET) * (i / (n - 1) if n > 1 else 0.5)


def _y(v: float, top: float = 1.0) -> float:
    return H - PAD + (2 * PAD - H) * (v / top if top else 0)


def _axes(n: int, labels: list, top: float, fmt) -> list[str]:
    out = [
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#888"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="#888"/>',
    ]
    for k in range(5):
        v = top * k / 4
        y = _y(v, top)
        out.append(f'<line x1="{PAD}" y1="{y:.1f}" x2="{W - PAD}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{PAD - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{fmt(v)}</text>')
    for i, label in enumerate(labels):
        out.append(f'<text x="{_x(i, n):.1f}" y="{H - PAD + 16}" text-anchor="middle" font-size="11">{label}</text>')
    return out


def _label(row: dict) -> str:
    return "base" if records.is_baseline(row) else str(row["iteration"])


def _loss_text(row: dict) -> str:
    """Training loss per epoch, with the validation loss in brackets when there was a validation set."""
    train, val = row.get("epoch_losses") or [], row.get("val_losses") or []
    if not train:
        return "–"
    return ", ".join(f"{t:.3f}" + (f" ({val[i]:.3f})" if i < len(val) else "") for i, t in enumerate(train))


def gold_segments(rows: list[dict]) -> list[list[int]]:
    """Row indices grouped by the gold set they were measured on (rows without a hash join their neighbours)."""
    segments: list[list[int]] = []
    last = None
    for i, r in enumerate(rows):
        h = r.get("gold_hash")
        if segments and (h is None or last is None or h == last):
            segments[-1].append(i)
        else:
            segments.append([i])
        last = h or last
    return segments


def accuracy_chart(rows: list[dict], target: float) -> str:
    """Last and best-so-far accuracy with the 95% band; no line crosses a change of the gold set."""
    n = len(rows)
    parts = _axes(n, [_label(r) for r in rows], 1.0, lambda v: f"{v:.0%}")
    segments = gold_segments(rows)
    for seg in segments:
        band = [(_x(i, n), _y(rows[i]["ci95"][1])) for i in seg] + [
            (_x(i, n), _y(rows[i]["ci95"][0])) for i in reversed(seg)
        ]
        parts.append(
            '<polygon fill="#4c78a8" fill-opacity="0.15" stroke="none" points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y in band)
            + '"/>'
        )
    for seg in segments[1:]:
        x = (_x(seg[0] - 1, n) + _x(seg[0], n)) / 2
        parts.append(
            f'<line x1="{x:.1f}" y1="{PAD}" x2="{x:.1f}" y2="{H - PAD}" stroke="#b279a2" '
            f'stroke-dasharray="3 3"/><text x="{x + 4:.1f}" y="{PAD + 12}" font-size="11" '
            f'fill="#b279a2">gold changed</text>'
        )
    ty = _y(target)
    parts.append(
        f'<line x1="{PAD}" y1="{ty:.1f}" x2="{W - PAD}" y2="{ty:.1f}" stroke="#e45756" '
        f'stroke-dasharray="6 4"/><text x="{W - PAD}" y="{ty - 6:.1f}" text-anchor="end" font-size="11" '
        f'fill="#e45756">target {target:.0%}</text>'
    )
    for seg in segments:
        best, best_pts = 0.0, []
        for i in seg:
            if records.is_baseline(rows[i]):  # a floor to read gains from, never a candidate
                continue
            best = max(best, rows[i]["accuracy"])
            best_pts.append((_x(i, n), _y(best)))
        last_pts = [(_x(i, n), _y(rows[i]["accuracy"])) for i in seg]
        # best-so-far dashed on top, so it stays visible where the two lines coincide
        for pts, color, dash in ((last_pts, "#4c78a8", ""), (best_pts, "#54a24b", 'stroke-dasharray="7 4"')):
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="2.5" {dash} points="'
                + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                + '"/>'
            )
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{color}"/>' for x, y in pts]
    parts.append(
        f'<text x="{PAD + 8}" y="{PAD - 16}" font-size="12" fill="#4c78a8">● last (95% band)</text>'
        f'<text x="{PAD + 150}" y="{PAD - 16}" font-size="12" fill="#54a24b">● best so far</text>'
        f'<text x="{W / 2:.0f}" y="{H - 8}" text-anchor="middle" font-size="11">iteration</text>'
    )
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}">' + "".join(parts) + "</svg>"


COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d")


LOSS_LINES = 8  # iterations drawn in the loss chart (the latest); more would be a tangle


def loss_chart(rows: list[dict]) -> str:
    """Training loss per epoch of the latest iterations (solid) and their validation loss (dashed), one color
    and one legend entry each; empty when no iteration recorded losses."""
    all_trained = [r for r in rows if r.get("epoch_losses")]
    trained = all_trained[-LOSS_LINES:]
    if not trained:
        return ""
    epochs = max(len(r["epoch_losses"]) for r in trained)
    top = max(max(r["epoch_losses"] + (r.get("val_losses") or [])) for r in trained) * 1.05 or 1.0
    parts = _axes(epochs, list(range(1, epochs + 1)), top, lambda v: f"{v:.2f}")
    step = (W - 2 * PAD) / len(trained)
    for k, r in enumerate(trained):
        color = COLORS[k % len(COLORS)]
        for losses, dash in ((r["epoch_losses"], ""), (r.get("val_losses") or [], 'stroke-dasharray="6 4"')):
            pts = [(_x(i, epochs), _y(v, top)) for i, v in enumerate(losses)]
            if pts:
                parts.append(
                    f'<polyline class="loss" fill="none" stroke="{color}" stroke-width="2" {dash} points="'
                    + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                    + '"/>'
                )
        parts.append(
            f'<text x="{PAD + 8 + k * step:.0f}" y="{PAD - 4}" font-size="11" fill="{color}">'
            f"● iteration {r['iteration']}</text>"
        )
    latest = f"the last {LOSS_LINES} iterations" if len(all_trained) > LOSS_LINES else "one line per iteration"
    parts.append(
        f'<text x="{PAD + 8}" y="{PAD - 22}" font-size="12">loss per epoch, {latest} '
        f'(solid: training, dashed: validation)</text><text x="{W / 2:.0f}" y="{H - 8}" '
        f'text-anchor="middle" font-size="11">epoch</text>'
    )
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}">' + "".join(parts) + "</svg>"


def data_cost_chart(rows: list[dict]) -> str:
    n = len(rows)
    top = max(r["train_size"] for r in rows) or 1
    parts = _axes(n, [_label(r) for r in rows], top, lambda v: f"{v:.0f}")
    bw = min(40, (W - 2 * PAD) / max(1, n) * 0.5)
    for i, r in enumerate(rows):
        y = _y(r["train_size"], top)
        parts.append(
            f'<rect x="{_x(i, n) - bw / 2:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{H - PAD - y:.1f}" '
            f'fill="#72b7b2"/><text x="{_x(i, n):.1f}" y="{y - 4:.1f}" text-anchor="middle" '
            f'font-size="11">{r["train_size"]} ex, ${r.get("llm_spend_usd", 0):.3f}</text>'
        )
    parts.append(
        f'<text x="{PAD + 8}" y="{PAD - 16}" font-size="12">training-set size (bars) and cumulative LLM '
        f"cost (labels)</text>"
    )
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}">' + "".join(parts) + "</svg>"


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
                    _label(r),
                    f"{r['accuracy']:.1%}" + _contract(r),
                    f"{r['ci95'][0]:.1%}–{r['ci95'][1]:.1%}",
                    "–" if base else f"{best_so_far:.1%}",
                    *([_sealed(r)] if has_sealed else []),
                    r["train_size"],
                    records.start_text(r) or "–",
                    _loss_text(r),
                    f"${r.get('llm_spend_usd', 0):.4f}",
                    mark + r["hypothesis"],
                ]
            )
    changed = ", ".join(_label(rows[seg[0]]) for seg in segments[1:])
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
        + f"<h2>Iterations</h2>{_table(['iter', 'accuracy', '95% CI', 'best so far', *(['sealed'] if has_sealed else []), 'train size', 'start', 'loss per epoch (val)', 'LLM spend', 'hypothesis'], table)}"
        f"<h2>Training loss</h2>{loss_chart(rows) or '<p>No losses recorded yet.</p>'}"
        f"<p>Step-level curves: <code>tensorboard --logdir output/tb</code> (one run per iteration).</p>"
        f"<h2>Training data and cost</h2>{data_cost_chart(rows)}</body></html>"
    )


def write(project: Project) -> str:
    path = project.output / "report.html"
    write_text_atomic(path, build(project))
    return project.rel(path)
