"""Multi-turn tool-calling conversations for the memory and speed benchmarks, in forge's own data shape.

Six functions of a travel assistant, a system prompt describing them (~120 tokens), and conversations of 2-5 user
turns that carry context over ("and for two people"), correct an earlier argument, or ask for a missing one; every
assistant turn is one call as JSON, {"name": ..., "arguments": {...}}, in its content. Deterministic for a seed.
"""

from __future__ import annotations

import json
import random

SYSTEM = (
    "You are a travel assistant that answers every request with exactly one function call as JSON: "
    '{"name": <function>, "arguments": {...}}. Functions: search_flights(origin, destination, date, passengers), '
    "book_hotel(city, check_in, nights, guests), rent_car(city, pickup_date, days, car_class), "
    "get_weather(city, date), convert_currency(amount, from_currency, to_currency), "
    "ask_user(question) when a required argument is missing. Dates are YYYY-MM-DD; keep the arguments the "
    "user gave earlier in the conversation unless they change them."
)
CITIES = ["Lisbon", "Oslo", "Kyoto", "Denver", "Nairobi", "Lima", "Hanoi", "Tallinn", "Perth", "Quebec"]
CLASSES = ["economy", "compact", "suv", "luxury"]
CURRENCIES = ["EUR", "USD", "JPY", "GBP", "NOK", "PEN"]


def _date(rng: random.Random) -> str:
    return f"2027-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _turn(rng: random.Random, state: dict) -> tuple[str, dict]:
    """One user turn and the call it asks for; `state` carries what earlier turns said."""
    kind = rng.choice(["flight", "hotel", "car", "weather", "money", "follow", "missing"])
    if kind == "follow" and state.get("last"):
        name, args = state["last"]
        args = dict(args)
        key = rng.choice([k for k in args if k not in ("city", "origin", "destination")] or list(args))
        if isinstance(args[key], int):
            args[key] += rng.randint(1, 3)
            text = f"Actually make that {args[key]} {key.replace('_', ' ')}, everything else the same."
        else:
            args[key] = _date(rng) if "date" in key or key == "check_in" else rng.choice(CITIES + CLASSES)
            text = f"Sorry, I meant {args[key]} for the {key.replace('_', ' ')}. Can you redo that?"
        state["last"] = (name, args)
        return text, {"name": name, "arguments": args}
    if kind == "missing":
        return (
            "Can you book me something nice for next month?",
            {"name": "ask_user", "arguments": {"question": "Which city, and what would you like me to book?"}},
        )
    city, date = rng.choice(CITIES), _date(rng)
    if kind == "flight":
        origin = state.get("home") or rng.choice(CITIES)
        args = {"origin": origin, "destination": city, "date": date, "passengers": rng.randint(1, 4)}
        text = f"Find flights from {origin} to {city} on {date} for {args['passengers']} of us, please."
        name = "search_flights"
    elif kind == "hotel":
        args = {"city": city, "check_in": date, "nights": rng.randint(1, 9), "guests": rng.randint(1, 4)}
        text = f"I need a hotel in {city} from {date}, {args['nights']} nights, {args['guests']} guests."
        name = "book_hotel"
    elif kind == "car":
        args = {"city": city, "pickup_date": date, "days": rng.randint(1, 14), "car_class": rng.choice(CLASSES)}
        text = f"Rent a {args['car_class']} car in {city} starting {date} for {args['days']} days."
        name = "rent_car"
    elif kind == "weather":
        args = {"city": city, "date": date}
        text = f"What will the weather be like in {city} on {date}?"
        name = "get_weather"
    else:
        src, dst = rng.sample(CURRENCIES, 2)
        args = {"amount": rng.randint(5, 5000), "from_currency": src, "to_currency": dst}
        text = f"How much is {args['amount']} {src} in {dst}?"
        name = "convert_currency"
    state["last"] = (name, args)
    return text, {"name": name, "arguments": args}


def conversations(n: int, seed: int) -> list[dict]:
    """`n` conversations of 2-5 user turns, each assistant turn a JSON call."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        state: dict = {"home": rng.choice(CITIES)}
        messages: list[dict] = []
        for _turn_no in range(rng.randint(2, 5)):
            text, call = _turn(rng, state)
            messages += [{"role": "user", "content": text}, {"role": "assistant", "content": json.dumps(call)}]
        out.append({"messages": messages})
    return out
