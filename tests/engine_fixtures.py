"""A tiny routing task a random-init model learns in seconds, and projects built around it."""

from __future__ import annotations

import json
import random
from pathlib import Path

from forge.config import load as config_io
from forge.project.scaffold import init_project

from conftest import chat, write_jsonl

COMMANDS = {
    "lights_on": ["turn on the lights", "lights on please", "switch the lamp on"],
    "lights_off": ["turn off the lights", "lights off now", "kill the lamp"],
    "play_music": ["play some music", "put on a song", "start the playlist"],
    "weather": ["what is the weather", "will it rain", "forecast for today"],
}


def routing_examples(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        cmd = rng.choice(sorted(COMMANDS))
        phrase = rng.choice(COMMANDS[cmd])
        rows.append(chat(f"{phrase} in room {rng.randint(1, 999)}", json.dumps({"cmd": cmd})))
    return rows


def make_project(root: Path, tiny_model: Path, *, method="full", n_train=64, **patch) -> Path:
    init_project("routing", root)
    write_jsonl(root / "dataset" / "canonical.jsonl", routing_examples(n_train, seed=1))
    write_jsonl(root / "dataset" / "gold.jsonl", routing_examples(16, seed=2))
    (root / "system_prompt.md").write_text("Route the request. Answer with JSON.\n")
    base = {
        "model": {"base": str(tiny_model), "max_seq_len": 128},
        "training": {
            "method": method,
            "learning_rate": 5e-3 if method == "full" else 1e-2,
            "batch_size": 8,
            "epochs_min": 12,
            "epochs_max": 12,
            "warmup_ratio": 0.0,
            "lr_scheduler": "constant",
        },
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
        "eval": {"max_new_tokens": 32, "batch_size": 8},
        "compute": {"device": "cpu"},
    }
    config_io.patch_file(root / "forge.yaml", config_io.merge(base, patch))
    return root


GENERATOR = """
import json, random
COMMANDS = {"lights_on": ["turn on the lights", "lights on please", "switch the lamp on"],
            "lights_off": ["turn off the lights", "lights off now", "kill the lamp"],
            "play_music": ["play some music", "put on a song", "start the playlist"],
            "weather": ["what is the weather", "will it rain", "forecast for today"]}

def generate(n, focus, seed):
    rng = random.Random(seed)
    cmds = [c for c in COMMANDS if focus and repr(c) in focus.split("failed")[0]] or sorted(COMMANDS)
    return [{"user": f"{rng.choice(COMMANDS[c])} in room {rng.randint(1, 999)}", "assistant": json.dumps({"cmd": c})}
            for c in (rng.choice(cmds) for _ in range(n))]
"""


def make_agent_project(root: Path, tiny_model: Path, n_train: int = 16, **patch) -> Path:
    """A small routing project with an offline generator, committed, ready for the agent."""
    import git

    make_project(root, tiny_model, n_train=n_train, **patch)
    (root / "generator.py").write_text(GENERATOR)
    repo = git.Repo(root)
    repo.git.add("--all")
    repo.index.commit("set up routing task")
    return root


ROOM = {"type": "object", "properties": {"room": {"type": "string", "enum": ["kitchen", "hall"]}}, "required": ["room"]}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": ROOM if name.startswith("lights") else {"type": "object", "properties": {}},
        },
    }
    for name in sorted(COMMANDS)
]


def tool_examples(n: int, seed: int) -> list[dict]:
    """The routing task as OpenAI-format tool calls: one call a turn, the room as the lights' argument; every
    third conversation has an earlier call and its result in its history."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        turns: list[dict] = []
        for _ in range(2 if i % 3 == 0 else 1):
            cmd, room = rng.choice(sorted(COMMANDS)), rng.choice(["kitchen", "hall"])
            args = {"room": room} if cmd.startswith("lights") else {}
            turns += [
                {"role": "user", "content": f"{rng.choice(COMMANDS[cmd])} in the {room} {rng.randint(1, 999)}"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "id": f"call{len(turns)}",
                            "type": "function",
                            "function": {"name": cmd, "arguments": json.dumps(args)},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": f"call{len(turns)}", "content": "done"},
            ]
        rows.append({"tools": TOOLS, "messages": turns[:-1]})
    return rows
