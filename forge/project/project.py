"""A forge project on disk: root discovery, config, and the paths of its files and state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from forge.config import load as config_io
from forge.config.fields import ForgeConfig
from forge.data.gold_guard import GoldGuard
from forge.data.output_schema import OutputSchema
from forge.errors import ForgeError
from forge.jsonl import read_records

OUTPUT = "output"
ADAPTER_DIR = "adapter"  # output/adapter: what `forge train` writes and `forge eval` scores
TRACKER_DIR = "tb"  # output/tb/<iteration>/: TensorBoard event files (a sweep's variant: output/tb/<variant id>/)
VARIANTS_DIR = "variants"  # output/variants/<id>/: a sweep variant's model, eval results and log
SWEEPS_DIR = "sweeps"  # output/sweeps/<sweep id>.json: a sweep's plan and where each variant stands
TRAINER_DIR = ".trainer"  # output/.trainer: an unfinished training's checkpoints and resume record
RUNS_DIR = "runs"  # output/runs/<run-id>/: agent runs' and manual sessions' transcripts
REMOTE_STEP_FILE = "remote/step.json"  # under output/: the compute.remote step being followed
DISTRIBUTED_DIR = ".distributed"  # under output/: a multi-process launch's request, result and log
PRETRAIN_MERGED_DIR = "pretrain_merged"  # under output/: the base after continued pretraining
RUN_LOCK_FILE, RUN_HOLDER_FILE = ".run.lock", "run_lock.json"  # under output/: who runs a command on the project
SYSTEM_PROMPT_FILE = "system_prompt.md"  # the fine-tuned model's system prompt, not the planner's


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` holding forge.yaml."""
    start = Path(start or Path.cwd()).resolve()
    for d in (start, *start.parents):
        if (d / config_io.CONFIG_NAME).is_file():
            return d
    raise ForgeError(
        f"no {config_io.CONFIG_NAME} in {start} or any parent directory (run `forge init NAME` or pass -p DIR)"
    )


@dataclass
class Project:
    root: Path
    config: ForgeConfig
    # where this view of the project writes its output (None: root/output). A sweep's variant is the project with
    # its own config overlay and output/variants/<id>/ as its output (forge.sweep.variant_run).
    output_dir: Path | None = None

    @classmethod
    def open(cls, path: Path | None = None) -> "Project":
        """The project at `path` (a directory inside it), or found from the cwd."""
        if path is not None and not Path(path).is_dir():
            raise ForgeError(f"{path}: project directory not found")
        root = find_root(path)
        return cls(root, config_io.load(root / config_io.CONFIG_NAME))

    # -- files -----------------------------------------------------------------------------
    def path(self, rel: str | Path) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.root / p

    def rel(self, path: Path) -> str:
        try:
            return str(Path(path).resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    @property
    def config_path(self) -> Path:
        return self.root / config_io.CONFIG_NAME

    @property
    def output(self) -> Path:
        return self.output_dir if self.output_dir is not None else self.root / OUTPUT

    @property
    def adapter_dir(self) -> Path:
        """output/adapter: the model `forge train` writes last and `forge eval` scores by default."""
        return self.output / ADAPTER_DIR

    @property
    def variants_dir(self) -> Path:
        return self.output / VARIANTS_DIR

    @property
    def sweeps_dir(self) -> Path:
        return self.output / SWEEPS_DIR

    @property
    def tracker_dir(self) -> Path:
        return self.output / TRACKER_DIR

    @property
    def trainer_dir(self) -> Path:
        return self.output / TRAINER_DIR

    @property
    def runs_dir(self) -> Path:
        return self.output / RUNS_DIR

    @property
    def remote_step_path(self) -> Path:
        return self.output / REMOTE_STEP_FILE

    @property
    def distributed_dir(self) -> Path:
        return self.output / DISTRIBUTED_DIR

    @property
    def pretrain_merged_dir(self) -> Path:
        return self.output / PRETRAIN_MERGED_DIR

    @property
    def system_prompt_path(self) -> Path:
        return self.root / SYSTEM_PROMPT_FILE

    def system_prompt(self) -> str:
        """The fine-tuned model's system prompt (system_prompt.md), not the planner's; "" without one."""
        path = self.system_prompt_path
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    @property
    def gold_path(self) -> Path:
        return self.path(self.config.dataset.gold)

    @property
    def sealed_path(self) -> Path | None:
        return self.path(self.config.dataset.sealed) if self.config.dataset.sealed else None

    @property
    def canonical_path(self) -> Path:
        return self.path(self.config.dataset.canonical)

    @property
    def seed_path(self) -> Path:
        return self.path(self.config.dataset.seed)

    def training_pool(self) -> list[dict]:
        """The seed and training sets: where anchors and the task's tools come from (never gold or sealed)."""
        from forge.data.datasets import load_examples

        return load_examples(self.seed_path, self.rel(self.seed_path), missing_ok=True) + load_examples(
            self.canonical_path, self.rel(self.canonical_path), missing_ok=True
        )

    def protected_paths(self) -> list[Path]:
        return [p for p in (self.gold_path, self.sealed_path) if p is not None]

    def gold_guard(self) -> GoldGuard:
        paths = self.protected_paths()
        return GoldGuard.from_files(paths, [self.rel(p) for p in paths])

    def output_schema(self):
        """The task's output contract (forge.data.output_schema.OutputSchema), or None when eval.output_schema is unset."""
        return OutputSchema.for_project(self)

    def reload(self) -> None:
        self.config = config_io.load(self.config_path)

    # -- state in output/ ------------------------------------------------------------------
    def state_path(self, name: str) -> Path:
        return self.output / name

    def read_state(self, name: str):
        """A JSON state file from output/, or None when absent."""
        path = self.state_path(name)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ForgeError(f"{OUTPUT}/{name}: invalid JSON at line {exc.lineno}: {exc.msg}") from None

    def read_jsonl_state(self, name: str) -> list[dict]:
        """The records of a JSONL state file from output/ (forge writes one object a line), [] when absent."""
        path = self.state_path(name)
        if not path.exists():
            return []
        rows = []
        for n, obj in read_records(path, f"{OUTPUT}/{name}"):
            if not isinstance(obj, dict):  # a hand edit; callers read fields of every row
                raise ForgeError(f"{OUTPUT}/{name}:{n}: expected a JSON object, got {type(obj).__name__}")
            rows.append(obj)
        return rows
