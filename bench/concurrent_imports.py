"""Benchmark: concurrent `forge import`s into one project lose nothing, and what the lock costs.

    .venv/bin/python bench/concurrent_imports.py [--processes 6] [--rounds 20] [--per-file 500]
                                                 [--baseline COMMIT] [--big 10000]

Each round starts `--processes` imports of distinct files at once and waits for them; at the end
the training set must hold processes x rounds x per-file examples. Then one import of `--big`
examples into an empty project, timed (best of 3). With `--baseline`, the same runs with that
commit installed (no deps) beside this one: the lost count before the lock, and the time ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from planner_context import install_baseline  # noqa: E402

from forge.project.scaffold import init_project  # noqa: E402

from _setup import examples  # noqa: E402

CLI = "import sys; from forge.cli import main; sys.exit(main())"


def fresh_project() -> Path:
    root = Path(tempfile.mkdtemp(prefix="forge-bench-import-")) / "p"
    init_project("imports", root)
    return root


def forge(args: list[str], pythonpath: Path | None) -> subprocess.Popen:
    env = {**os.environ, **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
    # not from the repository's directory: `python -c` puts the cwd first on sys.path, which would shadow the
    # baseline with this checkout
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tempfile.gettempdir(),
    )


def count(root: Path) -> int:
    path = root / "dataset" / "canonical.jsonl"
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.exists() else 0


def concurrent(processes: int, rounds: int, per_file: int, pythonpath: Path | None) -> dict:
    root = fresh_project()
    files = []
    for i in range(processes * rounds):
        rows = examples(per_file, 1000 + i)
        for n, r in enumerate(rows):  # unique inputs across every file
            r["messages"][0]["content"] += f" (batch {i} item {n})"
        path = root.parent / f"import_{i}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        files.append(path)
    errors = 0
    start = time.perf_counter()
    for r in range(rounds):
        procs = [
            forge(["import", str(f), "-p", str(root)], pythonpath) for f in files[r * processes : (r + 1) * processes]
        ]
        for p in procs:
            _, err = p.communicate()
            errors += p.returncode != 0
    wall = time.perf_counter() - start
    want, got = processes * rounds * per_file, count(root)
    shutil.rmtree(root.parent, ignore_errors=True)
    return {"expected": want, "kept": got, "lost": want - got, "failed_imports": errors, "wall_s": round(wall, 1)}


def big_import(n: int, pythonpath: Path | None) -> float:
    times = []
    for _ in range(3):
        root = fresh_project()
        path = root.parent / "big.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in examples(n, 7)))
        start = time.perf_counter()
        p = forge(["import", str(path), "-p", str(root)], pythonpath)
        p.communicate()
        times.append(time.perf_counter() - start)
        shutil.rmtree(root.parent, ignore_errors=True)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--processes", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--per-file", type=int, default=500)
    ap.add_argument("--big", type=int, default=10_000)
    ap.add_argument("--baseline", help="a git commit to compare with")
    args = ap.parse_args()
    versions = [("this", None)] + (
        [(f"baseline {args.baseline}", install_baseline(args.baseline))] if args.baseline else []
    )
    big = {}
    for name, lib in versions:
        res = concurrent(args.processes, args.rounds, args.per_file, lib)
        print(
            f"{name}: {args.processes} concurrent imports x {args.rounds} rounds of {args.per_file}: "
            f"expected {res['expected']}, kept {res['kept']}, lost {res['lost']}, failed imports "
            f"{res['failed_imports']}, {res['wall_s']} s"
        )
    for name, lib in versions:  # alternate the timed runs' order after the long ones, same machine state
        big[name] = big_import(args.big, lib)
        print(f"{name}: one import of {args.big} examples: {big[name]:.2f} s (best of 3)")
    if args.baseline:
        print(f"ratio (this / baseline) for the {args.big}-example import: {big['this'] / big[versions[1][0]]:.3f}x")


if __name__ == "__main__":
    main()
