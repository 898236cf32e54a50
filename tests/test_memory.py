"""Training that fits its memory: token batches, micro-batches with the same loss, the budget, one model at a time."""

from __future__ import annotations

import gc
import json

import pytest
import torch

from forge.errors import ForgeError
from forge.models.memory import Budget, StepPlan, plan_step
from forge.project.records import META_FILE
from forge.training.batching import TokenBatchSampler, micro_batches, token_batches

from engine_fixtures import make_project


def test_token_batches_hold_each_row_once_under_the_cap():
    lengths = [5, 50, 7, 300, 20, 20, 120, 64, 64, 3]
    batches = token_batches(lengths, 200)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 200, b
    sampler = TokenBatchSampler(lengths, 200, seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert len(first) == len(second) == len(sampler) and sorted(first) == sorted(second)
    assert first != second  # a new order each epoch, the same batches


def _batch(lengths: list[int], width: int, learned_from: int = 1) -> dict:
    ids = torch.arange(len(lengths) * width).reshape(len(lengths), width) % 97 + 3
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :learned_from] = -100
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def test_micro_batches_split_by_length_and_trim_padding():
    batch = _batch([10, 3, 7, 2], 10)
    parts = micro_batches(batch, lambda rows, length, learned: rows * length <= 12)
    assert [p["attention_mask"].sum(dim=1).tolist() for p in parts] == [[2, 3], [7], [10]]
    assert [p["input_ids"].shape[1] for p in parts] == [3, 7, 10]  # each part only as wide as its longest row
    rows = {
        tuple(r[m.bool()].tolist()) for p in parts for r, m in zip(p["input_ids"], p["attention_mask"], strict=True)
    }
    assert rows == {
        tuple(r[m.bool()].tolist()) for r, m in zip(batch["input_ids"], batch["attention_mask"], strict=True)
    }
    assert micro_batches(batch, lambda *_: True) == [batch]


def _plan(budget_gb: float, per_token: float = 1e6) -> StepPlan:
    return StepPlan(Budget(budget_gb * 1e9, "test", "cpu"), 1e9, per_token, 0.0, False, None)


def test_a_plan_fits_by_tokens_and_says_what_it_chose():
    plan = _plan(2.0)
    assert plan.fits(2, 500, 0) and not plan.fits(3, 500, 0)
    assert plan.max_tokens() == 1000 and "micro-batches up to 1,000 tokens" in plan.line()


def test_a_budget_too_small_for_one_example_is_one_line(nano_model):
    from forge.models.loading import load_causal_lm

    model = load_causal_lm(str(nano_model), "cpu")
    tiny = Budget(Budget.for_device(None, "cpu").held() + 1e5, "training.max_memory_gb 0.5", "cpu")
    with pytest.raises(
        ForgeError,
        match=r"^training.max_memory_gb 0.5: too small to train even one example of "
        r"4096 tokens.*raise training.max_memory_gb or lower model.max_seq_len$",
    ):
        plan_step(model, tiny, 1000, 4096, bf16=False)
    roomy = Budget(Budget.for_device(None, "cpu").held() + 2e9, "test", "cpu")
    assert not plan_step(model, roomy, 1000, 64, bf16=False).checkpointing


def _losses(root) -> list[float]:
    meta = json.loads((root / "output" / "adapter" / META_FILE).read_text())
    return meta["epoch_losses"]


@pytest.mark.slow
def test_micro_batches_train_with_the_loss_of_whole_batches(tmp_path, nano_model, monkeypatch):
    """The same data, seed and effective batch: split into micro-batches of one or two rows, the loss curve is the
    unsplit one (up to float rounding), and the report says so."""
    from forge.project.project import Project
    from forge.training import sft

    losses, lines = {}, []
    for name, budget in (("whole", None), ("split", "tiny")):
        root = make_project(
            tmp_path / name,
            nano_model,
            method="lora",
            n_train=48,
            training={"epochs_min": 3, "epochs_max": 3, "batch_size": 8, "warm_start": "none", "precision": "fp32"},
        )
        if budget == "tiny":  # micro-batches of at most 2 rows of the longest example
            monkeypatch.setattr(StepPlan, "fits", lambda self, rows, length, learned: rows <= 2)
        sft.train(Project.open(root), echo=lines.append)
        losses[name] = _losses(root)
        monkeypatch.undo()
    assert losses["whole"] == pytest.approx(losses["split"], rel=1e-4), losses
    assert losses["whole"][-1] < losses["whole"][0]
    assert any("micro-batches up to" in line for line in lines if line.startswith("backend:")), lines


@pytest.mark.slow
def test_batches_by_tokens_train_and_fix_the_steps(tmp_path, nano_model):
    from forge.project.project import Project
    from forge.training import sft
    from forge.training.trainer import build_trainer

    root = make_project(
        tmp_path / "p",
        nano_model,
        method="lora",
        n_train=48,
        training={"epochs_min": 3, "epochs_max": 3, "tokens_per_batch": 160, "warm_start": "none"},
    )
    seen = {}

    def spy(*a, **kw):
        seen["trainer"] = trainer = build_trainer(*a, **kw)
        return trainer

    sft.build_trainer, original = spy, sft.build_trainer
    try:
        result = sft.train(Project.open(root), echo=lambda _l: None)
    finally:
        sft.build_trainer = original
    batches = len(seen["trainer"].token_sampler)
    assert batches > 5  # rows of ~30 tokens: several batches, each under 160 tokens
    assert seen["trainer"].state.global_step == 3 * batches  # the same batches every epoch
    assert result.epochs_run == 3 and result.epoch_losses[-1] < result.epoch_losses[0]


def _live_models() -> int:
    """Causal LMs alive in this process (their inner decoders, PreTrainedModels too, not counted again)."""
    from transformers import PreTrainedModel

    return sum(isinstance(o, PreTrainedModel) and o.get_output_embeddings() is not None for o in gc.get_objects())


@pytest.mark.slow
def test_one_model_at_a_time_across_eval_and_training(tmp_path, nano_model, monkeypatch):
    """An iteration evaluates, trains and evaluates in one process: each step loads its model once the last one
    is gone, not beside it."""
    from forge.evaluation import runner
    from forge.project.project import Project
    from forge.training import sft

    root = make_project(
        tmp_path / "p", nano_model, method="lora", n_train=32, training={"epochs_min": 1, "epochs_max": 1}
    )
    project = Project.open(root)
    counts: list[tuple[str, int]] = []
    for module, name in ((sft, "load_for_training"), (runner, "load_for_inference")):
        original = getattr(module, name)

        def counted(*a, _original=original, _name=name, **kw):
            out = _original(*a, **kw)
            counts.append((_name, _live_models()))
            return out

        monkeypatch.setattr(module, name, counted)
    runner.run_eval(project, base=True)
    sft.train(project, echo=lambda _l: None)
    runner.run_eval(project)
    sft.train(project, echo=lambda _l: None)
    # each load sees only its own model: the base under the adapter counts once (merged for eval)
    assert [c for _n, c in counts] == [1, 1, 1, 1], counts
    assert _live_models() == 0


def test_eval_batches_are_cut_by_tokens_and_keep_every_prompt():
    from forge.inference.generate import batches

    lengths = [400, 30, 35, 420, 40, 380, 33]
    by_count = batches(lengths, 4, None, 48)
    assert by_count == [[1, 6, 2, 4], [5, 0, 3]]
    by_tokens = batches(lengths, 4, 1000, 48)
    assert sorted(i for b in by_tokens for i in b) == list(range(len(lengths)))
    assert all(len(b) == 1 or len(b) * (max(lengths[i] for i in b) + 48) <= 1000 for b in by_tokens), by_tokens
    assert [len(b) for b in by_tokens] == [4, 2, 1]


def test_generation_room_grows_with_the_budget(nano_model):
    from forge.models.loading import load_causal_lm
    from forge.models.memory import generation_tokens

    model = load_causal_lm(str(nano_model), "cpu")
    held = Budget.for_device(None, "cpu").held()
    small, large = (generation_tokens(model, Budget(held + gb * 1e9, "test", "cpu")) for gb in (0.5, 5.0))
    assert small is not None and large is not None and 9 * small <= large <= 11 * small
    assert generation_tokens(model, Budget(float("inf"), "test", "cpu")) is None
