"""`forge chat`: type prompts at a trained model and watch the answer stream, turn after turn.

Same model choice, system prompt and chat template as `forge predict` (forge.inference.predict); greedy, like
eval, and under the output schema when eval decodes under it, so what you see is what the gold set
measures. `--gguf FILE` talks to an exported GGUF through
llama.cpp instead, with the chat template stored in the file. Commands: /reset forgets the
conversation, /exit (or end of input) quits.
"""

from __future__ import annotations

from pathlib import Path

from forge.inference.constrained import project_constraint
from forge.inference.generate import stop_ids, until_stop
from forge.inference.gguf import GgufAnswerer
from forge.inference.predict import render_prompt
from forge.models.loading import load_for_inference, resolve_runtime


def hf_responder(project, model_dir: Path, max_new_tokens: int, write):
    """history -> answer, streaming its text to `write` as it is generated."""
    import torch
    from transformers import LogitsProcessorList, TextStreamer

    device = resolve_runtime(project.config.compute.device, load_in_4bit=False).device
    model, tokenizer, _ = load_for_inference(model_dir, project.root, device, project.config.eval.precision)
    stops = sorted(stop_ids(model, tokenizer))
    constraint = project_constraint(project, tokenizer)

    class Streamer(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False):
            write(text)

    def respond(history: list[dict]) -> str:
        enc = tokenizer(render_prompt(project, tokenizer, history), return_tensors="pt",
                        add_special_tokens=False).to(device)
        extra = {"logits_processor": LogitsProcessorList([constraint.processor(1, enc["input_ids"].shape[1],
                                                                               set(stops))])} if constraint else {}
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stops,
                                 pad_token_id=tokenizer.pad_token_id, **extra,
                                 streamer=Streamer(tokenizer, skip_prompt=True, skip_special_tokens=True))
        new = until_stop(out[0, enc["input_ids"].shape[1]:].tolist(), set(stops))
        return tokenizer.decode(new, skip_special_tokens=True)

    return respond


def gguf_responder(project, gguf: Path, max_new_tokens: int, write):
    """history -> answer from the GGUF through llama.cpp, streaming its text to `write`."""
    answerer = GgufAnswerer(project, gguf, max_new_tokens)

    def respond(history: list[dict]) -> str:
        parts = []
        for text in answerer.pieces(history):
            parts.append(text)
            write(text)
        return "".join(parts)

    return respond


def chat(respond, read_line, write) -> int:
    """The loop: read a line, answer it, until /exit or end of input. Returns the number of turns."""
    history: list[dict] = []
    turns = 0
    while True:
        line = read_line()
        if line is None or line.strip() in ("/exit", "/quit"):
            return turns
        if line.strip() == "/reset":
            history = []
            write("(conversation reset)\n")
            continue
        history.append({"role": "user", "content": line})
        answer = respond(history)
        write("\n")
        history.append({"role": "assistant", "content": answer})
        turns += 1
