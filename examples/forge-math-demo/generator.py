"""Offline example generator for the math demo: generate(n, focus, seed) -> list of examples.

Each example is an arithmetic question in plain English and the calculator call that answers
it: {"cmd": "add"|"subtract"|"multiply"|"divide", "args": [x, y]} with the operands in the
order the operation needs ("48 less than 95" is subtract [95, 48]). The gold set is drawn from a
held-out slice of operand pairs ((7x + y) % 10 == 3) that this generator never produces, so no
gold question can reach training data in any phrasing: gold accuracy measures generalisation.
`focus` (from augment: "inputs whose correct cmd is 'divide'; ...") narrows the operation.
"""

import json
import random

# {x} is always the call's first operand and {y} the second, wherever the phrasing puts them.
TEMPLATES = {
    "add": ["What is {x} + {y}?", "Compute {x} plus {y}.", "Add {x} and {y}.", "Sum of {x} and {y}?",
            "What do you get when you add {x} and {y}?", "{x} + {y} = ?", "Increase {x} by {y}."],
    "subtract": ["What is {x} - {y}?", "Compute {x} minus {y}.", "Subtract {y} from {x}.", "What is {y} less than {x}?",
                 "Take {y} away from {x}.", "{x} - {y} = ?", "Decrease {x} by {y}."],
    "multiply": ["What is {x} * {y}?", "Compute {x} times {y}.", "Multiply {x} by {y}.", "Product of {x} and {y}?",
                 "{x} x {y} = ?", "What is {x} multiplied by {y}?"],
    "divide": ["What is {x} / {y}?", "Divide {x} by {y}.", "Compute {x} divided by {y}.",
               "How many times does {y} go into {x}?", "{x} / {y} = ?", "Split {x} into {y} equal parts."],
}


def held_out(x: int, y: int) -> bool:
    return (7 * x + y) % 10 == 3


def example(op: str, x: int, y: int, template: str) -> dict:
    return {"user": template.format(x=x, y=y), "assistant": json.dumps({"cmd": op, "args": [x, y]})}


def generate(n, focus, seed):
    rng = random.Random(seed)
    ops = [op for op in TEMPLATES if focus and f"'{op}'" in focus.split("failed")[0]] or sorted(TEMPLATES)
    out = []
    while len(out) < n:
        op = rng.choice(ops)
        x, y = rng.randint(0, 99), rng.randint(1, 99)
        if op in ("subtract", "divide") and y > x:
            x, y = y, x
        if held_out(x, y):
            continue
        out.append(example(op, x, y, rng.choice(TEMPLATES[op])))
    return out
