"""Offline example generator for the home demo: generate(n, focus, seed) -> list of examples.

Templated the way a user's first generator is: a few phrasings per command, slots filled from the
task's closed sets (rooms, doors, days) and numbers written as digits or words. Answers are the
call as JSON, required arguments first, then optional ones, in the schema's order (the order
constrained decoding and llama.cpp's grammar produce); optional arguments appear only when the request
says them. The gold set (dataset/gold.jsonl) was written by hand, the way people talk, and none
of its inputs comes out of these templates. `focus` (from augment: "inputs whose correct cmd is
'set_timer'; the model failed with: wrong minutes") narrows the command.
"""

import json
import random

ROOMS = {"kitchen": ["kitchen"], "living_room": ["living room", "lounge"], "bedroom": ["bedroom"],
         "bathroom": ["bathroom"], "office": ["office", "study"], "hall": ["hall", "hallway"]}
DOORS = {"front": ["front door"], "back": ["back door"], "garage": ["garage", "garage door"]}
ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def words(n: int) -> str:
    """An integer 0-199 in English words ("forty-five", "one hundred and twenty")."""
    if n >= 100:
        rest = n - 100
        return "one hundred" + (f" and {words(rest)}" if rest else "")
    if n < 20:
        return ONES[n]
    return TENS[n // 10] + (f"-{ONES[n % 10]}" if n % 10 else "")


def number(rng: random.Random, n: int) -> str:
    return words(n) if rng.random() < 0.4 else str(n)


OPENERS = ["", "", "", "please ", "hey, ", "could you ", "can you ", "ok, ", "I'd like you to "]
CLOSERS = ["", "", "", " please", " now", " thanks", " for me"]


def wrap(rng: random.Random, text: str) -> str:
    """The same request said more or less politely, in lower or sentence case."""
    text = rng.choice(OPENERS) + text.rstrip(".?") + rng.choice(CLOSERS)
    return text if rng.random() < 0.5 else text[0].upper() + text[1:] + rng.choice([".", "", "?"])


def room(rng):
    key = rng.choice(sorted(ROOMS))
    return key, rng.choice(ROOMS[key])


def door(rng):
    key = rng.choice(sorted(DOORS))
    return key, rng.choice(DOORS[key])


def lights_on(rng):
    key, name = room(rng)
    if rng.random() < 0.4:
        level = rng.choice(range(10, 101, 5))
        text = rng.choice(["Set the {r} lights to {b} percent.", "Turn on the {r} lights at {b}%.",
                           "{r} lights on, brightness {b}.", "dim the {r} lights to {b}",
                           "{r} light at {b} percent", "brighten the {r} to {b}%"]).format(r=name, b=number(rng, level))
        return text, {"cmd": "lights_on", "room": key, "brightness": level}
    text = rng.choice(["Turn on the lights in the {r}.", "Switch the {r} lights on.", "Lights on in the {r}.",
                       "Can you turn the {r} light on?"]).format(r=name)
    return text, {"cmd": "lights_on", "room": key}


def lights_off(rng):
    key, name = room(rng)
    text = rng.choice(["Turn off the lights in the {r}.", "Switch the {r} lights off.", "Lights off in the {r}.",
                       "Kill the {r} light.", "{r} lamp off", "shut off the {r} lights", "no more light in the {r}",
                       "the {r} lights can go off"]).format(r=name)
    return text, {"cmd": "lights_off", "room": key}


def set_temperature(rng):
    degrees = rng.randint(15, 28)
    if rng.random() < 0.5:
        key, name = room(rng)
        text = rng.choice(["Set the {r} to {d} degrees.", "Heat the {r} to {d} degrees.",
                           "Make the {r} {d} degrees.", "{r} temperature to {d}", "cool the {r} down to {d}",
                           "I want the {r} at {d} degrees", "{d} degrees in the {r}", "keep the {r} at {d}",
                           "it's too cold in the {r}, make it {d}", "warm the {r} up to {d} degrees",
                           "get the {r} to {d}", "I'd like {d} degrees in the {r}", "{r} heating {d}",
                           "the {r} should be {d} degrees"]).format(r=name, d=number(rng, degrees))
        return text, {"cmd": "set_temperature", "degrees": degrees, "room": key}
    text = rng.choice(["Set the thermostat to {d}.", "Set the heating to {d} degrees.",
                       "Change the temperature to {d} degrees.", "heat to {d}", "turn the heating up to {d}",
                       "house temperature {d} degrees", "set the thermostat at {d}", "thermostat on {d} degrees",
                       "it's too cold, heating to {d}", "{d} degrees everywhere", "make the house {d}",
                       "the heating should be {d}"]).format(d=number(rng, degrees))
    return text, {"cmd": "set_temperature", "degrees": degrees}


def set_timer(rng):
    minutes = rng.choice([rng.randint(1, 10), rng.randint(1, 30), rng.randint(1, 12) * 5, rng.randint(1, 4) * 60,
                          30, 15, 45, 90])
    if minutes % 60 == 0 and rng.random() < 0.6:
        hours = minutes // 60
        span = "an hour" if hours == 1 else f"{number(rng, hours)} hours"
    elif minutes in (15, 30, 45, 90) and rng.random() < 0.6:
        span = rng.choice({15: ["fifteen minutes", "a quarter hour", "quarter of an hour"],
                           30: ["thirty minutes", "half an hour", "a half hour"],
                           45: ["three quarters of an hour", "forty-five minutes"],
                           90: ["an hour and a half", "ninety minutes"]}[minutes])
    elif rng.random() < 0.3:  # said as an adjective: "a 3 minute timer", "a ten-minute countdown"
        n = number(rng, minutes)
        return rng.choice(["Start a {n} minute timer.", "I need a {n}-minute timer", "{n} minute countdown",
                           "a {n} minute alarm for the oven"]).format(n=n), {"cmd": "set_timer", "minutes": minutes}
    else:
        span = f"{number(rng, minutes)} minute" + ("s" if minutes != 1 else "")
    text = rng.choice(["Set a timer for {s}.", "Start a timer for {s}.", "Timer for {s}.", "timer: {s}",
                       "Remind me in {s}.", "count down {s}", "ping me after {s}", "alarm in {s}",
                       "time {s} for me", "tell me when {s} have passed"]).format(s=span)
    return text, {"cmd": "set_timer", "minutes": minutes}


def lock(rng):
    key, name = door(rng)
    return rng.choice(["Lock the {d}.", "Please lock the {d}.", "Is the {d} locked? Lock it.", "{d} lock",
                       "lock up the {d}", "make the {d} secure"]).format(d=name), \
        {"cmd": "lock", "door": key}


def unlock(rng):
    key, name = door(rng)
    return rng.choice(["Unlock the {d}.", "Open the lock on the {d}.", "Let me in the {d}.", "{d} unlock",
                       "open the {d} for the guests", "unlock the {d} I'm home"]).format(d=name), \
        {"cmd": "unlock", "door": key}


def play_music(rng):
    call = {"cmd": "play_music"}
    parts = []
    if rng.random() < 0.5:
        key, name = room(rng)
        call["room"] = key
        parts.append(f" in the {name}")
    if rng.random() < 0.4:
        volume = rng.randint(1, 10)
        call["volume"] = volume
        parts.append(f" at volume {number(rng, volume)}")
    text = rng.choice(["Play some music{p}.", "Put music on{p}.", "Start the playlist{p}.", "music{p}",
                       "play a song{p}", "a few tunes{p}"]).format(p="".join(parts))
    return text, call


def weather(rng):
    day = rng.choice(["today", "tomorrow"])
    return rng.choice(["What's the weather {d}?", "Weather for {d}.", "Will it rain {d}?", "is it cold {d}",
                       "forecast {d}", "will it be sunny {d}", "do I need a jacket {d}",
                       "should I take sunglasses {d}", "how hot will it be {d}", "is it going to snow {d}",
                       "what's it like out {d}", "any storms {d}"]).format(d=day), \
        {"cmd": "weather", "day": day}


COMMANDS = {f.__name__: f for f in (lights_on, lights_off, set_temperature, set_timer, lock, unlock, play_music,
                                    weather)}


def generate(n, focus, seed):
    rng = random.Random(seed)
    cmds = [c for c in COMMANDS if focus and f"'{c}'" in focus.split("failed")[0]] or sorted(COMMANDS)
    out = []
    for _ in range(n):
        text, call = COMMANDS[rng.choice(cmds)](rng)
        out.append({"user": wrap(rng, text), "assistant": json.dumps(call)})
    return out
