"""`forge init`: scaffold a project directory, optionally importing an older project's files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from forge.atomic import write_bytes_atomic, write_text_atomic
from forge.config import load as config_io
from forge.config.render import render_yaml
from forge.data.datasets import encode, load_examples
from forge.errors import ForgeError
from forge.project import git as git_repo

TEMPLATES = {  # file in the project -> template in forge/project_templates/
    "BACKGROUND.md": "BACKGROUND.md",
    "mission.md": "mission.md",
    "system_prompt.md": "system_prompt.md",
    "llm.txt": "llm.txt",
    ".gitignore": "gitignore",
    "output_schema.json": "output_schema.json",
}
# The scaffold's contract: the template answers `{"cmd": ...}` (see system_prompt.md), scored by json_cmd.
INIT_VALUES = {"eval": {"output_schema": "output_schema.json"}}
DATASETS = ("dataset/seed.jsonl", "dataset/gold.jsonl", "dataset/canonical.jsonl")
IMPORTED_TEXTS = ("BACKGROUND.md", "mission.md", "system_prompt.md")


def _template(name: str, project: str) -> str:
    text = resources.files("forge.project_templates").joinpath(name).read_text(encoding="utf-8")
    return text.replace("{name}", project).replace("{{", "{").replace("}}", "}")


def _imports(from_dir: Path) -> dict[str, bytes]:
    """Validated files to take from an older project (paths from its forge.yaml when it has one)."""
    if not from_dir.is_dir():
        raise ForgeError(f"--from {from_dir}: not a directory")
    dataset_paths = dict(zip(("seed", "gold", "canonical"), DATASETS, strict=True))
    old_cfg = from_dir / config_io.CONFIG_NAME
    if old_cfg.is_file():
        ds = config_io.load(old_cfg, str(old_cfg)).dataset
        dataset_paths = {"seed": ds.seed, "gold": ds.gold, "canonical": ds.canonical}
    taken: dict[str, bytes] = {}
    for name in IMPORTED_TEXTS:
        if (from_dir / name).is_file():
            taken[name] = (from_dir / name).read_bytes()
    for kind, rel in dataset_paths.items():
        src = from_dir / rel
        if src.is_file():
            examples = load_examples(src, str(src))  # raises file:line on a bad line
            taken[f"dataset/{kind}.jsonl"] = encode(examples)
    if not taken:
        raise ForgeError(f"--from {from_dir}: no BACKGROUND.md, mission.md, system_prompt.md or dataset files found")
    return taken


def init_project(name: str, target: Path, from_dir: Path | None = None) -> list[str]:
    """Create the project files in `target`, git init and commit. Returns the files written."""
    if not name.strip() or "/" in name:
        raise ForgeError(f"invalid project name {name!r}")
    files: dict[str, bytes] = {config_io.CONFIG_NAME: render_yaml(name, INIT_VALUES).encode()}
    for dest, tmpl in TEMPLATES.items():
        files[dest] = _template(tmpl, name).encode()
    for rel in DATASETS:
        files[rel] = b""
    imported = _imports(from_dir) if from_dir else {}
    files.update(imported)
    clashes = [rel for rel in files if (target / rel).exists()]
    if clashes:
        raise ForgeError(
            f"{target / clashes[0]}: already exists; refusing to overwrite ({len(clashes)} existing file(s))"
        )
    for rel, data in files.items():
        write_bytes_atomic(target / rel, data)
    write_text_atomic(target / "output" / ".keep", "")
    git_repo.init_and_commit(target, list(files), f"forge init {name}")
    return list(files)
