"""Benchmark: a 12-round Claude-planned run against the strict stand-in server, this forge vs a baseline.

The stand-in (tests/strict_anthropic.py) refuses what the Messages API refuses, enforces a
context window and accounts prompt caching from each request's cache_control breakpoints. Each
round is train, eval, show_failures, promote, augment, commit, update_plan on a nano model.
Printed per forge and window: rounds completed, how the run ended, cache-read share of input
tokens, largest prompt, planner USD per iteration at claude-sonnet-5-5 prices, refusals.

    .venv/bin/python bench/planner_context.py                       # this checkout only
    .venv/bin/python bench/planner_context.py --baseline c11be1f    # also a commit, for before/after

The baseline commit is installed (no deps) into a temporary directory and run from there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from forge.models.tiny import build_tiny

from _setup import examples  # noqa: F401  (puts tests/ on sys.path)
from engine_fixtures import make_agent_project  # noqa: E402
from strict_anthropic import StrictAnthropic, rounds_policy  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PRICE_IN, PRICE_OUT = 2.0, 10.0  # claude-sonnet-5-5, USD per million tokens
ROUNDS = 12


def install_baseline(commit: str) -> Path:
    work = Path(tempfile.mkdtemp(prefix="forge-baseline-"))
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(work / "src"), commit],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(work / "lib"), str(work / "src")],
        check=True,
    )
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(work / "src")], check=True)
    return work / "lib"


def as_before(path: Path) -> None:
    """forge.yaml in the baseline's schema: the planner and data-generation keys under flywheel, hub as
    promotion, no keys it did not have."""
    import yaml

    data = yaml.safe_load(path.read_text())
    agent, llm = data["agent"], data["llm"]
    datagen, hub = data.pop("datagen", {}), data.pop("hub", {})
    data["flywheel"] = {
        "augment_per_failure": datagen.get("augment_per_failure", 20),
        "datagen_model": datagen.get("model", "claude-sonnet-5-5"),
        "max_iterations": agent.pop("max_iterations"),
        "planner_model": agent.pop("planner_model"),
    }
    data["promotion"] = hub
    for key in ("context_tokens", "max_tokens"):
        agent.pop(key, None)
    for key in ("timeout_s", "planner_effort", "datagen_effort", "batch_deadline_minutes"):
        llm.pop(key, None)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def run(model: Path, window: int, pythonpath: Path | None) -> dict:
    server = StrictAnthropic(rounds_policy(ROUNDS), window=window)
    root = Path(tempfile.mkdtemp(prefix="forge-bench-")) / "p"
    make_agent_project(
        root,
        model,
        llm={"base_url": server.url, "max_retries": 0},
        agent={"max_tool_calls": 0, "max_iterations": ROUNDS},
        training={"epochs_min": 2, "epochs_max": 2},
        dataset={"generator_mode": "always"},
    )
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")}
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
        as_before(root / "forge.yaml")
    # cwd: the project, so `python -c` does not put this checkout's forge/ first on sys.path.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from forge.cli import main; main()",
            "agent",
            "run",
            "--planner",
            "claude",
            "--goal",
            "improve the router",
            "-p",
            str(root),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=root,
    )
    server.stop()
    rows = (
        (root / "output" / "experiments.jsonl").read_text().splitlines()
        if (root / "output" / "experiments.jsonl").exists()
        else []
    )
    u = server.usages
    prompt = sum(x["prompt_tokens"] for x in u)
    read = sum(x["cache_read_input_tokens"] for x in u)
    usd = (
        sum(
            x["input_tokens"] * PRICE_IN
            + x["cache_creation_input_tokens"] * PRICE_IN * 1.25
            + x["cache_read_input_tokens"] * PRICE_IN * 0.1
            + x["output_tokens"] * PRICE_OUT
            for x in u
        )
        / 1e6
    )
    ended = next((line for line in out.stdout.splitlines() if line.startswith("run: ")), out.stdout[-200:])
    return {
        "rounds": len(rows),
        "ended": ended.split(" ", 2)[-1],
        "cache_read_share": read / prompt if prompt else 0,
        "largest_prompt": max((x["prompt_tokens"] for x in u), default=0),
        "usd_per_iteration": usd / max(1, len(rows)),
        "requests": len(u),
        "refusals": len(server.refusals),
        "first_refusal": server.refusals[0][:90] if server.refusals else "",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", help="a git commit to compare with (e.g. c11be1f)")
    ap.add_argument("--windows", default="24000,1000000")
    args = ap.parse_args()
    model = Path(tempfile.mkdtemp(prefix="forge-bench-model-")) / "nano"
    build_tiny(model, arch="qwen2", size="nano")
    versions = [("this", None)] + (
        [(f"baseline {args.baseline}", install_baseline(args.baseline))] if args.baseline else []
    )
    results = {}
    for window in (int(w) for w in args.windows.split(",")):
        for name, path in versions:
            r = results[(name, window)] = run(model, window, path)
            print(
                f"{name:<18} window {window:>8}: rounds {r['rounds']:>2}/{ROUNDS}, cache-read share "
                f"{r['cache_read_share']:.0%}, largest prompt {r['largest_prompt']}, planner "
                f"${r['usd_per_iteration']:.4f}/iteration, refusals {r['refusals']} {r['first_refusal']}"
                f"\n{'':<18} ended: {r['ended']}",
                flush=True,
            )
        if args.baseline:
            a, b = results[("this", window)], results[(f"baseline {args.baseline}", window)]
            if b["usd_per_iteration"] and b["largest_prompt"]:
                print(
                    f"ratio (this / baseline) at window {window}: planner $ per iteration "
                    f"{a['usd_per_iteration'] / b['usd_per_iteration']:.2f}x, largest prompt "
                    f"{a['largest_prompt'] / b['largest_prompt']:.2f}x"
                )


if __name__ == "__main__":
    main()
