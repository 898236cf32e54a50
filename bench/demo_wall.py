"""Benchmark: `make demo`'s wall time once set up (examples/run-demo-real: SmolLM2-135M-Instruct, LoRA, the
zero-shot baseline, the flywheel to the target, the report, a q8_0 GGUF verified in llama.cpp).

Prints the wall seconds, the iterations run, the baseline and best gold accuracy and the GGUF's verify
result. Set-up from a fresh clone (`make setup`) is measured apart, with /usr/bin/time (docs/benchmarks.md).
Run: `.venv/bin/python bench/demo_wall.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
work = Path(tempfile.mkdtemp(prefix="forge-bench-demo-")) / "demo"
env = {
    "FORGE": str(Path(sys.executable).parent / "forge"),
    "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
    "HOME": str(work.parent),
}
start = time.perf_counter()
done = subprocess.run(
    [str(ROOT / "examples" / "run-demo-real"), str(work)], capture_output=True, text=True, env=env, cwd=work.parent
)
wall = time.perf_counter() - start
if done.returncode:
    sys.exit(f"the demo failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
rows = [json.loads(line) for line in (work / "output" / "experiments.jsonl").read_text().splitlines()]
verify = json.loads(next((work / "output").glob("export_gguf_*/verify.json")).read_text())
print(f"demo_wall_s: {wall:.1f}")
print(f"iterations: {sum(r.get('kind') != 'baseline' for r in rows)}")
print(f"baseline_accuracy: {rows[0]['accuracy']:.3f}")
print(f"best_accuracy: {json.loads((work / 'output' / 'best_score.json').read_text())['accuracy']:.3f}")
print(
    f"gguf_verify: passed {verify['passed']}, gold {verify['gguf_correct']}/{verify['prompts']} in llama.cpp vs "
    f"{verify['transformers_correct']}/{verify['prompts']} in transformers, {verify['greedy_match']}/"
    f"{verify['prompts']} identical answers"
)
