"""`forge export --format gguf --verify`: the GGUF, run by llama.cpp, against the transformers model.

For each gold prompt (built exactly as `forge eval` builds it) three things are compared:
the prompt's token ids (llama.cpp's tokenizer against the Hugging Face one), the next-token
logits at the end of the prompt, and the whole greedy answer, with llama.cpp stopping on its
own end-of-generation tokens as read from the GGUF. Equal answers mean a user of llama.cpp or
Ollama gets what `forge eval` scored.

llama.cpp runs in a child process (`python -m forge.gguf_verify DIR`): native code that
crashes (a CPU kernel, a malformed file) becomes a one-line error instead of killing forge.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from forge.errors import ForgeError


def _greedy(llm, ids: list[int], max_new_tokens: int):
    import llama_cpp
    import numpy as np

    llm.reset()
    llm.eval(ids)
    first = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
    out: list[int] = []
    logits = first
    for _ in range(max_new_tokens):
        tok = int(np.argmax(logits))
        if llama_cpp.llama_vocab_is_eog(llm._model.vocab, tok):
            break
        out.append(tok)
        llm.eval([tok])
        logits = llm.scores[llm.n_tokens - 1]
    return first, out


def run_llama_cpp(work: Path) -> None:
    """Child side: read job.json + hf_logits.npy from `work`, write llama_cpp.json."""
    import numpy as np
    from llama_cpp import Llama

    job = json.loads((work / "job.json").read_text())
    hf_logits = np.load(work / "hf_logits.npy")
    n_ctx = max(len(i) for i in job["hf_ids"]) + job["max_new_tokens"] + 8
    llm = Llama(model_path=job["gguf"], n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, verbose=False,
                n_threads=os.cpu_count() or 1, seed=0)
    rows = []
    try:
        for prompt, hf_first in zip(job["prompts"], hf_logits, strict=True):
            ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            first, out = _greedy(llm, ids, job["max_new_tokens"])
            rows.append({"ids": ids, "answer": llm.detokenize(out).decode("utf-8", errors="replace"),
                         "logit_diff": float(np.abs(first[:len(hf_first)] - hf_first).max())})
    finally:
        llm.close()
    (work / "llama_cpp.json").write_text(json.dumps(rows))


def _run_child(work: Path, gguf: Path) -> list[dict]:
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:  # checked without loading native code here
        raise ForgeError("--verify needs llama-cpp-python: pip install 'forge-slm[llama-cpp]'")
    proc = subprocess.run([sys.executable, "-m", "forge.gguf_verify", str(work)], capture_output=True, text=True)
    if proc.returncode < 0:
        raise ForgeError(f"{gguf}: llama.cpp crashed (signal {-proc.returncode}) running it; a native build that "
                         "crashes on quantized weights can be rebuilt with CMAKE_ARGS=-DGGML_NATIVE=OFF")
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ForgeError(f"{gguf}: llama.cpp could not run it: {last}")
    return json.loads((work / "llama_cpp.json").read_text())


def verify_gguf(path: Path, model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int = 64,
                required: float = 1.0) -> dict:
    """Compare llama.cpp on `path` with `model` on `prompts`; returns counts, the first mismatches, the greedy
    agreement rate and whether it passed: every prompt tokenized alike and at least `required` of the greedy
    answers identical (1.0 for f32/f16/bf16/q8_0; k-quants change some answers by design)."""
    import numpy as np
    import torch

    from forge.eval_runner import generate

    hf_answers = generate(model, tokenizer, prompts, max_new_tokens, batch_size, "cpu")
    hf_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    with torch.no_grad():
        hf_logits = np.stack([model(torch.tensor([ids])).logits[0, -1].float().numpy() for ids in hf_ids])
    with tempfile.TemporaryDirectory(prefix="forge-verify-") as tmp:
        work = Path(tmp)
        job = {"gguf": str(path), "prompts": prompts, "hf_ids": hf_ids, "max_new_tokens": max_new_tokens}
        (work / "job.json").write_text(json.dumps(job))
        np.save(work / "hf_logits.npy", hf_logits)
        rows = _run_child(work, path)
    result = {"prompts": len(prompts), "tokens_match": 0, "greedy_match": 0,
              "max_logit_diff": round(max(r["logit_diff"] for r in rows), 6), "mismatches": []}
    for prompt, ids, hf_answer, row in zip(prompts, hf_ids, hf_answers, rows, strict=True):
        same_tokens = row["ids"] == ids
        result["tokens_match"] += same_tokens
        if same_tokens and row["answer"] == hf_answer:
            result["greedy_match"] += 1
        elif len(result["mismatches"]) < 5:
            result["mismatches"].append({"prompt": prompt, "transformers": hf_answer, "llama_cpp": row["answer"],
                                         "tokens_equal": same_tokens})
    result["agreement"] = round(result["greedy_match"] / max(1, len(prompts)), 4)
    result["required"] = required
    result["passed"] = result["tokens_match"] == len(prompts) and result["agreement"] >= required
    return result


if __name__ == "__main__":
    run_llama_cpp(Path(sys.argv[1]))
