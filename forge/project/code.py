"""Loading a function from a project's own Python file (scorer.py, generator.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from forge.errors import ForgeError


def load_function(path: Path, display: str, name: str, signature: str):
    """`name` from the file at `path`, or a one-line ForgeError naming the file."""
    spec = importlib.util.spec_from_file_location(f"forge_project_{Path(path).stem}", path)
    if spec is None or spec.loader is None:  # only for paths Python has no loader for (not a .py file)
        raise ForgeError(f"{display}: not a Python file that can be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the project's code may fail in any way; report it in one line
        raise ForgeError(f"{display}: failed to import: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ForgeError(f"{display}: must define {signature}")
    return fn
