"""A sweep's table: per configuration, how many runs finished, the mean gold accuracy and its spread over
seeds, wall time and cost; and which run of the best configuration is the one to promote."""

from __future__ import annotations

import statistics


def table_text(table: list[dict]) -> str:
    head = f"  {'config':<8}  {'ok':>5}  {'mean':>6}  {'spread':>6}  {'wall_s':>7}  {'cost_usd':>8}  settings"
    rows = [
        f"  {t['config']:<8}  {t['ok']}/{t['tried']:<3}  "
        + (f"{t['mean']:>6.1%}  {t['spread'] * 100:>6.1f}" if t["mean"] is not None else f"{'-':>6}  {'-':>6}")
        + f"  {t['wall_s']:>7.1f}  {t['cost_usd']:>8.2f}  {t['label']}"
        for t in table
    ]
    return "\n".join([head, *rows])


def summarize(rows: list[dict]) -> list[dict]:
    """Per configuration: runs, finished, mean accuracy and spread (max - min) over its seeds, stdev, mean wall
    time and cost; the best mean first, configurations with no finished run last."""
    out = []
    for config in dict.fromkeys(r["config"] for r in rows):
        mine = [r for r in rows if r["config"] == config]
        acc = [r["accuracy"] for r in mine if r["ok"]]
        out.append(
            {
                "config": config,
                "label": mine[0]["label"],
                "tried": len(mine),
                "ok": len(acc),
                "mean": round(statistics.fmean(acc), 6) if acc else None,
                "spread": round(max(acc) - min(acc), 6) if acc else None,
                "stdev": round(statistics.stdev(acc), 6) if len(acc) > 1 else None,
                "wall_s": round(statistics.fmean([r.get("wall_s") or 0.0 for r in mine]), 1),
                "cost_usd": round(sum(r.get("cost_usd") or 0.0 for r in mine), 6),
            }
        )
    return sorted(out, key=lambda t: (t["mean"] is None, -(t["mean"] or 0.0)))


def representative(rows: list[dict], config: str) -> dict:
    """The run of `config` nearest its mean: the model promoted is not the luckiest seed on the gold set."""
    mine = [r for r in rows if r["config"] == config and r["ok"]]
    mean = statistics.fmean(r["accuracy"] for r in mine)
    return min(mine, key=lambda r: (abs(r["accuracy"] - mean), r["seed"]))
