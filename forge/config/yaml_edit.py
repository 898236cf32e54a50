"""Patches to a YAML text that keep its comments, key order, quoting and list styles (ruamel.yaml round-trip).

A user's commented forge.yaml is documentation worth keeping, whatever shape its values take:
block or flow lists, nested mappings, quoted strings. The indentation is read from the text and
kept, so a patch changes only the lines of the values it sets.
"""

from __future__ import annotations

import io
import re

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.util import load_yaml_guess_indent

_NESTED_KEY = re.compile(r"^( +)[^\s#-]", re.M)


def _set_list(seq: CommentedSeq, value: list) -> None:
    """Item by item, so a comment on item i stays on item i; the list keeps its flow or block style."""
    for i, item in enumerate(value[: len(seq)]):
        seq[i] = item
    del seq[len(value) :]
    seq.extend(value[len(seq) :])


def _set(node: CommentedMap, patch: dict) -> None:
    for key, value in patch.items():
        current = node.get(key)
        if isinstance(value, dict) and isinstance(current, CommentedMap):
            _set(current, value)
        elif isinstance(value, list) and isinstance(current, CommentedSeq):
            _set_list(current, value)
        else:
            node[key] = value


def _float(representer, value: float):
    """Floats that YAML 1.1 readers (PyYAML, which forge reads with) parse as floats: 1e-06 needs a dot."""
    if value != value or value in (float("inf"), float("-inf")):
        text = ".nan" if value != value else (".inf" if value > 0 else "-.inf")
    else:
        text = repr(value)
        mantissa, _, exponent = text.partition("e")
        if exponent and "." not in mantissa:
            text = f"{mantissa}.0e{exponent}"
    return representer.represent_scalar("tag:yaml.org,2002:float", text)


def _yaml(text: str) -> YAML:
    _, seq_indent, offset = load_yaml_guess_indent(text)
    nested = [len(m.group(1)) for m in _NESTED_KEY.finditer(text)]
    mapping = min(nested) if nested else 2
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a user's long lines
    yaml.indent(mapping=mapping, sequence=seq_indent or mapping, offset=offset or 0)
    yaml.representer.add_representer(float, _float)
    return yaml


def apply_patch(text: str, patch: dict) -> str:
    """The text with the nested `patch` applied (dicts merge into mappings, anything else replaces)."""
    yaml = _yaml(text)
    data = yaml.load(text)
    if data is None:
        data = CommentedMap()
    _set(data, patch)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()
