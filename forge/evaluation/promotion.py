"""`forge promote`: snapshot the evaluated adapter as the new best, if it is better.

Preconditions (the agent relies on them): the current output/adapter was evaluated (the eval's
weight hash matches), on the current gold file, and its accuracy is strictly above the best so
far, measured on the same gold set. A best measured on another gold set is no yardstick: the
promotion is refused until a person accepts the change (`--accept-gold-change`), which starts
a new baseline. The promotion records a paired exact McNemar test against the previous best on
the same gold examples, so a gain of one or two examples can be read as the noise it may be.
Once a sweep measured the noise floor (the spread of one configuration over seeds, output/noise_floor.json),
a promotion must gain more than that spread and pass McNemar's test at p <= 0.05.
"""

from __future__ import annotations

import shutil

from forge.atomic import write_json_atomic
from forge.clock import now
from forge.data.datasets import file_hash
from forge.errors import ForgeError
from forge.evaluation.runner import model_hash
from forge.evaluation.stats import paired_comparison
from forge.project.project import Project
from forge.project.records import (
    BEST,
    RESULTS,
    crosses_gold_change,
    next_iteration,
    noise_floor_now,
    schema_hash_of,
)
from forge.project.run_lock import holds_run_lock
from forge.result_lines import ResultLine


class PromotionRefused(ForgeError):
    """A precondition of promotion does not hold."""


def check(project: Project, accept_gold_change: bool = False) -> dict:
    """The eval results that would be promoted, or PromotionRefused saying why not."""
    adapter = project.adapter_dir
    if not adapter.exists():
        raise PromotionRefused("nothing to promote: no trained adapter (run `forge train`)")
    results = project.read_state(RESULTS)
    if not results or results.get("model", {}).get("hash") != model_hash(adapter):
        raise PromotionRefused("the current adapter has not been evaluated (run `forge eval` first)")
    if results.get("gold", {}).get("hash") != file_hash(project.gold_path):
        raise PromotionRefused("the gold set changed since the last eval (run `forge eval` again)")
    schema = project.output_schema()
    if schema_hash_of(results) != (schema.hash if schema else None):
        raise PromotionRefused("the output schema changed since the last eval (run `forge eval` again)")
    best = project.read_state(BEST)
    if crosses_gold_change(best, results["gold"]["hash"], schema_hash_of(results)):
        if accept_gold_change:
            return results
        what = (
            f"on another gold set (hash {best['gold_hash']}, now {results['gold']['hash']})"
            if best.get("gold_hash") and best["gold_hash"] != results["gold"]["hash"]
            else f"under another output schema (hash {best.get('schema_hash')}, now {schema_hash_of(results)})"
        )
        raise PromotionRefused(
            f"the comparison crosses a gold change: the best so far ({best['accuracy']:.1%}, iter "
            f"{best.get('iteration')}) was measured {what}. A person can start a new baseline: "
            "`forge promote --accept-gold-change`"
        )
    if best and results["accuracy"] <= best["accuracy"]:
        raise PromotionRefused(
            f"accuracy {results['accuracy']:.1%} is not above the best so far "
            f"{best['accuracy']:.1%} (iter {best.get('iteration')})"
        )
    floor = noise_floor_now(project)
    if best and floor:
        gain = results["accuracy"] - best["accuracy"]
        measured = f"the spread of {len(floor['accuracies'])} seeds of one configuration, sweep {floor['sweep']}"
        if gain <= floor["spread"]:
            raise PromotionRefused(
                f"a gain of {gain * 100:.1f} points over the best ({best['accuracy']:.1%}) is inside the noise floor "
                f"of {floor['spread'] * 100:.1f} points ({measured})"
            )
        p = paired_comparison(best.get("per_example", {}), results["per_example"])["p_value"]
        if p > 0.05:
            raise PromotionRefused(
                f"a gain of {gain * 100:.1f} points over the best ({best['accuracy']:.1%}) is above the noise floor "
                f"but McNemar's test gives p={p:.3f} > 0.05 on the same gold examples"
            )
    return results


@holds_run_lock("promote")
def promote(project: Project, iteration: int | None = None, accept_gold_change: bool = False) -> dict:
    results = check(project, accept_gold_change)
    best = project.read_state(BEST)
    new_baseline = crosses_gold_change(best, results["gold"]["hash"], schema_hash_of(results))
    if iteration is None:  # a sweep's variant says its own; otherwise the last iteration recorded
        iteration = (results.get("sweep") or {}).get("iteration") or next_iteration(project) - 1
    name = f"best_adapter_{results['accuracy']:.3f}"
    dest, n = project.output / name, 1
    while dest.exists():
        n += 1
        dest = project.output / f"{name}_{n}"
    shutil.copytree(project.adapter_dir, dest)
    write_json_atomic(dest / RESULTS, results)
    record = {
        "accuracy": results["accuracy"],
        "ci95": results["ci95"],
        "correct": results["correct"],
        "total": results["total"],
        "iteration": iteration,
        "path": project.rel(dest),
        "time": now(),
        "eval_id": results["eval_id"],
        "model_hash": results["model"]["hash"],
        "per_cmd": results["per_cmd"],
        "gold_hash": results["gold"]["hash"],
        "sealed_hash": (results.get("sealed") or {}).get("hash"),
        "schema_hash": schema_hash_of(results),
        "schema_valid": results.get("schema_valid"),
        "new_gold_baseline": new_baseline,
        "per_example": results["per_example"],
        "previous": {"accuracy": best["accuracy"], "iteration": best.get("iteration"), "path": best.get("path")}
        if best
        else None,
        "vs_previous": paired_comparison(best.get("per_example", {}), results["per_example"])
        if best and not new_baseline
        else None,
    }
    write_json_atomic(project.output / BEST, record)
    return record


def promotion_lines(record: dict) -> list[ResultLine]:
    """A promotion's result lines (`forge promote` and the promote tool): what became the best, and how it
    compares with the one before, on the same gold examples."""
    lines = [
        ResultLine("promoted", record["path"], f"{record['path']} ({record['accuracy']:.1%})"),
        ResultLine("accuracy", record["accuracy"], None),
    ]
    shown = None
    if record["new_gold_baseline"]:
        shown = f"new baseline on gold {record['gold_hash']} (the previous best was measured on another gold set)"
    lines.append(ResultLine("new_gold_baseline", record["new_gold_baseline"], shown))
    cmp = record["vs_previous"]
    shown = None
    if cmp:
        shown = (
            f"{record['previous']['accuracy']:.1%}: +{cmp['only_new_correct']} / -{cmp['only_previous_correct']} "
            f"examples, McNemar p={cmp['p_value']:.3f}" + (" (could be noise)" if cmp["p_value"] > 0.05 else "")
        )
    lines.append(ResultLine("vs_previous", cmp, shown))
    return lines
