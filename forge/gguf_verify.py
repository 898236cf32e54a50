"""`forge export --format gguf --verify`: the GGUF, run by llama.cpp, against the transformers model.

For each gold prompt (built exactly as `forge eval` builds it) three things are compared:
the prompt's token ids (llama.cpp's tokenizer against the Hugging Face one), the next-token
logits at the end of the prompt, and the whole greedy answer, with llama.cpp stopping on its
own end-of-generation tokens as read from the GGUF. Equal answers mean a user of llama.cpp or
Ollama gets what `forge eval` scored.
"""

from __future__ import annotations

import os
from pathlib import Path

from forge.errors import ForgeError


def _llama(path: Path, n_ctx: int):
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ForgeError("--verify needs llama-cpp-python: pip install llama-cpp-python") from None
    return Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, verbose=False,
                 n_threads=os.cpu_count() or 1, seed=0)


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


def verify_gguf(path: Path, model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int = 64) -> dict:
    """Compare llama.cpp on `path` with `model` on `prompts`; returns counts and the first mismatch."""
    import numpy as np
    import torch

    from forge.eval_runner import generate

    hf_answers = generate(model, tokenizer, prompts, max_new_tokens, batch_size, "cpu")
    hf_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    llm = _llama(path, max(len(i) for i in hf_ids) + max_new_tokens + 8)
    result = {"prompts": len(prompts), "tokens_match": 0, "greedy_match": 0, "max_logit_diff": 0.0, "mismatches": []}
    try:
        for prompt, ids, hf_answer in zip(prompts, hf_ids, hf_answers, strict=True):
            ll_ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            result["tokens_match"] += ll_ids == ids
            first, out = _greedy(llm, ll_ids, max_new_tokens)
            with torch.no_grad():
                hf_first = model(torch.tensor([ids])).logits[0, -1].float().numpy()
            diff = float(np.abs(first[:len(hf_first)] - hf_first).max())
            result["max_logit_diff"] = max(result["max_logit_diff"], diff)
            answer = llm.detokenize(out).decode("utf-8", errors="replace")
            if answer == hf_answer and ll_ids == ids:
                result["greedy_match"] += 1
            elif len(result["mismatches"]) < 5:
                result["mismatches"].append({"prompt": prompt, "transformers": hf_answer, "llama_cpp": answer,
                                             "tokens_equal": ll_ids == ids})
    finally:
        llm.close()
    result["max_logit_diff"] = round(result["max_logit_diff"], 6)
    return result
