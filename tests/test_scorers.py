"""Scorers on crafted outputs (garbage included), forbidden commands, custom scorer; statistics."""

from __future__ import annotations

import pytest

from forge.data.answers import category
from forge.errors import ForgeError
from forge.evaluation.scorers import Scorer, load_custom
from forge.evaluation.stats import mcnemar_exact, paired_comparison, wilson_interval

EXP = '{"cmd": "lights_on", "args": {"room": "kitchen", "level": 3}}'


@pytest.mark.parametrize(
    "actual, correct, reason",
    [
        ('{"cmd": "lights_on"}', True, None),
        ('  {"args": {}, "cmd": "lights_on"}\n', True, None),
        ('{"cmd": "lights_off"}', False, "wrong cmd 'lights_off'"),
        ('{"command": "lights_on"}', False, "no cmd field"),
        ('["lights_on"]', False, "no cmd field"),
        ('{"cmd": "lights_on"', False, "unparseable JSON: Expecting ',' delimiter"),
        ("\x00\x01 garbage ####", False, "unparseable JSON: Expecting value"),
        ("", False, "unparseable JSON: Expecting value"),
    ],
)
def test_json_cmd(actual, correct, reason):
    v = Scorer("json_cmd")(EXP, actual)
    assert v.correct is correct
    assert v.reason == reason if reason is None or not reason.startswith("unparseable") else v.reason.startswith(reason)


@pytest.mark.parametrize(
    "actual, correct",
    [
        ('{"args": {"level": 3, "room": "kitchen"}, "cmd": "lights_on"}', True),  # key order ignored
        ('{"cmd": "lights_on", "args": {"room": "kitchen", "level": 4}}', False),
        ('{"cmd": "lights_on", "args": {"room": "kitchen", "level": "3"}}', False),  # types matter
        ("not json", False),
    ],
)
def test_json_match(actual, correct):
    assert Scorer("json_match")(EXP, actual).correct is correct


def test_exact_is_case_sensitive():
    s = Scorer("exact")
    assert s("Paris", "Paris\n").correct
    assert not s("Paris", "paris").correct
    assert s("Paris", "paris").reason == "text differs"


def test_forbidden_overrides_scorer():
    s = Scorer("json_cmd", forbidden=["rm_rf"])
    v = s('{"cmd": "rm_rf"}', '{"cmd": "rm_rf"}')
    assert not v.correct and v.forbidden and v.reason == "forbidden command 'rm_rf'"
    assert s(EXP, '{"cmd": "lights_on"}').correct


def test_custom_scorer(tmp_path):
    (tmp_path / "scorer.py").write_text(
        "def score(expected, actual):\n"
        "    if actual == 'boom':\n        raise ValueError('bad')\n"
        "    return len(set(expected.split()) & set(actual.split())) / len(set(expected.split()))\n"
    )
    s = Scorer("custom", custom=load_custom(tmp_path), threshold=0.5)
    assert s("a b c d", "a b x y").correct  # 0.5 >= 0.5
    assert s("a b c d", "a x y z").reason == "score 0.25 < 0.5"
    assert s("a b", "boom").reason == "scorer error: ValueError: bad"


def test_custom_scorer_missing_or_broken(tmp_path):
    with pytest.raises(ForgeError, match="scorer.py not found"):
        load_custom(tmp_path)
    (tmp_path / "scorer.py").write_text("x = 1\n")
    with pytest.raises(ForgeError, match=r"must define score\(expected, actual\)"):
        load_custom(tmp_path)
    (tmp_path / "scorer.py").write_text("import nope_not_a_module\n")
    with pytest.raises(ForgeError, match="failed to import: ModuleNotFoundError"):
        load_custom(tmp_path)


def test_category():
    assert category(EXP) == "lights_on"
    assert category("plain text") == "(none)"


def test_wilson_interval():
    lo, hi = wilson_interval(17, 20)
    assert (round(lo, 3), round(hi, 3)) == (0.640, 0.948)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0


def test_mcnemar_exact():
    assert mcnemar_exact(0, 6) == pytest.approx(0.03125)
    assert mcnemar_exact(1, 1) == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    cmp = paired_comparison({"a": True, "b": False, "c": False}, {"a": True, "b": True, "c": True, "d": True})
    assert cmp == {"shared": 3, "only_previous_correct": 0, "only_new_correct": 2, "p_value": 0.5}
