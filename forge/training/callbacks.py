"""The trainer callbacks forge adds to every run: epoch-level early stop, the time budget, the memory budget,
progress.

Losses are logged every step (`logging_steps=1`); an epoch's loss is the mean of its steps (what
the trainer itself would log per epoch). With a validation set, its loss is recorded after each
epoch and early stopping watches it. EpochLosses' record is saved in every checkpoint (the
trainer's stateful callbacks), so a resumed run decides exactly as an uninterrupted one; no
checkpoint is written on the epoch a run ends. Progress: on a terminal, a live bar with step/total,
epoch, loss, tokens/s and ETA (forge.live_bar); elsewhere (CI, `tee`) one compact line per epoch.
The trainer's own printer of raw log dicts is removed.
"""

from __future__ import annotations

import time

from transformers import PrinterCallback, ProgressCallback, TrainerCallback
from transformers.trainer_callback import ExportableState

from forge import stop_signal


class EpochLosses(TrainerCallback, ExportableState):
    """Mean training loss per epoch (and validation loss, with `watch_val`); stops once the watched loss
    improves on the epoch before by no more than `tolerance` (relative), after `min_epochs`."""

    def __init__(self, min_epochs: int, tolerance: float, watch_val: bool = False):
        self.min_epochs, self.tolerance, self.watch_val = min_epochs, tolerance, watch_val
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self._steps: list[float] = []

    def state(self) -> dict:
        return {
            "args": {"min_epochs": self.min_epochs, "tolerance": self.tolerance, "watch_val": self.watch_val},
            "attributes": {"losses": self.losses, "val_losses": self.val_losses},
        }

    def restore(self, saved: dict) -> None:
        """Take back the record a checkpoint saved (its trainer_state.json's stateful_callbacks entry)."""
        for name, value in saved.get("attributes", {}).items():
            setattr(self, name, list(value))

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self._steps.append(float(logs["loss"]))

    def _decide(self, losses: list[float], control) -> None:
        if len(losses) >= max(self.min_epochs, 2):
            prev, last = losses[-2], losses[-1]
            if prev <= 0 or (prev - last) / prev <= self.tolerance:
                control.should_training_stop = True

    @staticmethod
    def _no_last_checkpoint(args, state, control) -> None:
        """The run ends here: a checkpoint now would only be deleted with the run's trainer directory."""
        if control.should_training_stop or round(state.epoch or 0) >= args.num_train_epochs:
            control.should_save = False

    def on_epoch_end(self, args, state, control, **kw):
        if self._steps:
            self.losses.append(sum(self._steps) / len(self._steps))
            self._steps = []
            if not self.watch_val:
                self._decide(self.losses, control)
        self._no_last_checkpoint(args, state, control)

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        if metrics and "eval_loss" in metrics:
            self.val_losses.append(float(metrics["eval_loss"]))
            if self.watch_val:
                self._decide(self.val_losses, control)
        self._no_last_checkpoint(args, state, control)


class Deadline(TrainerCallback):
    """Stops training at the first optimizer step past `deadline` (time.monotonic()), or after a stop signal
    (forge.stop_signal: SIGTERM / SIGHUP during an agent run)."""

    def __init__(self, deadline: float):
        self.deadline, self.hit = deadline, False

    def on_step_end(self, args, state, control, **kw):
        from forge.training.distributed import any_rank

        if any_rank(time.monotonic() >= self.deadline or stop_signal.requested.is_set()):  # all stop at one step
            self.hit = control.should_training_stop = True


class MemoryGuard(TrainerCallback):
    """Stops training at the first step whose peak memory went past the budget (forge.models.memory) by more than
    its estimate's margin: a line naming the setting, where the kernel would kill the process without a word."""

    MARGIN = 1.1

    def __init__(self, budget):
        self.budget, self.over = budget, ""

    def on_step_end(self, args, state, control, **kw):
        from forge.training.distributed import any_rank

        peak = self.budget.peak()
        if any_rank(peak > self.budget.bytes * self.MARGIN):
            self.over = (
                f"training stopped at step {state.global_step}: it held {peak / 1e9:.1f} GB, past the "
                f"{self.budget.bytes / 1e9:.1f} GB budget ({self.budget.source}); lower training.batch_size "
                "or model.max_seq_len, or raise training.max_memory_gb"
            )
            control.should_training_stop = True


class Progress(TrainerCallback):
    """Live progress on a terminal; one line per epoch elsewhere."""

    def __init__(self, epoch_losses: EpochLosses, tokens_per_epoch: int, echo=print, live: bool | None = None):
        self.epochs, self.tokens_per_epoch, self.echo = epoch_losses, tokens_per_epoch, echo
        self.live, self.bar = live, None
        self.loss = float("nan")

    def on_train_begin(self, args, state, control, **kw):
        self.start, self.epoch_start = time.perf_counter(), time.perf_counter()
        self.start_epoch = state.epoch or 0  # a resumed run starts part-way
        from forge.live_bar import open_bar

        self.bar = open_bar("training", state.max_steps, self.live)
        self.live = self.bar is not None

    def tokens_per_s(self, state) -> float:
        done = self.tokens_per_epoch * ((state.epoch or 0) - self.start_epoch)
        return done / max(1e-9, time.perf_counter() - self.start)

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])

    def on_step_end(self, args, state, control, **kw):
        if self.bar is not None:
            self.bar.update(
                state.global_step,
                f"epoch {state.epoch or 0:.2f}/{args.num_train_epochs:g}  loss {self.loss:.4f}  "
                f"{self.tokens_per_s(state):,.0f} tok/s",
            )

    def on_epoch_end(self, args, state, control, **kw):
        self.epoch_wall = time.perf_counter() - self.epoch_start
        self.epoch_start = time.perf_counter()
        if not self.epochs.watch_val:
            self._line(args, state)

    def on_evaluate(self, args, state, control, **kw):
        self._line(args, state)

    def _line(self, args, state) -> None:
        """One line per epoch off a terminal (after the validation loss, when there is one)."""
        if self.live or not self.epochs.losses:
            return
        n = len(self.epochs.losses)
        val = f", val loss {self.epochs.val_losses[-1]:.4f}" if self.epochs.watch_val and self.epochs.val_losses else ""
        self.echo(
            f"epoch {n}/{args.num_train_epochs:g}: loss {self.epochs.losses[-1]:.4f}{val}, "
            f"{self.tokens_per_s(state):,.0f} tokens/s, {self.epoch_wall:.1f}s"
        )

    def on_train_end(self, args, state, control, **kw):
        if self.bar is not None:
            self.bar.stop()


def quiet(trainer) -> None:
    """Remove the trainer's own log printer and tqdm bar (forge's Progress replaces them)."""
    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)


class GrpoProgress(TrainerCallback):
    """GRPO's live bar (mean reward, schema-valid rate, KL); off a terminal, a line every `every` steps. Keeps
    every step's logged scalars in `history` for the run's record."""

    def __init__(self, echo=print, every: int = 10, live: bool | None = None):
        self.echo, self.every, self.live, self.bar = echo, every, live, None
        self.history: list[dict] = []

    def on_train_begin(self, args, state, control, **kw):
        from forge.live_bar import open_bar

        self.start = time.perf_counter()
        self.bar = open_bar("grpo", state.max_steps, self.live)
        self.live = self.bar is not None

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "reward" in logs:
            self.history.append(
                {"step": state.global_step, **{k: float(v) for k, v in logs.items() if isinstance(v, int | float)}}
            )

    def text(self) -> str:
        last = self.history[-1] if self.history else {}
        valid = last.get("schema_valid")
        return (
            f"reward {last.get('reward', float('nan')):.3f}"
            + (f"  schema-valid {valid:.0%}" if valid is not None else "")
            + f"  kl {last.get('kl', 0.0):.4f}"
        )

    def on_step_end(self, args, state, control, **kw):
        if self.bar is not None:
            self.bar.update(state.global_step, self.text())
        elif state.global_step % self.every == 0 or state.global_step == state.max_steps:
            self.echo(
                f"grpo step {state.global_step}/{state.max_steps}: {self.text()}, "
                f"{time.perf_counter() - self.start:.0f}s"
            )

    def on_train_end(self, args, state, control, **kw):
        if self.bar is not None:
            self.bar.stop()
