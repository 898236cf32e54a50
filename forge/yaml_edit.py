"""Edit scalar values in a YAML text in place, keeping comments and key order.

PyYAML drops comments on a round trip, and a user's commented forge.yaml is documentation
worth keeping, so patches are applied as line edits on block mappings. Anything this cannot
express (a value that spans lines, a flow mapping parent) returns None and the caller falls
back to a plain dump.
"""

from __future__ import annotations

import re

import yaml

_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_.\-]+)\s*:(?P<rest>.*)$")
_COMMENT = re.compile(r"""^(?P<value>(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^#'"])*?)(?P<comment>\s+#.*)?$""")


def _render(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def _key_lines(lines: list[str]):
    """Yield (line index, key path, indent, rest of line) for every block-mapping key."""
    stack: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith(("#", "-")):
            continue
        m = _KEY_LINE.match(line)
        if not m:
            continue
        indent = len(m["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m["key"]))
        yield i, [k for _, k in stack], indent, m["rest"]


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """Index after the last line belonging to the block opened at `start`."""
    end = start + 1
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(lines[j]) - len(lines[j].lstrip()) <= indent:
            break
        end = j + 1
    return end


def _set_one(lines: list[str], path: list[str], value) -> bool:
    found = {tuple(p): (i, ind, rest) for i, p, ind, rest in _key_lines(lines)}
    if tuple(path) in found:
        i, indent, rest = found[tuple(path)]
        m = _COMMENT.match(rest)
        if not m or not m["value"].strip():
            return False  # the value is a nested block; not a scalar edit
        comment = m["comment"] or ""
        lines[i] = f"{' ' * indent}{path[-1]}: {_render(value)}{comment}"
        return True
    for depth in range(len(path) - 1, 0, -1):
        parent = tuple(path[:depth])
        if parent in found:
            i, indent, rest = found[parent]
            if rest.split("#")[0].strip():
                return False  # parent holds an inline value
            child_indent = indent + 2
            end = _block_end(lines, i, indent)
            for j in range(i + 1, end):
                if lines[j].strip() and not lines[j].lstrip().startswith("#"):
                    child_indent = len(lines[j]) - len(lines[j].lstrip())
                    break
            lines[end:end] = _nested(path[depth:], value, child_indent)
            return True
    lines.extend(_nested(path, value, 0))
    return True


def _nested(path: list[str], value, indent: int) -> list[str]:
    out = [f"{' ' * (indent + 2 * n)}{key}:" for n, key in enumerate(path[:-1])]
    out.append(f"{' ' * (indent + 2 * (len(path) - 1))}{path[-1]}: {_render(value)}")
    return out


def apply_patch_text(text: str, flat_patch: dict[str, object]) -> str | None:
    """The text with each dotted key set to its value, or None when a line edit cannot do it."""
    lines = text.splitlines()
    for dotted, value in flat_patch.items():
        if not _set_one(lines, dotted.split("."), value):
            return None
    return "\n".join(lines) + "\n"
