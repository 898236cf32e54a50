"""Load, validate and patch forge.yaml.

Errors are one line naming the file and the key path, e.g.
`forge.yaml: training.learning_rate: must be > 0, got -1`.
"""

from __future__ import annotations

import copy
import difflib
import sys
from pathlib import Path

import jsonschema
import yaml

from forge.atomic import write_text_atomic
from forge.config.fields import ForgeConfig
from forge.config.schema import build, config_schema
from forge.errors import ConfigError, first_line
from forge.locks import file_lock

CONFIG_NAME = "forge.yaml"
# Old key -> new key. The old one is still read, with a one-line message naming the new one.
DEPRECATED = {
    ("flywheel", "max_iterations"): ("agent", "max_iterations"),
    ("flywheel", "planner_model"): ("agent", "planner_model"),
    ("flywheel", "augment_per_failure"): ("datagen", "augment_per_failure"),
    ("flywheel", "datagen_model"): ("datagen", "model"),
    ("promotion", "hf_repo"): ("hub", "hf_repo"),
    ("promotion", "private"): ("hub", "private"),
}
RETIRED_SECTIONS = ("flywheel", "promotion")  # every key moved: an empty one left behind is dropped
_warned: set[tuple[str, str]] = set()

_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


def _describe(value) -> str:
    return (
        repr(value)
        if isinstance(value, str)
        else yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    )


def describe_error(err: jsonschema.ValidationError) -> tuple[str, str]:
    """(key path, what is wrong) for one schema error."""
    path = ".".join(str(p) for p in err.absolute_path)
    v, value, arg = err.validator, err.instance, err.validator_value
    if v == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        unknown = sorted(set(value) - set(allowed))[0]
        key = f"{path}.{unknown}" if path else unknown
        close = difflib.get_close_matches(str(unknown), allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(allowed)})"
        return key, f"unknown key{hint}"
    if v == "type":
        types = arg if isinstance(arg, list) else [arg]
        return path, f"must be {' or '.join(_TYPE_WORDS[t] for t in types)}, got {_describe(value)}"
    ops = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    if v in ops:
        return path, f"must be {ops[v]} {arg:g}, got {_describe(value)}"
    if v == "enum":
        return path, f"must be one of {', '.join(map(str, arg))}, got {_describe(value)}"
    if v == "minLength":
        return path, "must not be empty"
    if v == "maxLength":
        return path, f"must be at most {arg} characters, got {len(value)}"
    if v == "minItems":
        return path, f"must have at least {arg} item(s)"
    if v == "maxItems":
        return path, f"must have at most {arg} items, got {len(value)}"
    return path, err.message


def deprecation_notes(data: dict, display: str = CONFIG_NAME) -> list[str]:
    """One line per deprecated key in raw config data."""
    return [
        f"{display}: {old[0]}.{old[1]} is deprecated: use {new[0]}.{new[1]}"
        for old, new in DEPRECATED.items()
        if isinstance(data.get(old[0]), dict) and old[1] in data[old[0]]
    ]


def migrate(data: dict, display: str = CONFIG_NAME) -> dict:
    """Raw data with deprecated keys moved to their new place (a new key set too wins); says so once on stderr."""
    notes = deprecation_notes(data, display)
    if not notes:
        return data
    data = copy.deepcopy(data)
    for (sec, key), (new_sec, new_key) in DEPRECATED.items():
        if isinstance(data.get(sec), dict) and key in data[sec]:
            value = data[sec].pop(key)
            target = (
                data.setdefault(new_sec, {})
                if isinstance(data.get(new_sec), dict) or new_sec not in data
                else data[new_sec]
            )
            if isinstance(target, dict):
                target.setdefault(new_key, value)
    for sec in RETIRED_SECTIONS:
        if data.get(sec) == {}:
            del data[sec]
    for note in notes:
        if (display, note) not in _warned:
            _warned.add((display, note))
            sys.stderr.write(f"warning: {note}\n")
    return data


def validate(data, display: str = CONFIG_NAME) -> ForgeConfig:
    """Typed config from raw YAML data, or ConfigError naming the first bad key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{display}: must be a mapping of sections, got {type(data).__name__}")
    data = migrate(data, display)
    errors = sorted(
        jsonschema.Draft202012Validator(config_schema()).iter_errors(data),
        key=lambda e: [str(p) for p in e.absolute_path],
    )
    if errors:
        key, what = describe_error(errors[0])
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ConfigError(f"{display}: {key + ': ' if key else ''}{what}{more}")
    cfg = build(ForgeConfig, data)
    if cfg.training.epochs_max < cfg.training.epochs_min:
        raise ConfigError(
            f"{display}: training.epochs_max: must be >= training.epochs_min "
            f"({cfg.training.epochs_min}), got {cfg.training.epochs_max}"
        )
    if cfg.eval.scorer == "judge" and cfg.compute.remote:  # the eval, and so the judge's calls, would run there
        raise ConfigError(
            f"{display}: eval.scorer: judge does not work with compute.remote yet (the judge would be "
            "called from the remote machine); use it with compute.remote null"
        )
    ray = cfg.compute.ray
    if ray is not None and cfg.compute.remote:
        raise ConfigError(
            f"{display}: compute.ray: excludes compute.remote (ssh runs one experiment on one host, Ray runs "
            "many on a cluster): set one of them to null"
        )
    if ray is not None and ray.address and not ray.storage:
        raise ConfigError(
            f"{display}: compute.ray.storage: needed with compute.ray.address (jobs on a cluster leave their models "
            "there): a path every node and this machine share, or an fsspec URL"
        )
    if 0 < cfg.agent.noise_floor_seeds < 3:
        raise ConfigError(
            f"{display}: agent.noise_floor_seeds: must be 0 or at least 3 (a spread needs three runs), "
            f"got {cfg.agent.noise_floor_seeds}"
        )
    return cfg


def parse_yaml(text: str, display: str = CONFIG_NAME):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{display}:{mark.line + 1}:{mark.column + 1}" if mark else display
        problem = getattr(exc, "problem", None) or first_line(exc, 300)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None


def read_raw(path: Path, display: str | None = None) -> dict:
    display = display or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{display}: not found") from None
    data = parse_yaml(text, display)
    validate(data, display)
    return data or {}


def load(path: Path, display: str | None = None) -> ForgeConfig:
    """Read and validate a forge.yaml."""
    return validate(read_raw(path, display), display or path.name)


def merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def patch_file(path: Path, patch: dict, display: str | None = None) -> ForgeConfig:
    """Apply a nested patch to forge.yaml: validate the result, keep comments and key order, write atomically."""
    display = display or path.name
    from forge.config.yaml_edit import apply_patch  # ruamel only when a patch is written, not at every CLI start

    with file_lock(path):  # read, patch, write: two patches at once both land
        text = path.read_text(encoding="utf-8")
        current = parse_yaml(text, display) or {}
        merged = merge(current, patch)
        cfg = validate(merged, display)
        new_text = apply_patch(text, patch)
        if (yaml.safe_load(new_text) or {}) != merged:  # never write what the validated config isn't
            raise ConfigError(f"{display}: the patch could not be written faithfully; the file is unchanged")
        write_text_atomic(path, new_text)
    return cfg
