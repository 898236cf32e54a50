"""k-quants for `forge export --format gguf`: q4_k_m, q5_k_m, q6_k, made from the f16 GGUF by llama.cpp's own
quantizer (`llama_cpp.llama_model_quantize`, the llama-cpp extra), the way llama.cpp users make them.

The quantizer runs in a child process (`python -m forge.export.gguf.quantize IN OUT QUANT`): native code that
crashes becomes a one-line error instead of killing forge. 4-5-bit weights change some greedy answers,
so `--verify` holds them to K_QUANT_AGREEMENT of the gold prompts (with identical prompt tokens), not to
every one.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from forge.errors import ForgeError

K_QUANTS = {
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
}
K_QUANT_AGREEMENT = 0.9


def quantize(f16: Path, out: Path, quant: str) -> None:
    """Write `out` (atomically) from the f16 GGUF `f16`, or raise a one-line ForgeError."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ForgeError(f"--quant {quant} needs llama.cpp's quantizer: pip install 'forge-slm[llama-cpp]'")
    tmp = out.with_name(f".{out.name}.tmp")
    proc = subprocess.run(
        [sys.executable, "-m", "forge.export.gguf.quantize", str(f16), str(tmp), quant], capture_output=True, text=True
    )
    if proc.returncode or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        how = (
            f"crashed (signal {-proc.returncode})"
            if proc.returncode < 0
            else f"failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}"
        )
        raise ForgeError(f"{out.name}: llama.cpp's quantizer {how}")
    tmp.replace(out)


def _child(src: str, dst: str, quant: str) -> int:
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, K_QUANTS[quant])
    params.nthread = os.cpu_count() or 1
    return llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))


if __name__ == "__main__":
    code = _child(*sys.argv[1:4])
    if code:
        print(f"llama_model_quantize returned {code}", file=sys.stderr)
    sys.exit(code)
