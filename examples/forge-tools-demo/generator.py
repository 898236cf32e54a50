"""Offline example generator for the tools demo: generate(n, focus, seed) -> list of conversations.

Templated the way a user's first generator is, and written from the function list (tools.json) alone,
before any gold conversation was read: a few phrasings per function, slots filled from the closed sets
the tools declare (ten cities, six currencies, three cabins), dates said as 2027-06-03 or as "June 3"
(the call always says YYYY-MM-DD; the year is 2027), counts as digits or words. Besides one-turn requests
it writes the shapes a desk conversation takes: a follow-up that carries the earlier arguments over
("and the day after?", "same for Rome"), a correction ("sorry, I meant Lisbon"), a missing argument asked
for and then given, a search whose results the next turn books or converts, several calls at once, and
requests no function fits, answered in text that says what the desk does.

Every example carries all six tools, in tools.json's order; its last assistant turn is the answer that is
learned and scored, and every call before it is followed by its result. Calls keep the schema's argument
order (required ones first, then optional ones) and an optional argument appears only when the user said it.
The gold set (dataset/gold.jsonl) was written by hand, the way people type, and none of its conversations
comes out of these templates. `focus` (from augment: "inputs whose correct function is 'book_flight'; the
model failed with: wrong flight_id") narrows the last turn to that function ('a+b' for parallel calls,
'(none)' for a text reply).
"""

import datetime
import json
import random
import re
from pathlib import Path

TOOLS = json.loads(Path(__file__).with_name("tools.json").read_text(encoding="utf-8"))
PARAMS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
# The closed sets come from the tools themselves, so the generator cannot drift from the contract.
CITIES = PARAMS["search_flights"]["properties"]["origin"]["enum"]
CURRENCIES = PARAMS["convert_currency"]["properties"]["from_currency"]["enum"]
CABINS = PARAMS["search_flights"]["properties"]["cabin"]["enum"]

CURRENCY_NAMES = {"EUR": ["euros", "EUR", "euro"], "USD": ["dollars", "USD", "US dollars"],
                  "GBP": ["pounds", "GBP", "British pounds"], "NOK": ["Norwegian kroner", "NOK", "kroner"],
                  "CZK": ["Czech koruna", "CZK", "Czech crowns"], "CHF": ["Swiss francs", "CHF", "francs"]}
CABIN_NAMES = {"economy": ["economy", "economy class"], "premium": ["premium economy", "premium"],
               "business": ["business", "business class"]}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
AIRLINES = ["FR", "AZ", "IB", "LH", "TP", "OS", "OK", "EI", "A3", "SK", "AF", "U2"]
HOTELS = ["Hotel Central", "Park Inn", "Old Town Suites", "River Lodge", "Grand Plaza", "City Rooms", "Hotel Nord",
          "Casa Sol", "The Station", "Harbour View"]
FORECASTS = ["sunny", "cloudy", "rain", "showers", "windy", "snow", "partly cloudy"]
DESK = "I can search and book flights, find hotels, check the weather, convert currencies and cancel bookings."


# --- slots: how a user says a value, and the value the call carries ----------------------------------------

def date(rng: random.Random) -> datetime.date:
    return datetime.date(2027, rng.randint(1, 12), rng.randint(1, 28))


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def said_date(rng: random.Random, d: datetime.date) -> str:
    """A date as a user writes it: ISO sometimes, a month name other times (the call says ISO either way)."""
    month, r = MONTHS[d.month - 1], rng.random()
    if r < 0.35:
        return d.isoformat()
    if r < 0.65:
        return f"{month} {d.day}"
    if r < 0.85:
        return f"{d.day} {month}"
    return f"{month} {ordinal(d.day)}"


def count(rng: random.Random, n: int) -> str:
    return WORDS[n] if n < len(WORDS) and rng.random() < 0.4 else str(n)


def nights_said(rng: random.Random, n: int) -> str:
    return f"{count(rng, n)} night" + ("s" if n != 1 else "")


def people(rng: random.Random, n: int) -> str:
    return rng.choice(["for {n}", "for {n} people", "{n} passengers", "for {n} of us", "for {n} adults"]).format(
        n=count(rng, n))


def currency(rng: random.Random, code: str) -> str:
    return rng.choice(CURRENCY_NAMES[code])


def two_cities(rng: random.Random) -> tuple[str, str]:
    a, b = rng.sample(CITIES, 2)
    return a, b


def flight_id(rng: random.Random) -> str:
    return f"{rng.choice(AIRLINES)}{rng.randint(100, 9999)}"


def booking_id(rng: random.Random) -> str:
    return f"BK-{rng.randint(10000, 99999)}"


OPENERS = ["", "", "", "please ", "hi, ", "could you ", "can you ", "ok, ", "hello, "]
CLOSERS = ["", "", "", " please", " thanks", " for me"]


def wrap(rng: random.Random, text: str) -> str:
    """The same request said more or less politely, in lower or sentence case."""
    text = rng.choice(OPENERS) + text.rstrip(".?") + rng.choice(CLOSERS)
    return text if rng.random() < 0.5 else text[0].upper() + text[1:] + rng.choice([".", "", "?"])


# --- calls, results and the conversation they make ---------------------------------------------------------

def call(name: str, **args) -> tuple[str, dict]:
    """A call with its arguments in the schema's order (required first, then optional); None values are left
    out, so an optional argument is written only when the user said it."""
    order = list(PARAMS[name]["properties"])
    return name, {k: args[k] for k in order if args.get(k) is not None}


def result(rng: random.Random, name: str, args: dict) -> dict:
    """A plausible result for a call, short enough to keep the conversation inside model.max_seq_len."""
    if name == "search_flights":
        k = rng.randint(2, 3)  # distinct ids, times and prices: "the 13:05 one", "the cheaper one" name one flight
        ids = []
        while len(ids) < k:
            ids += [f] if (f := flight_id(rng)) not in ids else []
        hours, prices = sorted(rng.sample(range(6, 22), k)), rng.sample(range(45, 420), k)
        return {"flights": [{"id": f, "dep": f"{h:02d}:{rng.choice(['05', '20', '40', '55'])}", "price": p}
                            for f, h, p in zip(ids, hours, prices, strict=True)]}
    if name == "find_hotels":
        top = args.get("max_price", 260)
        names = rng.sample(HOTELS, rng.randint(2, 3))
        return {"hotels": [{"name": h, "price": rng.randint(min(55, top), top)} for h in names]}
    if name == "get_weather":
        forecast = rng.choice(FORECASTS)
        return {"forecast": forecast, "high_c": rng.randint(-6, 2) if forecast == "snow" else rng.randint(4, 34)}
    if name == "convert_currency":
        return {"amount": round(args["amount"] * rng.uniform(0.08, 12), 2), "currency": args["to_currency"]}
    if name == "book_flight":
        return {"booking_id": booking_id(rng), "status": "confirmed"}
    return {"booking_id": args["booking_id"], "status": "cancelled"}


def summary(rng: random.Random, name: str, out: dict) -> str:
    """The assistant's text after a result (a turn of the history)."""
    if name == "search_flights":
        listed = ", ".join(f"{f['id']} at {f['dep']} for {f['price']} EUR" for f in out["flights"])
        return rng.choice(["I found {n} flights: {l}.", "There are {n} flights: {l}.", "Options: {l}."]).format(
            n=len(out["flights"]), l=listed)
    if name == "find_hotels":
        listed = ", ".join(f"{h['name']} at {h['price']} EUR a night" for h in out["hotels"])
        return rng.choice(["I found {l}.", "Available: {l}."]).format(l=listed)
    if name == "get_weather":
        return f"The forecast is {out['forecast']}, with a high of {out['high_c']}°C."
    if name == "convert_currency":
        return f"That is {out['amount']} {out['currency']}."
    if name == "book_flight":
        return f"Booked. Your booking reference is {out['booking_id']}."
    return f"Booking {out['booking_id']} is cancelled."


class Convo:
    """A conversation being written: user turns, calls (each followed by its result while it is history),
    text replies; `end` adds the last assistant turn, the one that is scored."""

    def __init__(self, rng: random.Random):
        self.rng, self.messages, self.calls_made = rng, [], 0

    def user(self, text: str) -> "Convo":
        self.messages.append({"role": "user", "content": text})
        return self

    def say(self, text: str) -> "Convo":
        self.messages.append({"role": "assistant", "content": text})
        return self

    def _calls(self, calls: list[tuple[str, dict]]) -> list[str]:
        ids = []
        for _ in calls:
            self.calls_made += 1
            ids.append(f"call_{self.calls_made}")
        self.messages.append({"role": "assistant", "content": "", "tool_calls": [
            {"id": i, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in zip(ids, calls, strict=True)]})
        return ids

    def run(self, *calls: tuple[str, dict]) -> list[dict]:
        """Calls in the history: each followed by its result, then the assistant's summary; the results."""
        outs = [result(self.rng, name, args) for name, args in calls]
        for i, out in zip(self._calls(list(calls)), outs, strict=True):
            self.messages.append({"role": "tool", "tool_call_id": i, "content": json.dumps(out)})
        self.say(" ".join(summary(self.rng, name, out) for (name, _), out in zip(calls, outs, strict=True)))
        return outs

    def end(self, *calls: tuple[str, dict]) -> dict:
        self._calls(list(calls))
        return {"tools": TOOLS, "messages": self.messages}

    def end_text(self, text: str) -> dict:
        self.say(text)
        return {"tools": TOOLS, "messages": self.messages}


# --- one-turn requests: (what the user says, the call) ------------------------------------------------------

def ask_flights(rng):
    a, b = two_cities(rng)
    d = date(rng)
    n = rng.randint(2, 6) if rng.random() < 0.4 else None
    cabin = rng.choice(CABINS) if rng.random() < 0.3 else None
    extra = (f" {people(rng, n)}" if n else "") + (f" in {rng.choice(CABIN_NAMES[cabin])}" if cabin else "")
    text = rng.choice(["Search flights from {a} to {b} on {d}{x}.", "Find me a flight {a} to {b} on {d}{x}.",
                       "flights {a} - {b}, {d}{x}", "I need to fly from {a} to {b} on {d}{x}.",
                       "Any flights to {b} from {a} on {d}{x}?", "look up flights on {d} from {a} to {b}{x}"])
    return text.format(a=a, b=b, d=said_date(rng, d), x=extra), call(
        "search_flights", origin=a, destination=b, date=d.isoformat(), passengers=n, cabin=cabin)


def ask_hotels(rng):
    city, d, nights = rng.choice(CITIES), date(rng), rng.randint(1, 9)
    top = rng.choice([80, 100, 120, 150, 200]) if rng.random() < 0.35 else None
    extra = f", max {top} EUR a night" if top else ""
    text = rng.choice(["Find a hotel in {c} from {d} for {n}{x}.", "hotels in {c}, check in {d}, {n}{x}",
                       "I need a room in {c} for {n} starting {d}{x}.", "Look for hotels in {c}: {n} from {d}{x}."])
    text = text.format(c=city, d=said_date(rng, d), n=nights_said(rng, nights), x=extra)
    return text, call("find_hotels", city=city, check_in=d.isoformat(), nights=nights, max_price=top)


def ask_weather(rng):
    city = rng.choice(CITIES)
    if rng.random() < 0.35:
        text = rng.choice(["What's the weather in {c}?", "weather in {c} today", "Is it raining in {c} right now?",
                           "How warm is it in {c} today?"]).format(c=city)
        return text, call("get_weather", city=city)
    d = date(rng)
    text = rng.choice(["What's the weather in {c} on {d}?", "forecast for {c}, {d}", "Will it rain in {c} on {d}?",
                       "How hot will {c} be on {d}?", "weather {c} {d}"]).format(c=city, d=said_date(rng, d))
    return text, call("get_weather", city=city, date=d.isoformat())


def amount(rng: random.Random):
    """A whole amount most of the time (an int in the call), cents sometimes (a float)."""
    return rng.choice([rng.randint(5, 2000), rng.randint(1, 40) * 50]) if rng.random() < 0.8 else \
        round(rng.uniform(2, 500), 2)


def ask_convert(rng):
    src, dst = rng.sample(CURRENCIES, 2)
    amt = amount(rng)
    text = rng.choice(["Convert {a} {f} to {t}.", "How much is {a} {f} in {t}?", "{a} {f} in {t}",
                       "What are {a} {f} worth in {t}?", "change {a} {f} into {t}"])
    return text.format(a=amt, f=currency(rng, src), t=currency(rng, dst)), call(
        "convert_currency", amount=amt, from_currency=src, to_currency=dst)


def ask_cancel(rng):
    ref = booking_id(rng)
    said = ref if rng.random() < 0.8 else ref.lower()  # references are written upper case in the call
    text = rng.choice(["Cancel booking {r}.", "Please cancel {r}.", "I want to cancel my booking {r}.",
                       "cancel reservation {r}", "Can you cancel {r}? Plans changed."])
    return text.format(r=said), call("cancel_booking", booking_id=ref)


def ask_book(rng):
    fid, n = flight_id(rng), rng.randint(1, 5)
    text = rng.choice(["Book flight {f} {p}.", "book {f} {p}", "Please reserve {f} {p}."])
    return text.format(f=fid, p=people(rng, n)), call("book_flight", flight_id=fid, passengers=n)


ASK = {"search_flights": ask_flights, "find_hotels": ask_hotels, "get_weather": ask_weather,
       "convert_currency": ask_convert, "cancel_booking": ask_cancel, "book_flight": ask_book}


def single(rng, name):
    text, c = ASK[name](rng)
    return Convo(rng).user(wrap(rng, text)).end(c)


# --- multi-turn shapes, by the function the last turn calls -------------------------------------------------

def other_city(rng, *not_these):
    return rng.choice([c for c in CITIES if c not in not_these])


def followup_flights(rng):
    """A search, then the same search with one argument changed: carried over or corrected."""
    text, (name, args) = ask_flights(rng)
    c = Convo(rng).user(wrap(rng, text))
    c.run((name, args))
    d = datetime.date.fromisoformat(args["date"])
    kind = rng.choice(["day_after", "day_before", "dest", "origin", "people", "cabin", "date"])
    new = dict(args)
    if kind == "day_after":
        new["date"] = (d + datetime.timedelta(days=1)).isoformat()
        said = rng.choice(["and the day after?", "What about the next day?", "same thing one day later"])
    elif kind == "day_before":
        new["date"] = (d - datetime.timedelta(days=1)).isoformat()
        said = rng.choice(["and the day before?", "What about one day earlier?"])
    elif kind == "dest":
        new["destination"] = other_city(rng, args["origin"], args["destination"])
        said = rng.choice(["sorry, I meant {c}", "what about to {c} instead?",
                           "no, the destination is {c}"]).format(c=new["destination"])
    elif kind == "origin":
        new["origin"] = other_city(rng, args["origin"], args["destination"])
        said = rng.choice(["Sorry, I'm leaving from {c}.", "actually from {c}", "and from {c}?"]).format(
            c=new["origin"])
    elif kind == "people":
        new["passengers"] = rng.choice([k for k in range(2, 7) if k != args.get("passengers")])
        said = rng.choice(["actually we are {n}", "make it {n} passengers", "and for {n} people?"]).format(
            n=count(rng, new["passengers"]))
    elif kind == "cabin":
        new["cabin"] = rng.choice([k for k in CABINS if k != args.get("cabin")])
        said = rng.choice(["same but in {k}", "Can you check {k} instead?", "what about {k}?"]).format(
            k=rng.choice(CABIN_NAMES[new["cabin"]]))
    else:
        new["date"] = date(rng).isoformat()
        said = rng.choice(["oops, I meant {d}", "Sorry, wrong date: {d}.", "can you try {d} instead"]).format(
            d=said_date(rng, datetime.date.fromisoformat(new["date"])))
    return c.user(said).end(call(name, **new))


def clarify_flights(rng):
    """A search missing its origin or its date: the assistant asks, the user answers, the call follows."""
    _, (name, args) = ask_flights(rng)
    c = Convo(rng)
    d = said_date(rng, datetime.date.fromisoformat(args["date"]))
    if rng.random() < 0.5:
        c.user(wrap(rng, rng.choice(["I want to fly to {b} on {d}", "flights to {b} on {d}"]).format(
            b=args["destination"], d=d)))
        c.say(rng.choice(["Where are you flying from?", "Which city are you leaving from?"]))
        c.user(rng.choice(["from {a}", "{a}", "I'm in {a}"]).format(a=args["origin"]))
    else:
        c.user(wrap(rng, rng.choice(["find me a flight from {a} to {b}", "I need to get from {a} to {b}"]).format(
            a=args["origin"], b=args["destination"])))
        c.say(rng.choice(["Which day do you want to fly?", "On what date?"]))
        c.user(rng.choice(["{d}", "on {d}", "{d} please"]).format(d=d))
    args = {k: v for k, v in args.items() if k in ("origin", "destination", "date")}
    return c.end(call(name, **args))


def search_then(rng) -> tuple[Convo, dict, list]:
    """A conversation that searched flights; its call's arguments and the flights found."""
    text, (name, args) = ask_flights(rng)
    c = Convo(rng).user(wrap(rng, text))
    out = c.run((name, args))[0]
    return c, args, out["flights"]


def book_after_search(rng):
    """Results in the history, then "book the cheaper one": the flight_id comes from the result."""
    c, args, flights = search_then(rng)
    by_price = sorted(flights, key=lambda f: f["price"])
    pick = rng.choice(["cheapest", "first", "last", "time", "id", "priciest"])
    flight = {"cheapest": by_price[0], "priciest": by_price[-1], "first": flights[0], "last": flights[-1],
              "time": rng.choice(flights), "id": rng.choice(flights)}[pick]
    said = {"cheapest": rng.choice(["book the cheapest one", "the cheaper one please", "take the cheapest"]),
            "priciest": rng.choice(["book the most expensive one", "the pricier one"]),
            "first": rng.choice(["book the first one", "the first flight please"]),
            "last": rng.choice(["book the last one", "I'll take the last flight"]),
            "time": rng.choice(["book the {t} one", "the {t} flight please"]).format(t=flight["dep"]),
            "id": rng.choice(["book {f}", "go with {f}"]).format(f=flight["id"])}[pick]
    n = args.get("passengers", 1)  # the search's travellers, unless this turn says otherwise
    if rng.random() < 0.4:
        n = rng.randint(1, 5)
        said += " " + rng.choice(["for {n}", "for {n} people", "{n} seats"]).format(n=count(rng, n))
    return c.user(said).end(call("book_flight", flight_id=flight["id"], passengers=n))


def followup_hotels(rng):
    text, (name, args) = ask_hotels(rng)
    c = Convo(rng).user(wrap(rng, text))
    c.run((name, args))
    new, kind = dict(args), rng.choice(["city", "nights", "price", "date"])
    if kind == "city":
        new["city"] = other_city(rng, args["city"])
        said = rng.choice(["same for {c}", "sorry, I meant {c}", "and in {c}, same dates?"]).format(c=new["city"])
    elif kind == "nights":
        new["nights"] = rng.choice([k for k in range(1, 10) if k != args["nights"]])
        said = rng.choice(["make that {n}", "actually {n}"]).format(n=nights_said(rng, new["nights"]))
    elif kind == "price":
        new["max_price"] = rng.choice([60, 70, 90, 110])
        said = rng.choice(["anything under {p} a night?", "cheaper, max {p} euros"]).format(p=new["max_price"])
    else:
        new["check_in"] = date(rng).isoformat()
        said = rng.choice(["sorry, checking in on {d}", "oops, I meant {d}"]).format(
            d=said_date(rng, datetime.date.fromisoformat(new["check_in"])))
    return c.user(said).end(call(name, **new))


def hotels_after_flights(rng):
    """Flights in the history, then hotels at the destination from the flight's day."""
    c, args, _ = search_then(rng)
    n = rng.randint(1, 8)
    said = rng.choice(["and a hotel there for {n}", "Find me a hotel there too, {n}.",
                       "any hotels in {c} for {n} from that day?"])
    c.user(said.format(n=nights_said(rng, n), c=args["destination"]))
    return c.end(call("find_hotels", city=args["destination"], check_in=args["date"], nights=n))


def clarify_hotels(rng):
    _, (name, args) = ask_hotels(rng)
    c = Convo(rng)
    d = said_date(rng, datetime.date.fromisoformat(args["check_in"]))
    if rng.random() < 0.5:
        c.user(wrap(rng, rng.choice(["find me a hotel in {c}", "I need a hotel in {c}"]).format(c=args["city"])))
        c.say(rng.choice(["When do you check in, and for how many nights?", "What dates, and how many nights?"]))
        c.user(rng.choice(["from {d}, {n}", "{n} from {d}"]).format(d=d, n=nights_said(rng, args["nights"])))
    else:
        c.user(wrap(rng, rng.choice(["hotel in {c} from {d}", "a room in {c} starting {d}"]).format(
            c=args["city"], d=d)))
        c.say(rng.choice(["How many nights?", "For how many nights?"]))
        c.user(rng.choice([count(rng, args["nights"]), nights_said(rng, args["nights"])]))
    args.pop("max_price", None)
    return c.end(call(name, **args))


def followup_weather(rng):
    """A forecast, then one or two follow-ups, each carrying over what the turn before it did not change."""
    text, (name, args) = ask_weather(rng)
    c = Convo(rng).user(wrap(rng, text))
    c.run((name, args))
    for turn in range(rng.choice([1, 1, 2])):
        if turn:  # the follow-up before this one is history now: its call and result
            c.run((name, args))
        new = dict(args)
        if "date" in args and rng.random() < 0.4:
            new["date"] = (datetime.date.fromisoformat(args["date"]) + datetime.timedelta(days=1)).isoformat()
            said = rng.choice(["and the day after?", "what about the next day", "and the following day?"])
        else:
            new["city"] = other_city(rng, args["city"])
            said = rng.choice(["same for {c}", "and in {c}?", "what about {c}?", "sorry, I meant {c}"]).format(
                c=new["city"])
        c.user(said)
        args = call(name, **new)[1]
    return c.end((name, args))


def weather_after_flights(rng):
    c, args, _ = search_then(rng)
    c.user(rng.choice(["what's the weather there that day?", "and the weather in {c} on that day?",
                       "will it rain there when I land?"]).format(c=args["destination"]))
    return c.end(call("get_weather", city=args["destination"], date=args["date"]))


def clarify_weather(rng):
    _, (name, args) = ask_weather(rng)
    c = Convo(rng)
    if "date" in args:
        c.user(wrap(rng, rng.choice(["what's the weather on {d}", "will it be sunny on {d}"]).format(
            d=said_date(rng, datetime.date.fromisoformat(args["date"])))))
    else:
        c.user(wrap(rng, rng.choice(["what's the weather like", "weather today"])))
    c.say(rng.choice(["Which city?", "For which city?"]))
    c.user(rng.choice(["{c}", "in {c}"]).format(c=args["city"]))
    return c.end(call(name, **args))


def convert_after_result(rng):
    """A price in a result, then "how much is that in dollars?": the amount comes from the result."""
    if rng.random() < 0.5:
        c, _, flights = search_then(rng)
        price = rng.choice(flights)["price"]
        said = rng.choice(["how much is {p} euros in {t}?", "what is {p} EUR in {t}", "{p} euros in {t}?"])
    else:
        text, hotel_call = ask_hotels(rng)
        c = Convo(rng).user(wrap(rng, text))
        price = c.run(hotel_call)[0]["hotels"][0]["price"]
        said = rng.choice(["how much is the first one in {t}?", "what's {p} euros in {t}",
                           "and the first one's price in {t}?"])
    dst = rng.choice([k for k in CURRENCIES if k != "EUR"])
    c.user(said.format(p=price, t=currency(rng, dst)))
    return c.end(call("convert_currency", amount=price, from_currency="EUR", to_currency=dst))


def followup_convert(rng):
    text, (name, args) = ask_convert(rng)
    c = Convo(rng).user(wrap(rng, text))
    c.run((name, args))
    new = dict(args)
    if rng.random() < 0.5:
        new["to_currency"] = rng.choice([k for k in CURRENCIES if k not in (args["from_currency"], args["to_currency"])])
        said = rng.choice(["and in {t}?", "sorry, I meant {t}", "what about {t}?"]).format(
            t=currency(rng, new["to_currency"]))
    else:
        new["amount"] = amount(rng)
        said = rng.choice(["and {a}?", "same for {a}", "now {a} please"]).format(a=new["amount"])
    return c.user(said).end(call(name, **new))


def clarify_convert(rng):
    _, (name, args) = ask_convert(rng)
    c = Convo(rng).user(wrap(rng, rng.choice(["convert {a} {f}", "I have {a} {f}, how much is that?"]).format(
        a=args["amount"], f=currency(rng, args["from_currency"]))))
    c.say(rng.choice(["Into which currency?", "Which currency should I convert to?"]))
    c.user(rng.choice(["{t}", "to {t}", "into {t}"]).format(t=currency(rng, args["to_currency"])))
    return c.end(call(name, **args))


def cancel_after_booking(rng):
    """A booking in the history, then "cancel it": the reference comes from the result."""
    text, booked = ask_book(rng)
    c = Convo(rng).user(wrap(rng, text))
    ref = c.run(booked)[0]["booking_id"]
    c.user(rng.choice(["actually cancel that", "Sorry, changed my mind, cancel it.", "please cancel the booking"]))
    return c.end(call("cancel_booking", booking_id=ref))


def clarify_cancel(rng):
    _, (name, args) = ask_cancel(rng)
    c = Convo(rng).user(wrap(rng, rng.choice(["cancel my booking", "I need to cancel a reservation"])))
    c.say(rng.choice(["Which booking? Please give me its reference, like BK-12345.", "What's the booking reference?"]))
    c.user(rng.choice(["{r}", "it's {r}", "reference {r}"]).format(r=args["booking_id"]))
    return c.end(call(name, **args))


# --- text replies: a missing argument asked for, or nothing the desk can do ----------------------------------

NO_FIT = ["tell me a joke", "What's a good restaurant in {c}?", "rent me a car in {c}", "book a table for two in {c}",
          "Do I need a visa for {c}?", "what time is it in {c}", "recommend a museum in {c}",
          "Book a train from {c} to {d}.", "translate 'thank you' into Italian", "what's the capital of Peru",
          "book a taxi to the airport", "how long is the flight from {c} to {d}?"]
NO_FIT_REPLIES = ["Sorry, I can't help with that. " + DESK, "That's outside what I can do. " + DESK,
                  "I can't do that here. " + DESK]
ELSEWHERE = ["Tokyo", "New York", "London", "Barcelona", "Cairo", "Sydney"]


def no_fit(rng):
    c = Convo(rng)
    if rng.random() < 0.3:  # after a conversation that did call
        text, first = ASK[rng.choice(["search_flights", "get_weather", "find_hotels"])](rng)
        c.user(wrap(rng, text)).run(first)
    a, b = two_cities(rng)
    r = rng.random()
    if r < 0.2:  # a city the tools do not have
        c.user(wrap(rng, rng.choice(["flights from {a} to {x} on {d}", "hotels in {x} for 2 nights from {d}",
                                     "weather in {x}"]).format(a=a, x=rng.choice(ELSEWHERE),
                                                               d=said_date(rng, date(rng)))))
        return c.end_text("I can only help with these cities: " + ", ".join(CITIES) + ".")
    if r < 0.35:  # hotels are found, not booked
        c.user(wrap(rng, rng.choice(["book the {h} for me", "reserve a room at {h}"]).format(h=rng.choice(HOTELS))))
        return c.end_text("I can find hotels but I can't book them; please book the room with the hotel. " + DESK)
    c.user(wrap(rng, rng.choice(NO_FIT).format(c=a, d=b)))
    return c.end_text(rng.choice(NO_FIT_REPLIES))


def ask_missing(rng):
    """A request missing a required argument, answered by asking for it."""
    city, d = rng.choice(CITIES), said_date(rng, date(rng))
    text, reply = rng.choice([
        ("flights to {c} on {d}", "Where are you flying from?"), ("search flights from {c}", "Where to, and on which day?"),
        ("find me a hotel in {c}", "When do you check in, and for how many nights?"),
        ("hotel in {c} from {d}", "How many nights?"), ("what's the weather on {d}", "Which city?"),
        ("cancel my booking", "Which booking? Please give me its reference, like BK-12345."),
        ("convert 100 euros", "Into which currency?"), ("book a flight", "Where from and to, and on which day?")])
    return Convo(rng).user(wrap(rng, text.format(c=city, d=d))).end_text(reply)


# --- several calls at once -----------------------------------------------------------------------------------

def clause(rng, name):
    """One request said as a clause to join with another."""
    text, c = ASK[name](rng)
    return text.rstrip(".?")[0].lower() + text.rstrip(".?")[1:], c


def parallel(rng, names):
    """Any functions called together: their requests joined in one turn."""
    parts = [clause(rng, n) for n in names]
    joiner = rng.choice([" and ", ", and also ", ". Also ", "; "])
    text = joiner.join(p for p, _ in parts)
    return Convo(rng).user(wrap(rng, text)).end(*(c for _, c in parts))


def weather_cities(rng, k=2):
    cities = rng.sample(CITIES, k)
    listed = ", ".join(cities[:-1]) + " and " + cities[-1]
    if rng.random() < 0.5:
        text = rng.choice(["weather in {l}", "What's the weather in {l}?", "compare the weather in {l}"])
        calls = [call("get_weather", city=x) for x in cities]
        return Convo(rng).user(wrap(rng, text.format(l=listed))).end(*calls)
    d = date(rng)
    text = rng.choice(["weather in {l} on {d}", "What will the weather be in {l} on {d}?", "forecast {d} for {l}"])
    calls = [call("get_weather", city=x, date=d.isoformat()) for x in cities]
    return Convo(rng).user(wrap(rng, text.format(l=listed, d=said_date(rng, d)))).end(*calls)


def round_trip(rng):
    a, b = two_cities(rng)
    out = date(rng)
    back = out + datetime.timedelta(days=rng.randint(2, 14))
    n = rng.randint(2, 4) if rng.random() < 0.3 else None
    text = rng.choice(["flights from {a} to {b} on {o} and back on {r}{p}", "search {a} to {b} {o}, return {r}{p}",
                       "I need a flight {a}-{b} on {o} and the return on {r}{p}"])
    text = text.format(a=a, b=b, o=said_date(rng, out), r=said_date(rng, back), p=f" {people(rng, n)}" if n else "")
    return Convo(rng).user(wrap(rng, text)).end(
        call("search_flights", origin=a, destination=b, date=out.isoformat(), passengers=n),
        call("search_flights", origin=b, destination=a, date=back.isoformat(), passengers=n))


def trip_plan(rng):
    """Hotels and the weather in one city, from one date."""
    city, d, nights = rng.choice(CITIES), date(rng), rng.randint(1, 7)
    text = rng.choice(["hotels in {c} from {d} for {n}, and the weather there that day",
                       "Find a hotel in {c} for {n} from {d} and tell me the forecast for that day."])
    return Convo(rng).user(wrap(rng, text.format(c=city, d=said_date(rng, d), n=nights_said(rng, nights)))).end(
        call("find_hotels", city=city, check_in=d.isoformat(), nights=nights),
        call("get_weather", city=city, date=d.isoformat()))


def two_conversions(rng):
    src, a, b = rng.sample(CURRENCIES, 3)
    amt = amount(rng)
    text = rng.choice(["convert {m} {f} to {a} and to {b}", "how much is {m} {f} in {a} and in {b}?"])
    return Convo(rng).user(wrap(rng, text.format(m=amt, f=currency(rng, src), a=currency(rng, a),
                                                 b=currency(rng, b)))).end(
        call("convert_currency", amount=amt, from_currency=src, to_currency=a),
        call("convert_currency", amount=amt, from_currency=src, to_currency=b))


# The last turn's kind (the function called, 'a+b' sorted for parallel calls, '(none)' for text; the
# names forge's failure categories use) -> the shapes that end in it, and how often it comes unfocused.
SHAPES = {
    "search_flights": ([lambda r: single(r, "search_flights"), followup_flights, followup_flights, clarify_flights], 4),
    "book_flight": ([book_after_search, book_after_search, book_after_search, lambda r: single(r, "book_flight")], 3),
    "find_hotels": ([lambda r: single(r, "find_hotels"), followup_hotels, hotels_after_flights, clarify_hotels], 3),
    "get_weather": ([lambda r: single(r, "get_weather"), followup_weather, weather_after_flights, clarify_weather], 3),
    "convert_currency": ([lambda r: single(r, "convert_currency"), followup_convert, convert_after_result,
                          clarify_convert], 3),
    "cancel_booking": ([lambda r: single(r, "cancel_booking"), cancel_after_booking, clarify_cancel], 2),
    "(none)": ([no_fit, no_fit, ask_missing], 4),
    "get_weather+get_weather": ([weather_cities], 1),
    "get_weather+get_weather+get_weather": ([lambda r: weather_cities(r, 3)], 0.5),
    "search_flights+search_flights": ([round_trip], 1),
    "find_hotels+get_weather": ([trip_plan], 1),
    "convert_currency+convert_currency": ([two_conversions], 0.5),
    "find_hotels+search_flights": ([lambda r: parallel(r, ["search_flights", "find_hotels"])], 0.5),
    "convert_currency+get_weather": ([lambda r: parallel(r, ["get_weather", "convert_currency"])], 0.3),
}


def focused(focus: str | None) -> list[str]:
    """The kinds a focus names before "failed" ('book_flight', 'get_weather+get_weather', '(none)')."""
    if not focus:
        return []
    names = re.findall(r"'([^']+)'", focus.split("failed")[0])
    return [n for n in names if n in SHAPES or all(p in ASK for p in n.split("+"))]


SMALL_TALK = [("hi", "Hello! How can I help?"), ("hello there", "Hi! " + DESK), ("what can you do?", DESK),
              ("good morning", "Good morning! What can I do for you?"),
              ("are you a real person?", "I'm the travel desk's assistant. " + DESK)]


def opening(rng) -> list[dict]:
    """A text-only exchange before the request: a greeting, or something no function fits. Cheap in tokens,
    so a conversation reaches four or five user turns and still fits model.max_seq_len."""
    if rng.random() < 0.6:
        text, reply = rng.choice(SMALL_TALK)
    else:
        a, b = two_cities(rng)
        text, reply = rng.choice(NO_FIT).format(c=a, d=b), rng.choice(NO_FIT_REPLIES)
    return [{"role": "user", "content": wrap(rng, text)}, {"role": "assistant", "content": reply}]


def build(rng, kind: str) -> dict:
    if kind in SHAPES:
        ex = rng.choice(SHAPES[kind][0])(rng)
    else:  # parallel calls in a combination no shape above writes
        ex = parallel(rng, kind.split("+"))
    before = [m for _ in range(rng.choices([0, 1, 2], [70, 22, 8])[0]) for m in opening(rng)]
    return {**ex, "messages": before + ex["messages"]}


def generate(n, focus, seed):
    rng = random.Random(seed)
    wanted = focused(focus)
    kinds = sorted(SHAPES)
    weights = [SHAPES[k][1] for k in kinds]
    out = []
    for _ in range(n):
        # mostly the focused kind; a fifth of everything else, so what already works is not forgotten
        kind = rng.choice(wanted) if wanted and rng.random() < 0.8 else rng.choices(kinds, weights)[0]
        out.append(build(rng, kind))
    return out
