"""Steps that run on compute.remote: the JSON form of their arguments and results, and the remote side of a
step (`forge remote step ID`). The `remote_step` mark is forge.remote.mark.

A step is a forge function whose first argument is the project (train, run_eval, pretrain, the exports,
probe's answers). With compute.remote set, calling it here runs it there instead (forge.remote.run); the
caller gets the same return value, and the files the step wrote (`pulls`) are copied back. The planner,
guards, transcript and records never leave this machine.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path

from forge.errors import ForgeError

ON_REMOTE = "FORGE_ON_REMOTE"  # set in a remote step's process: its steps run where they are


# -- arguments and results as JSON ------------------------------------------------------------------
def encode(value, root: Path):
    """JSON for a step's arguments or result: paths become project-relative, dataclasses keep their type."""
    if isinstance(value, Path):
        try:
            return {"__path__": str(value.resolve().relative_to(root.resolve()))}
        except ValueError:
            raise ForgeError(
                f"{value}: outside the project, so compute.remote cannot see it (only the project "
                "directory is copied there)"
            ) from None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: encode(getattr(value, f.name), root) for f in dataclasses.fields(value)}
        return {"__dataclass__": f"{type(value).__module__}:{type(value).__qualname__}", "fields": fields}
    if isinstance(value, dict):
        return {str(k): encode(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v, root) for v in value]
    return value


def _resolve(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def decode(value, root: Path):
    if isinstance(value, dict):
        if set(value) == {"__path__"}:
            return root / value["__path__"]
        if set(value) == {"__dataclass__", "fields"}:
            return _resolve(value["__dataclass__"])(**{k: decode(v, root) for k, v in value["fields"].items()})
        return {k: decode(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, root) for v in value]
    return value


def seconds_left(deadline: float | None) -> float | None:
    """A time.monotonic() deadline as seconds from now, for another process (another clock) to keep."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def value_of(result: dict, root: Path):
    """The step's return value from its result.json, or its error raised here."""
    if not result.get("ok"):
        raise error_from(result)
    return decode(result["value"], root)


def error_from(result: dict) -> ForgeError:
    """The step's own error class where it is a ForgeError (TrainingStopped stays TrainingStopped)."""
    try:
        cls = _resolve(result.get("error_type", ""))
    except (ImportError, AttributeError, ValueError):
        cls = ForgeError
    if not (isinstance(cls, type) and issubclass(cls, ForgeError)):
        cls = ForgeError
    return cls(result.get("error", "the remote step failed"))


def request_for(fn, project, args: tuple, kwargs: dict) -> tuple[dict, Callable[[str], None] | None, float | None]:
    """(the step's request, the caller's echo, its deadline) for a call fn(project, *args, **kwargs)."""
    sig = inspect.signature(fn)
    bound = sig.bind(project, *args, **kwargs)
    bound.apply_defaults()  # the same call spelled two ways is the same step
    named = dict(bound.arguments)
    named.pop(next(iter(sig.parameters)))
    echo = named.pop("echo", sig.parameters["echo"].default if "echo" in sig.parameters else None)
    deadline = named.pop("deadline", None)
    request = {
        "function": f"{fn.__module__}:{fn.__qualname__}",
        "kwargs": encode(named, project.root),
        "echo": echo is not None,
    }
    return request, echo, deadline


# -- the remote side -----------------------------------------------------------------------------------
def run_step(root: Path, step_dir: Path, main: bool = True) -> int:
    """Run the step described by step_dir/request.json in this project; write step_dir/result.json. In a
    data-parallel launch, only the `main` process (rank 0) speaks and writes the result."""
    from forge.atomic import write_json_atomic
    from forge.project.project import Project

    request = json.loads((step_dir / "request.json").read_text(encoding="utf-8"))
    fn = _resolve(request["function"]).__wrapped__
    kwargs = decode(request["kwargs"], root)
    if request.get("echo"):
        kwargs["echo"] = functools.partial(print, flush=True) if main else (lambda _line: None)
    if request.get("deadline_in_s") is not None:
        kwargs["deadline"] = time.monotonic() + float(request["deadline_in_s"])
    try:
        result = {"ok": True, "value": encode(fn(Project.open(root), **kwargs), root)}
    except ForgeError as exc:  # the client raises it: printed here too, it would show twice
        result = {"ok": False, "error": str(exc), "error_type": f"{type(exc).__module__}:{type(exc).__qualname__}"}
    if main:
        write_json_atomic(step_dir / "result.json", result)
    return 0 if result["ok"] else 1
