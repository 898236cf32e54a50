"""Offline example generator for the math demo: generate(n, focus, seed) -> list of examples.

Questions are additions and subtractions of two numbers 0-99, in several phrasings; answers are
{"cmd": "add"|"subtract", "result": <int>}. The gold set is drawn from a held-out slice of
operand pairs ((7a + b) % 10 == 3) that this generator never produces, so no gold problem can
reach training data in any phrasing — the demo's gold accuracy measures generalisation.
`focus` (from augment: "inputs whose correct cmd is 'add'; ...") narrows the operation.
"""

import json
import random

TEMPLATES = {
    "add": ["What is {a} + {b}?", "Compute {a} plus {b}.", "{a} + {b} = ?", "Add {a} and {b}.",
            "What do you get when you add {a} to {b}?", "Sum of {a} and {b}?"],
    "subtract": ["What is {a} - {b}?", "Compute {a} minus {b}.", "{a} - {b} = ?", "Subtract {b} from {a}.",
                 "What is {b} less than {a}?", "Difference between {a} and {b}?"],
}


def held_out(a: int, b: int) -> bool:
    return (7 * a + b) % 10 == 3


def example(op: str, a: int, b: int, template: str) -> dict:
    result = a + b if op == "add" else a - b
    return {"user": template.format(a=a, b=b), "assistant": json.dumps({"cmd": op, "result": result})}


def generate(n, focus, seed):
    rng = random.Random(seed)
    ops = [op for op in TEMPLATES if focus and f"'{op}'" in focus.split("failed")[0]] or sorted(TEMPLATES)
    out = []
    while len(out) < n:
        op = rng.choice(ops)
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        if op == "subtract" and b > a:
            a, b = b, a
        if held_out(a, b):
            continue
        out.append(example(op, a, b, rng.choice(TEMPLATES[op])))
    return out
