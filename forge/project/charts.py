"""The report's charts, drawn as inline SVG: gold accuracy per iteration (last and best so far, the 95% band,
the target, gold changes), the loss curves per epoch, and training-set size against LLM cost."""

from __future__ import annotations

from forge.project import records

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


def row_label(row: dict) -> str:
    return "base" if records.is_baseline(row) else str(row["iteration"])


def loss_text(row: dict) -> str:
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
    parts = _axes(n, [row_label(r) for r in rows], 1.0, lambda v: f"{v:.0%}")
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
    parts = _axes(n, [row_label(r) for r in rows], top, lambda v: f"{v:.0f}")
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
