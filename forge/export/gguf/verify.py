"""`forge export --format gguf --verify`: the GGUF, run by llama.cpp, against the transformers model.

For each gold prompt (built exactly as `forge eval` builds it) three things are compared:
the prompt's token ids (llama.cpp's tokenizer against the Hugging Face one), the next-token
logits at the end of the prompt, and the whole greedy answer, with llama.cpp stopping on its
own end-of-generation tokens as read from the GGUF. Equal answers mean a user of llama.cpp or
Ollama gets what `forge eval` scored.

Two numeric stacks accumulate in different orders, and which order wins a near-tie depends on the
CPU. So an answer that differs is walked along llama.cpp's tokens with the transformers model: at
the first token where the two disagree, the transformers model's own margin (its top logit minus
the logit of llama.cpp's pick) below NEAR_TIE_MARGIN for the file's type is a near-tie, reported
and not a failure; above it, a failure. The prompt tokens must always be identical.

Under a contract each prompt decodes under its own on both sides, as `forge eval` decodes it (the
output schema, or the example's tools): transformers through llguidance, llama.cpp through the same
contract as a GBNF grammar (forge.inference.gbnf.constraint_gbnf). With the gold answers, verify is a
check on the task: it scores both sides as eval does and fails only when the GGUF loses answers the
transformers model got right, beyond near-ties (and the k-quant allowance).

llama.cpp runs in a child process (`python -m forge.export.gguf.verify DIR`): native code that
crashes (a CPU kernel, a malformed file) becomes a one-line error instead of killing forge.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from forge.errors import ForgeError

# A difference of the two stacks' logits that flips a greedy pick must exceed the transformers model's
# own margin there: below these (logits), the flip is rounding, not a wrong file. f32 stacks differ by
# ~1e-3; a q8_0 file by up to ~1.5 on SmolLM2 (its max first-token logit difference measured here).
NEAR_TIE_MARGIN = {"f32": 0.1, "f16": 0.5, "bf16": 0.5, "q8_0": 1.0}
NEAR_TIE_MARGIN_QUANTIZED = 1.0  # k-quants: also held to K_QUANT_AGREEMENT of identical answers


def near_tie_margin(quant: str) -> float:
    return NEAR_TIE_MARGIN.get(quant, NEAR_TIE_MARGIN_QUANTIZED)


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
            return first, out, tok
        out.append(tok)
        llm.eval([tok])
        logits = llm.scores[llm.n_tokens - 1]
    return first, out, None


def _constrained(llm, ids: list[int], max_new_tokens: int, grammar):
    """Greedy under a llama.cpp grammar: (answer tokens, the end token or None)."""
    import llama_cpp

    out: list[int] = []
    for tok in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, grammar=grammar):
        if llama_cpp.llama_vocab_is_eog(llm._model.vocab, tok):
            return out, tok
        out.append(tok)
        if len(out) >= max_new_tokens:
            break
    return out, None


def run_llama_cpp(work: Path) -> None:
    """Child side: read job.json + hf_logits.npy from `work`, write llama_cpp.json."""
    import numpy as np
    from llama_cpp import Llama, LlamaGrammar

    job = json.loads((work / "job.json").read_text())
    hf_logits = np.load(work / "hf_logits.npy")
    n_ctx = max(len(i) for i in job["hf_ids"]) + job["max_new_tokens"] + 8
    llm = Llama(
        model_path=job["gguf"],
        n_ctx=n_ctx,
        n_batch=n_ctx,
        logits_all=True,
        verbose=False,
        n_threads=os.cpu_count() or 1,
        seed=0,
    )
    grammars = [LlamaGrammar.from_string(text, verbose=False) for text in job["grammars"]]
    rows = []
    try:
        for prompt, hf_first, which in zip(job["prompts"], hf_logits, job["grammar_of"], strict=True):
            ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            first, out, stop = _greedy(llm, ids, job["max_new_tokens"])
            if which is not None:
                grammar = grammars[which]
                out, stop = _constrained(llm, ids, job["max_new_tokens"], grammar)
            rows.append(
                {
                    "ids": ids,
                    "out_ids": out,
                    "stop_id": stop,
                    "answer": llm.detokenize(out).decode("utf-8", errors="replace"),
                    "logit_diff": float(np.abs(first[: len(hf_first)] - hf_first).max()),
                }
            )
    finally:
        llm.close()
    (work / "llama_cpp.json").write_text(json.dumps(rows))


def _run_child(work: Path, gguf: Path) -> list[dict]:
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:  # checked without loading native code here
        raise ForgeError("--verify needs llama-cpp-python: pip install 'forge-slm[llama-cpp]'")
    proc = subprocess.run([sys.executable, "-m", "forge.export.gguf.verify", str(work)], capture_output=True, text=True)
    if proc.returncode < 0:
        raise ForgeError(
            f"{gguf}: llama.cpp crashed (signal {-proc.returncode}) running it; a native build that "
            "crashes on quantized weights can be rebuilt with CMAKE_ARGS=-DGGML_NATIVE=OFF"
        )
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ForgeError(f"{gguf}: llama.cpp could not run it: {last}")
    return json.loads((work / "llama_cpp.json").read_text())


def first_disagreement(
    model, prompt_ids: list[int], out_ids: list[int], stop_id: int | None, stop: set[int], constraint=None
) -> dict | None:
    """Walk llama.cpp's answer (its tokens, then the end token it stopped on) with the transformers model
    (under `constraint`, a forge.inference.constrained.Constraint, when decoding is): the first step where the
    transformers model's greedy pick differs, with its margin over llama.cpp's pick; None when it picks the
    same at every step (any of its stop ids counts as the same stop)."""
    import torch

    path = out_ids + ([stop_id] if stop_id is not None else [])
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids + path])).logits[0, len(prompt_ids) - 1 :].float()
    masks = constraint.processor(1, len(prompt_ids), stop) if constraint else None
    for step, tok in enumerate(path):
        row = logits[step]
        if masks is not None:
            seen = torch.tensor([prompt_ids + path[:step]])
            row = masks(seen, row.unsqueeze(0).clone())[0]
        best = int(row.argmax())
        if best == tok or (tok == stop_id and best in stop):
            continue
        margin = float(row[best] - logits[step][tok]) if torch.isfinite(row[tok]) else float("inf")
        return {"step": step, "transformers_token": best, "llama_cpp_token": tok, "margin": round(margin, 6)}
    return None


def _classify(model, tokenizer, ids: list[int], row: dict, stop: set[int], threshold: float, constraint) -> dict:
    """Why an answer differs: `near_tie` (a flip within `threshold`, or none at all when each prompt is run
    alone) or `mismatch`; with the step, both tokens and the margin (inf: llama.cpp's pick is outside the
    transformers side's schema mask)."""
    split = first_disagreement(model, ids, row["out_ids"], row["stop_id"], stop, constraint)
    if split is None:
        # Unbatched, the transformers model gives llama.cpp's answer token for token: the difference is the
        # batched, padded generate of `forge eval` breaking a tie of its own. Unless the text itself differs.
        same_text = tokenizer.decode(row["out_ids"], skip_special_tokens=True) == row["answer"]
        return {
            "kind": "near_tie" if same_text else "mismatch",
            "margin": 0.0 if same_text else None,
            "why": "the same tokens as transformers one prompt at a time (batched eval broke a tie)"
            if same_text
            else "the same tokens, decoded to different text",
        }
    near = split["margin"] < threshold
    split["why"] = (
        f"transformers' margin {split['margin']:.4g} at answer token {split['step']} is "
        f"{'below' if near else 'above'} the near-tie threshold {threshold:g}"
    )
    if split["margin"] == float("inf"):  # llguidance allows only the canonical token for text the grammar forces
        split["why"] = (
            f"at answer token {split['step']} llama.cpp's grammar took a token forge's decoding does not "
            "allow (a non-canonical token for text the schema forces)"
        )
    return {"kind": "near_tie" if near else "mismatch", **split}


def verify_gguf(
    path: Path,
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int,
    batch_size: int = 64,
    required: float = 1.0,
    near_tie: float = NEAR_TIE_MARGIN["f32"],
    *,
    constraints: list | None = None,
    score: Callable[[list[str]], list[bool]] | None = None,
) -> dict:
    """Compare llama.cpp on `path` with `model` on `prompts` (each under its own contract where `constraints`, one
    forge.inference.constrained.Constraint or None per prompt, says so); returns counts, the first mismatches and
    near-ties, the agreement rate and whether it passed: every prompt tokenized alike, and then, with `score`
    (the answers as generated -> whether each is right, as eval scores them), the GGUF losing at most
    (1 - `required`) of the prompts that transformers got right other than by near-ties within `near_tie`;
    without it, at least `required` of the answers identical or near-ties (1.0 for f32/f16/bf16/q8_0; k-quants
    change some answers by design)."""
    import numpy as np
    import torch

    from forge.inference.gbnf import constraint_gbnf
    from forge.inference.generate import generate, stop_ids

    constraints = constraints or [None] * len(prompts)
    hf_answers = generate(model, tokenizer, prompts, max_new_tokens, batch_size, "cpu", None, constraints)
    hf_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    with torch.no_grad():
        # clone: a view of the last row would keep each prompt's whole logits alive until the stack (64 prompts of
        # 1,300 tokens held 15 GB)
        hf_logits = np.stack([model(torch.tensor([ids])).logits[0, -1].float().clone().numpy() for ids in hf_ids])
    unique = list({id(c): c for c in constraints if c is not None}.values())  # each grammar compiled once
    index = {id(c): n for n, c in enumerate(unique)}
    with tempfile.TemporaryDirectory(prefix="forge-verify-") as tmp:
        work = Path(tmp)
        job = {
            "gguf": str(path),
            "prompts": prompts,
            "hf_ids": hf_ids,
            "max_new_tokens": max_new_tokens,
            "grammars": [constraint_gbnf(c) for c in unique],
            "grammar_of": [index[id(c)] if c is not None else None for c in constraints],
        }
        (work / "job.json").write_text(json.dumps(job))
        np.save(work / "hf_logits.npy", hf_logits)
        rows = _run_child(work, path)
    stop = stop_ids(model, tokenizer)
    result = {
        "prompts": len(prompts),
        "tokens_match": 0,
        "greedy_match": 0,
        "near_ties": 0,
        "near_tie_margin": near_tie,
        "constrained": any(c is not None for c in constraints),
        "max_logit_diff": round(max(r["logit_diff"] for r in rows), 6),
        "mismatches": [],
        "near_tie_examples": [],
    }
    hf_right = score(hf_answers) if score else None
    gguf_right = score([r["answer"] for r in rows]) if score else None
    lost = 0
    for i, (prompt, ids, hf_answer, row) in enumerate(zip(prompts, hf_ids, hf_answers, rows, strict=True)):
        same_tokens = row["ids"] == ids
        result["tokens_match"] += same_tokens
        if same_tokens and row["answer"] == hf_answer:
            result["greedy_match"] += 1
            continue
        seen = {"prompt": prompt, "transformers": hf_answer, "llama_cpp": row["answer"], "tokens_equal": same_tokens}
        verdict = (
            _classify(model, tokenizer, ids, row, stop, near_tie, constraints[i])
            if same_tokens
            else {"kind": "mismatch", "why": "the prompt tokenized differently"}
        )
        kind = verdict.pop("kind")
        result["near_ties"] += kind == "near_tie"
        if kind == "mismatch" and hf_right is not None and gguf_right is not None:
            lost += hf_right[i] and not gguf_right[i]
        listed = result["near_tie_examples" if kind == "near_tie" else "mismatches"]
        if len(listed) < 5:
            listed.append({**seen, **verdict})
    result["agreement"] = round((result["greedy_match"] + result["near_ties"]) / max(1, len(prompts)), 4)
    result["required"] = required
    tokens_ok = result["tokens_match"] == len(prompts)
    if hf_right is None or gguf_right is None:
        result["passed"] = tokens_ok and result["agreement"] >= required
        return result
    result.update(
        transformers_correct=sum(hf_right),
        gguf_correct=sum(gguf_right),
        lost=lost,
        lost_allowed=int((1 - required) * len(prompts) + 1e-9),
    )
    result["passed"] = tokens_ok and lost <= result["lost_allowed"]
    return result


if __name__ == "__main__":
    run_llama_cpp(Path(sys.argv[1]))
