"""The offline planner's policy: forge's original fixed loop, decided from the conversation and the project.

train -> eval -> promote (if better) -> commit -> stop at the target, else write PLAN.md (what
the next iteration tries and why), then: on a plateau (no new best for two iterations) patch
one hyper-parameter (more epochs, then half the learning rate, then double the LoRA rank),
then augment on the failure categories (datagen.augment_per_failure each) -> train again:
warm from the best (training.warm_start), or fresh after a warm start that did not improve.
With compute.ray set, the first step is a sweep of the starting configuration over agent.noise_floor_seeds
seeds: its spread is the noise floor promotions must then clear (forge.evaluation.promotion).
Deterministic: the same project state and conversation give the same decision.
"""

from __future__ import annotations

from forge.project import records
from forge.project.project import Project

PLATEAU = 2


def last_call(messages: list[dict]) -> tuple[str | None, bool, dict]:
    """(name, is_error, input) of the most recent tool call in the conversation."""
    for i in range(len(messages) - 1, 0, -1):
        msg = messages[i]
        if msg["role"] != "user" or not isinstance(msg["content"], list):
            continue
        results = [b for b in msg["content"] if b.get("type") == "tool_result"]
        uses = [b for b in messages[i - 1]["content"] if isinstance(b, dict) and b.get("type") == "tool_use"]
        if results and uses:
            by_id = {u["id"]: u for u in uses}
            r = results[-1]
            use = by_id.get(r["tool_use_id"], uses[-1])
            return use["name"], bool(r.get("is_error")), use.get("input", {})
    return None, False, {}


def _plateau_patch(project: Project, rows: list[dict]) -> tuple[str, dict] | None:
    """A hyper-parameter change when the best has not moved for PLATEAU iterations."""
    if len(rows) <= PLATEAU:
        return None
    best_before = max(r["accuracy"] for r in rows[:-PLATEAU])
    if max(r["accuracy"] for r in rows[-PLATEAU:]) > best_before:
        return None
    t, lora = project.config.training, project.config.lora
    step = (len(rows) - PLATEAU - 1) % 3
    if step == 0 and t.epochs_max < 20:
        n = min(20, t.epochs_max + 2)
        return f"more epochs ({t.epochs_max} -> {n})", {
            "training": {"epochs_min": min(t.epochs_min, n), "epochs_max": n}
        }
    if step == 1 or t.method == "full":
        lr = round(t.learning_rate / 2, 10)
        return f"half the learning rate ({t.learning_rate:g} -> {lr:g})", {"training": {"learning_rate": lr}}
    r = min(256, lora.r * 2)
    return f"double the LoRA rank ({lora.r} -> {r})", {"lora": {"r": r, "alpha": min(512, lora.alpha * 2)}}


def _augment_n(project: Project) -> int:
    """augment_per_failure examples for each failure category (augment splits n evenly across them)."""
    cats = records.failure_categories(project, missing_ok=True)
    return max(1, min(500, max(1, len(cats)) * project.config.datagen.augment_per_failure))


def plan_text(project: Project, rows: list[dict]) -> str:
    """PLAN.md for the next iteration: what it tries and why."""
    top, target = records.best(project), project.config.eval.target_accuracy
    best_text = f"{top['accuracy']:.1%} (iter {top.get('iteration')})" if top else "none yet"
    patch = _plateau_patch(project, rows)
    cats = records.failure_categories(project, missing_ok=True)
    lines = [
        "# Plan (offline heuristic planner)",
        "",
        f"Best so far: {best_text}; target {target:.1%}; {len(rows)} iterations recorded.",
        "",
        f"## Iteration {len(rows) + 1}",
        "",
    ]
    if patch:
        lines.append(f"1. No new best for {PLATEAU} iterations: change one hyper-parameter: {patch[0]}.")
    lines.append(
        f"{2 if patch else 1}. Generate {_augment_n(project)} examples targeting the "
        f"{len(cats)} failure categories of the last eval "
        f"({project.config.datagen.augment_per_failure} each):"
    )
    lines += [f"   - {c} ({n} failures)" for c, n in cats.most_common(10)]
    lines.append(f"{3 if patch else 2}. Retrain on the larger set, evaluate, promote if it beats the best, commit.")
    return "\n".join(lines) + "\n"


def decide(project: Project, messages: list[dict], skip_train: bool = False):
    """(thought, (tool, input) or None to stop)."""
    project.reload()
    target = project.config.eval.target_accuracy
    name, failed, _ = last_call(messages)
    best, last, rows = records.best(project), project.read_state(records.RESULTS), records.experiments(project)
    first_train = ("train", {"hypothesis": "baseline on the current training set"})
    if name is None:
        if skip_train and project.adapter_dir.exists():
            return "Evaluating the existing adapter first (--skip-train).", ("eval", {})
        if _noise_floor_due(project):
            seeds = project.config.agent.noise_floor_seeds
            return (
                f"Start: train the current configuration with {seeds} seeds at once, to measure the noise floor.",
                (
                    "sweep",
                    {
                        "hypothesis": "the seed-to-seed spread of the starting configuration (the noise floor)",
                        "seeds": seeds,
                        "noise_floor": True,
                    },
                ),
            )
        return "Start: train on the current data.", first_train
    if name == "train":
        if failed:
            return "Training was refused or failed; stopping.", None
        return "Trained; evaluate it.", ("eval", {})
    if name == "sweep" and failed:
        return "The sweep did not run; train on the current data.", first_train
    if name in ("eval", "sweep"):
        if failed:
            return "Eval failed; stopping.", None
        floor = best["accuracy"] if best else 0.0
        if last["accuracy"] > floor:
            return f"{last['accuracy']:.1%} beats the best so far; promote it.", ("promote", {})
        return f"{last['accuracy']:.1%} does not beat {floor:.1%}; nothing to promote, commit the data.", ("commit", {})
    if name == "promote":
        return "Commit this iteration.", ("commit", {})
    if name == "commit":
        if best and best["accuracy"] >= target:
            return f"Target reached: best {best['accuracy']:.1%} >= {target:.1%}. Done.", None
        return "Write the plan for the next iteration.", ("update_plan", {"plan": plan_text(project, rows)})
    if name == "update_plan":
        if _grpo_due(project, rows):
            return (
                f"Supervised runs have not beaten the best for {PLATEAU} iterations: try GRPO from it.",
                (
                    "train",
                    {
                        "hypothesis": "GRPO from the best adapter, the scorer as the reward, where more "
                        "supervised data stopped helping",
                        "overrides": {"training": {"method": "grpo"}},
                    },
                ),
            )
        patch = _plateau_patch(project, rows)
        if patch:
            return f"No new best for {PLATEAU} iterations: {patch[0]}.", ("patch_config", patch[1])
        return "Generate examples targeting the failure categories.", ("augment", {"n": _augment_n(project)})
    if name == "patch_config":
        return "Now add targeted data too.", ("augment", {"n": _augment_n(project)})
    if name == "augment":
        if failed:
            return "Could not add data (see the error above); stopping rather than retraining on the same data.", None
        what = "after a config change and " if _last_was_patch(messages) else ""
        hypothesis = f"{what}more examples targeting the last eval's failure categories"
        if _warm_stalled(rows):
            return (
                "Retrain from scratch on the larger set: the last warm start did not beat the best.",
                (
                    "train",
                    {
                        "hypothesis": f"a fresh adapter (the last warm start did not improve), {hypothesis}",
                        "warm_start": "none",
                    },
                ),
            )
        return "Retrain on the larger training set.", ("train", {"hypothesis": hypothesis})
    return "Check where we stand.", ("status", {})


def _noise_floor_due(project: Project) -> bool:
    """Ray is there to run seeds at once, the config asks for a noise floor, and none holds for today's gold."""
    cfg = project.config
    return cfg.compute.ray is not None and cfg.agent.noise_floor_seeds >= 3 and records.noise_floor_now(project) is None


def _grpo_due(project: Project, rows: list[dict]) -> bool:
    """GRPO is worth one try: the last PLATEAU supervised iterations did not beat the best before them, the project
    trains LoRA adapters with a programmatic scorer, and no GRPO run has been tried yet (one that did not pay is
    not tried again)."""
    cfg = project.config
    if len(rows) <= PLATEAU or cfg.training.method != "lora" or cfg.eval.scorer == "judge":
        return False
    if any(r.get("start") == "grpo" for r in rows):
        return False
    return max(r["accuracy"] for r in rows[-PLATEAU:]) <= max(r["accuracy"] for r in rows[:-PLATEAU])


def _warm_stalled(rows: list[dict]) -> bool:
    """The last iteration was a warm start that did not beat every earlier one: the next starts fresh."""
    if not rows or rows[-1].get("start") != "warm":
        return False
    return rows[-1]["accuracy"] <= max((r["accuracy"] for r in rows[:-1]), default=0.0)


def _last_was_patch(messages: list[dict]) -> bool:
    names = [
        b["name"]
        for m in messages
        if m["role"] == "assistant" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_use"
    ]
    return len(names) >= 2 and names[-2] == "patch_config"
