"""The gold guard sees through disguises: homoglyphs, invisible characters, padding, one-word edits and
leetspeak of a gold input are refused on every path, by a named rule; legitimate neighbours are kept."""

from __future__ import annotations

import json

import pytest

from forge.data.gold_guard import GoldGuard, one_word_edit
from forge.data.skeleton import skeleton

GOLD = [
    "Switch on the kitchen lights",
    "Lock the back door",
    "Set a timer for ten minutes",
    "Play some jazz in the living room",
    "What is the weather like in Paris",
    "Turn the heating up a little",
    "Is the garage door open",
    "Remind me to water the plants",
]
CYRILLIC = str.maketrans({"a": "а", "e": "е", "o": "о"})
ZERO_WIDTH = "\u200b"


def swap_article(text: str) -> str:
    words = text.split()
    k = next((k for k, w in enumerate(words) if w.lower() in ("a", "the")), 0)  # no article: the first word
    words[k] = "the" if words[k].lower() == "a" else "a"
    return " ".join(words)


DISGUISES = {
    "cyrillic homoglyphs": lambda t: t.translate(CYRILLIC),
    "zero-width spaces": lambda t: t.replace(" ", f" {ZERO_WIDTH}").replace("o", f"o{ZERO_WIDTH}"),
    "two words appended": lambda t: f"{t} right now",
    "a prefix": lambda t: f"hey there, {t}",
    "one word swapped": swap_article,
    "leetspeak": lambda t: t.replace("o", "0").replace("e", "3"),
}


@pytest.fixture
def guard() -> GoldGuard:
    return GoldGuard(GOLD, where=[f"dataset/gold.jsonl:{i + 1}" for i in range(len(GOLD))])


@pytest.mark.parametrize("kind", sorted(DISGUISES))
def test_every_disguise_of_every_gold_input_is_refused(guard, kind):
    disguised = [DISGUISES[kind](g) for g in GOLD]
    assert all(d != g for d, g in zip(disguised, GOLD, strict=True))
    kept = [d for d in disguised if not guard.is_gold_like(d)]
    assert len(kept) <= 1, kept  # the bar: at least 7 of 8 of each kind


def test_each_refusal_names_its_rule(guard):
    rule = {kind: {guard.match_rule(DISGUISES[kind](g))[1] for g in GOLD} for kind in DISGUISES}
    assert rule["cyrillic homoglyphs"] == {"gold_homoglyph"} and rule["leetspeak"] == {"gold_homoglyph"}
    assert rule["two words appended"] == {"gold_contained"} and rule["a prefix"] == {"gold_contained"}
    assert rule["one word swapped"] == {"gold_near"}
    assert guard.match_rule("switch on the kitchen lights!") == (0, "gold_exact")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("lights on in the kitchen", None),  # holds a short gold input: only its exact phrase is refused
        ("Set a timer for 15 minutes", None),  # one word away, but that word is a number: another request
        ("Set a timer for fifteen minutes", None),  # number words are numbers too
        ("Set a timer for ten hours", "gold_near"),  # one word away, not a number: near (the rule's price)
        ("Lock the front door", "gold_near"),
        ("Lock the front gate", None),  # two words away
        ("Lock the back door in the garage", "gold_contained"),
        ("lights on", "gold_exact"),
    ],
)
def test_neighbours_of_gold(text, rule):
    guard = GoldGuard(["lights on", "Set a timer for ten minutes", "Lock the back door"])
    hit = guard.match_rule(text)
    assert (hit[1] if hit else None) == rule, hit


def test_the_skeleton_folds_characters_but_keeps_numbers():
    assert skeleton("Switch оn thе kitchеn lights") == skeleton("switch on the kitchen lights")
    assert skeleton("l0ck th3 b4ck d00r") == skeleton("lock the back door")
    assert skeleton("Ｌｏｃｋ the dооr") == skeleton("lock the door")  # fullwidth and Cyrillic
    assert skeleton("add 10 and 30") != skeleton("add io and eo")  # numbers are arguments, not leetspeak
    assert skeleton("wake me at 10am on the 2nd") == ("wake", "me", "at", "10am", "on", "the", "2nd")
    assert skeleton(f"lo{ZERO_WIDTH}ck the door") == ("iock", "the", "door")  # invisible: gone, as a reader sees it
    assert skeleton("café crème") == ("cafe", "creme")


def test_one_word_edit_is_exactly_one_non_number_word():
    a = ("lock", "the", "back", "door")
    assert one_word_edit(a, ("lock", "a", "back", "door"))
    assert one_word_edit(a, ("lock", "the", "back", "door", "now"))
    assert one_word_edit(a, ("lock", "back", "door"))
    assert not one_word_edit(a, ("lock", "a", "front", "door"))
    assert not one_word_edit(("add", "12", "and", "7"), ("add", "12", "and", "8"))
    assert not one_word_edit(("wait", "ten", "more", "minutes"), ("wait", "five", "more", "minutes"))


def test_import_refuses_disguised_gold_by_rule(project_dir, cli):
    gold = project_dir / "dataset" / "gold.jsonl"
    gold.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": g}, {"role": "assistant", "content": '{"cmd": "x"}'}]})
            + "\n"
            for g in GOLD
        )
    )
    rows = [DISGUISES[kind](g) for kind in sorted(DISGUISES) for g in GOLD] + ["Lock the front gate please"]
    src = project_dir / "incoming.jsonl"
    src.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": r}, {"role": "assistant", "content": '{"cmd": "x"}'}]})
            + "\n"
            for r in rows
        )
    )
    result = cli("import", src, "-p", project_dir)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "kept: 1" in lines and "gold_rejected: 48" in lines, result.output
    # zero-width spaces only between words are gone in the normalized text already (exact: 3 of 8); inside a
    # word, in the skeleton (homoglyph), like Cyrillic letters and leetspeak
    for rule, count in {"gold_homoglyph": 21, "gold_exact": 3, "gold_contained": 16, "gold_near": 8}.items():
        assert f"gold_rejected ({rule}): {count}" in lines, result.output
    assert f"gold: {src}:1 ~ dataset/gold.jsonl:1 (gold_contained)" in lines, result.output
    assert sum(line.startswith("gold: ") for line in lines) == 3  # the first few pairs, never a gold text
    assert "Switch" not in result.output


def test_the_overlap_index_finds_every_pair_brute_force_finds():
    """Prefix filtering skips no pair: every example whose 3-gram Jaccard with a gold input reaches the threshold
    is refused, on random texts sharing many common words."""
    import random

    from forge.data.gold_guard import NEAR_DUPLICATE_THRESHOLD, ngrams

    rng = random.Random(3)
    words = [f"w{k}" for k in range(40)]
    gold = [" ".join(rng.choices(words, k=rng.randint(3, 24))) for _ in range(60)]
    texts = [" ".join(rng.choices(words, k=rng.randint(3, 24))) for _ in range(400)]
    texts += [g.rsplit(" ", 1)[0] + " w0 w1" if len(g.split()) > 14 else g + " w2" for g in gold]
    guard = GoldGuard(gold)
    grams = [ngrams(skeleton(g)) for g in gold]
    overlapping = [
        t
        for t in texts
        if any(len(ngrams(skeleton(t)) & o) / len(ngrams(skeleton(t)) | o) >= NEAR_DUPLICATE_THRESHOLD for o in grams)
    ]
    assert [t for t in overlapping if not guard.is_gold_like(t)] == []
    # not vacuous: some of them only the overlap rule catches (its last word swapped for two)
    assert len(overlapping) >= 10 and sum(guard.match_rule(t)[1] == "gold_overlap" for t in overlapping) >= 3


def test_a_one_word_edit_with_another_answer_is_another_request():
    guard = GoldGuard(
        ["lock the front door please", "forecast for tomorrow please"],
        answers=['{"cmd": "lock", "door": "front"}', '{"cmd": "weather"}'],
    )
    assert guard.match_rule("unlock the front door please", '{"cmd": "unlock", "door": "front"}') is None
    assert guard.match_rule("weather for tomorrow please", '{"cmd":"weather"}')[1] == "gold_near"  # same answer
    assert guard.match_rule("unlock the front door please")[1] == "gold_near"  # no answer to tell: refused
    # the other rules hold whatever the answer: a disguised or padded gold input is a copy
    assert guard.match_rule("lоck the front door please", '{"cmd": "unlock"}')[1] == "gold_homoglyph"
    assert guard.match_rule("hey, lock the front door please", '{"cmd": "unlock"}')[1] == "gold_contained"
