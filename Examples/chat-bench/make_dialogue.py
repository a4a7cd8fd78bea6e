#!/usr/bin/env python3
"""Generate a long multi-session dialogue for benchmarking long-context chat memory.

The dialogue plants personal facts early ("By the way, my locker code at the
office is 4127.") and asks about them again 50 or more turns later ("What is
the code for my office locker?"). A chat system with working memory should
answer the late questions ("probes") correctly; one that only sees a short
recent window cannot, because every fact value is drawn at random from a pool
and cannot be guessed.

Design
------
* Facts. There are 26 fact templates (office locker code, sister's name,
  dog's name, home wifi password, car plate, parking spot, dentist
  appointment, favourite tea, work project codename, hotel room, gym locker,
  flight number, allergy, bank branch city, bike lock combination, childhood
  street, mentor, book club book, kitchen paint colour, spare key hiding
  place, childhood nickname, employee number, landlord, board game, cousin's
  wedding venue, daughter's teacher). --facts N uses the first N templates.
  Each template has a value generator (a seeded random draw from a pool or
  random digits), plant sentence variants, question variants, a statement
  used for the scripted acknowledgement and the reference answer, and its
  topic words.
* Filler. Everyday small talk and requests (cooking, travel, weather, books,
  coding, exercise, plans, home) built from about 45 templates with random
  slots. Every filler turn is 25-60 words (user + assistant, counting a
  session greeting). Filler never
  uses a topic word of any fact template (word list checked in code).
* Layout. All plants are in session 1, inside an opening block of
  facts + max(3, ceil(facts / 4)) turns (25 turns by default) mixed with a
  few filler turns. Then filler only, until the later half of the sessions
  (sessions 3-4 of 4), where each fact gets one probe, in shuffled order,
  mixed with filler. Every probe is at least 50 turns after its plant.
  Sessions are consecutive, nearly equal slices of the turns; the first user
  message of each session after the first starts with a greeting such as
  "Good morning, it's a new day."
* Checks (the script exits with an error if one fails): each fact value and
  each accepted answer string occurs (case-insensitive substring) only in
  that fact's own plant and probe turns; fact values are distinct; filler
  contains no topic word; filler turns are 25-60 words; probes are in the
  later sessions and >= 50 turns after their plants.
* Deterministic: the same arguments give byte-identical output.

Output format
-------------
JSON Lines, one object per turn, in conversation order:

  {"session": 1, "turn": 3, "kind": "plant", "user": "...", "assistant": "...",
   "fact": "locker_code"}
  {"session": 1, "turn": 4, "kind": "filler", "user": "...", "assistant": "..."}
  {"session": 3, "turn": 97, "kind": "probe", "user": "...", "assistant": "...",
   "fact": "locker_code", "answers": ["4127"]}

* session: 1-based session number; turn: global 1-based turn number.
* kind: "plant" (states a fact), "filler" (small talk) or "probe" (asks for
  a planted fact).
* user: the user's message. assistant: for plant and filler turns a short
  scripted reply, to be stored as the assistant's answer instead of
  generating one; for probes a reference reply that contains the answer.
* fact: the fact key (plant and probe turns only).
* answers: probe turns only; accepted answer strings. A model reply is
  correct if it contains any of them, compared case-insensitively as
  substrings.

A summary (turns, plants, probes, minimum plant-to-probe distance, words) is
printed to stderr.

Usage:
  python3 Examples/chat-bench/make_dialogue.py [--seed 7] [--facts 20]
      [--filler 110] [--sessions 4] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import math
import random
import re
import string
import sys
from dataclasses import dataclass, field
from typing import Callable

MIN_GAP = 50                 # a probe comes at least this many turns after its plant
FILLER_WORDS = (25, 60)      # words per filler turn, user + assistant together


class GenerationError(Exception):
    """A consistency check failed; the dialogue is not written."""


# ---------------------------------------------------------------------------
# Fact templates
# ---------------------------------------------------------------------------

@dataclass
class FactTemplate:
    key: str
    make: Callable[[random.Random], tuple[str, list[str]]]   # rng -> (value, accepted answers)
    plants: list[str]       # user sentences with {v}
    questions: list[str]    # probe questions
    statement: str          # "your office locker code is {v}" (lower-case start, no full stop)
    topic: list[str]        # words filler must never use


def digits(n: int) -> Callable[[random.Random], tuple[str, list[str]]]:
    def make(rng: random.Random) -> tuple[str, list[str]]:
        v = str(rng.randint(10 ** (n - 1), 10 ** n - 1))
        return v, [v]
    return make


def pick(pool: list) -> Callable[[random.Random], tuple[str, list[str]]]:
    """Pool entries are either a string (value == answer) or (value, [answers])."""
    def make(rng: random.Random) -> tuple[str, list[str]]:
        e = rng.choice(pool)
        if isinstance(e, str):
            return e, [e]
        return e[0], list(e[1])
    return make


def make_car_plate(rng: random.Random) -> tuple[str, list[str]]:
    letters = "BCDFGHJKLMNPRSTVWXZ"           # consonants only: no accidental words
    head = "".join(rng.choice(letters) for _ in range(3))
    num = str(rng.randint(1000, 9999))
    return f"{head} {num}", [f"{head} {num}", f"{head}{num}", f"{head}-{num}"]


def make_parking(rng: random.Random) -> tuple[str, list[str]]:
    level, spot = rng.randint(2, 7), rng.randint(110, 299)
    return f"level {level}, spot {spot}", [
        f"level {level}, spot {spot}", f"level {level} spot {spot}", f"level {level}, space {spot}",
        f"level {level}, bay {spot}", f"spot {spot} on level {level}", f"space {spot} on level {level}",
    ]


def make_dentist(rng: random.Random) -> tuple[str, list[str]]:
    day = rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"])
    h = rng.randint(1, 5)
    m = rng.choice(["05", "10", "15", "20", "25", "35", "40", "45", "50", "55"])
    t, t24 = f"{h}:{m}", f"{h + 12}:{m}"
    return f"{day} at {t} pm", [
        f"{day} at {t}", f"{day}, {t}", f"{day} {t}", f"{t} on {day}", f"{t} pm on {day}",
        f"{t}pm on {day}", f"{day} afternoon at {t}", f"{day} at {t24}", f"{t24} on {day}",
    ]


def make_flight(rng: random.Random) -> tuple[str, list[str]]:
    code = rng.choice(["LH", "KL", "AY", "SK", "TP", "OS", "IB", "EI", "LX", "SN"])
    num = str(rng.randint(1000, 9899))
    return f"{code} {num}", [f"{code} {num}", f"{code}{num}", f"{code}-{num}"]


def make_bike_lock(rng: random.Random) -> tuple[str, list[str]]:
    d = [str(rng.randint(0, 9)) for _ in range(4)]
    if d[0] == "0":
        d[0] = str(rng.randint(1, 9))
    return "-".join(d), ["-".join(d), "".join(d), " ".join(d), ", ".join(d)]


def make_street(rng: random.Random) -> tuple[str, list[str]]:
    name = rng.choice(["Larkspur", "Wexford", "Pendle", "Marlowe", "Cresswell", "Ashgrove", "Fennimore",
                       "Thistlewood", "Brackenbury", "Ollerton", "Quillan", "Heathcote", "Ravensworth"])
    suffix = rng.choice(["Lane", "Road", "Avenue", "Close", "Crescent", "Terrace"])
    return f"{name} {suffix}", [name]


def make_person(firsts: list[str], lasts: list[str]) -> Callable[[random.Random], tuple[str, list[str]]]:
    def make(rng: random.Random) -> tuple[str, list[str]]:
        first, last = rng.choice(firsts), rng.choice(lasts)
        return f"{first} {last}", [last, first]
    return make


def make_titled(titles: list[str], lasts: list[str]) -> Callable[[random.Random], tuple[str, list[str]]]:
    def make(rng: random.Random) -> tuple[str, list[str]]:
        last = rng.choice(lasts)
        return f"{rng.choice(titles)} {last}", [last]
    return make


FACTS: list[FactTemplate] = [
    FactTemplate(
        "locker_code", digits(4),
        ["By the way, my locker code at the office is {v}.",
         "Oh, before I forget: the code for my office locker is {v}."],
        ["What is the code for my office locker?", "Do you remember my office locker code?"],
        "your office locker code is {v}", ["locker"]),
    FactTemplate(
        "sister_name",
        pick(["Ingrid", "Saoirse", "Marisol", "Thandiwe", "Oksana", "Leocadia", "Wilhelmina", "Yevgenia",
              "Ottilie", "Rosalind", "Henrietta", "Philippa", "Tamsin", "Ludmila", "Clementine", "Anneliese"]),
        ["My sister's name is {v}, and she's coming to visit next month.",
         "I'm meeting my sister {v} for lunch this weekend."],
        ["What's my sister's name?", "Can you remind me what my sister is called?"],
        "your sister's name is {v}", ["sister", "sibling"]),
    FactTemplate(
        "dog_name",
        pick(["Biscuit", "Pretzel", "Nacho", "Waffles", "Gizmo", "Moose", "Pickles", "Rufus", "Tofu", "Chorizo",
              "Bramble", "Noodle", "Dumpling", "Crumpet", "Ziggy", "Barnaby"]),
        ["Our dog is called {v} and he's a bit of a menace.",
         "We just adopted a rescue dog and named him {v}."],
        ["What is my dog's name?", "What did I say my dog is called?"],
        "your dog is called {v}", ["dog", "puppy"]),
    FactTemplate(
        "wifi_password",
        pick(["periwinkle", "marzipan", "kaleidoscope", "zeppelin", "pumpernickel", "gramophone", "hullabaloo",
              "tambourine", "flamingo", "cardamom", "snapdragon", "whirligig", "porcupine", "butterscotch"]),
        ["The wifi password at home is {v}, all lowercase.",
         "For the record, our home wifi password is just the word {v}."],
        ["What's the wifi password at my place?", "What is my home wifi password?"],
        "your home wifi password is {v}", ["wifi", "wi-fi", "password"]),
    FactTemplate(
        "car_plate", make_car_plate,
        ["My car's license plate is {v}.",
         "I registered the new car today, and the plate reads {v}."],
        ["What is my car's license plate number?", "What does my car's number plate say?"],
        "your car's license plate is {v}", ["car", "plate", "license", "licence", "registration"]),
    FactTemplate(
        "parking_spot", make_parking,
        ["My assigned parking place in the office garage is {v}.",
         "I always park in the same place in the garage: {v}."],
        ["Where is my parking spot in the garage?", "Which level and spot do I park in?"],
        "your parking spot is {v}", ["parking", "garage"]),
    FactTemplate(
        "dentist_appointment", make_dentist,
        ["My dentist appointment is on {v}.",
         "The dentist moved my check-up to {v}."],
        ["When is my dentist appointment?", "What day and time is my dentist appointment?"],
        "your dentist appointment is on {v}", ["dentist", "appointment", "check-up"]),
    FactTemplate(
        "favourite_tea",
        pick(["genmaicha", ("lapsang souchong", ["lapsang"]), "hojicha", "rooibos", "kukicha", "gyokuro",
              "keemun", ("white peony", ["white peony"]), "tulsi", "pu-erh", "sencha", "darjeeling"]),
        ["My favourite tea is {v}; I drink it every afternoon.",
         "If you ever suggest a tea for me, I love {v}."],
        ["What is my favourite tea?", "Which tea do I like best?"],
        "your favourite tea is {v}", ["tea"]),
    FactTemplate(
        "project_codename",
        pick(["Bluefin", "Kestrel", "Quillback", "Tamarack", "Obsidian", "Nightjar", "Sandpiper", "Halcyon",
              "Ironwood", "Lodestar", "Marlin", "Zephyr", "Cobalt", "Wolverine", "Pegasus", "Firethorn"]),
        ["At work our new project has the codename {v}.",
         "The codename for the project I'm leading is {v}."],
        ["What's the codename of my project at work?", "What is my work project's codename?"],
        "your project's codename is {v}", ["codename", "project"]),
    FactTemplate(
        "hotel_room", digits(3),
        ["For the conference trip I'm staying in room {v} at the hotel.",
         "The hotel just confirmed I'll be in room {v}."],
        ["What's my hotel room number for the trip?", "Which hotel room am I in?"],
        "your hotel room is number {v}", ["hotel"]),
    FactTemplate(
        "gym_locker", digits(3),
        ["At the gym I always use locker number {v}.",
         "My usual gym locker is number {v}."],
        ["What's my locker number at the gym?", "Which locker do I use at the gym?"],
        "your gym locker is number {v}", ["gym", "locker"]),
    FactTemplate(
        "flight_number", make_flight,
        ["My flight next week is {v}, leaving early in the morning.",
         "I booked the flight for next week: it's {v}."],
        ["What is my flight number?", "Which flight am I on next week?"],
        "your flight number is {v}", ["flight", "airline", "plane"]),
    FactTemplate(
        "allergy",
        pick([("cashews", ["cashew"]), "sesame", ("kiwi fruit", ["kiwi"]), "penicillin", "buckwheat",
              "mustard", "celery", "lupin", "shellfish", "latex", ("pine nuts", ["pine nut"]), ("mangoes", ["mango"])]),
        ["I should mention that I'm allergic to {v}.",
         "Heads up: I have an allergy to {v}."],
        ["What am I allergic to?", "What allergy did I tell you about?"],
        "you're allergic to {v}", ["allergy", "allergic"]),
    FactTemplate(
        "bank_branch",
        pick(["Tampere", "Aarhus", "Ljubljana", "Valletta", "Trondheim", "Bilbao", "Graz", "Utrecht", "Leipzig",
              "Galway", "Lausanne", "Bergen", "Tartu", "Brno", "Ghent", "Salzburg"]),
        ["My bank branch is the one in {v}.",
         "I opened my account at the bank branch in {v}."],
        ["In which city is my bank branch?", "Where is my bank branch located?"],
        "your bank branch is in {v}", ["bank", "branch"]),
    FactTemplate(
        "bike_lock", make_bike_lock,
        ["The combination for my bike lock is {v}.",
         "I changed my bike lock combination to {v}."],
        ["What's my bike lock combination?", "What is the combination for my bike lock?"],
        "your bike lock combination is {v}", ["bike", "bicycle", "lock", "combination"]),
    FactTemplate(
        "childhood_street", make_street,
        ["I grew up on {v}, in a little yellow house.",
         "The street I grew up on was called {v}."],
        ["What was the name of the street I grew up on?", "Which street did I grow up on?"],
        "you grew up on {v}", ["street", "grew", "childhood"]),
    FactTemplate(
        "mentor_name",
        make_person(["Agnes", "Beatriz", "Cordelia", "Dagny", "Esperanza", "Fenella", "Gudrun", "Hortense"],
                    ["Lindqvist", "Okonkwo", "Halvorsen", "Vasquez-Ruiz", "Abernathy", "Szymanski", "Ferreira",
                     "Castellano", "Brightwater", "Mbeki"]),
        ["My mentor at my first job was {v}, and I still call her for advice.",
         "I had coffee with my old mentor, {v}, yesterday."],
        ["Who was my mentor at my first job?", "What's my mentor's name?"],
        "your mentor is {v}", ["mentor"]),
    FactTemplate(
        "book_club_book",
        pick(["Piranesi", "Middlemarch", ("The Overstory", ["Overstory"]), "Gilead", "Kindred", "Pachinko",
              "Circe", ("The Remains of the Day", ["Remains of the Day"]),
              ("A Gentleman in Moscow", ["Gentleman in Moscow"]), "Station Eleven",
              ("The Name of the Rose", ["Name of the Rose"]), "Never Let Me Go", "Cloud Atlas", "Lonesome Dove"]),
        ["My book club is reading {v} this month.",
         "This month's pick for my book club is {v}."],
        ["Which book is my book club reading?", "What's the current book for my book club?"],
        "your book club is reading {v}", ["club"]),
    FactTemplate(
        "kitchen_paint",
        pick(["Hague Blue", "Sulking Room Pink", "Breakfast Room Green", "Setting Plaster", "India Yellow",
              "Studio Green", "Calamine", "Card Room Green", "Stiffkey Blue", "Arsenic", "Dead Salmon",
              "Mizzle", "Vert de Terre", "Charlotte's Locks"]),
        ["We're repainting the kitchen in a colour called {v}.",
         "I finally chose the paint for the kitchen: a shade called {v}."],
        ["What paint colour did I choose for the kitchen?", "Which colour are we painting the kitchen?"],
        "the kitchen paint colour is {v}", ["paint", "kitchen", "colour", "color"]),
    FactTemplate(
        "spare_key",
        pick([("inside the fake rock by the garden tap", ["fake rock"]),
              ("under the third flowerpot on the porch", ["flowerpot"]),
              ("taped under the mailbox", ["mailbox"]),
              ("in the birdhouse next to the shed", ["birdhouse"]),
              ("inside the garden gnome by the gate", ["gnome"]),
              ("on top of the porch light", ["porch light"]),
              ("in the old watering can behind the shed", ["watering can"]),
              ("under the loose brick by the back step", ["loose brick"]),
              ("in the hollow fence post by the bins", ["fence post"])]),
        ["We keep the spare key {v}.",
         "If I ever get locked out, the spare key is {v}."],
        ["Where do we hide the spare key?", "Where is the spare house key kept?"],
        "the spare key is {v}", ["key", "spare", "hide", "hidden"]),
    FactTemplate(
        "childhood_nickname",
        pick(["Sprout", "Scooter", "Bumble", "Tadpole", "Sparky", "Button", "Munchkin", "Jellybean", "Gopher",
              "Pogo", "Toaster", "Squeak"]),
        ["When I was a kid everyone called me {v}.",
         "My childhood nickname was {v}, don't laugh."],
        ["What was my childhood nickname?", "What did people call me when I was a kid?"],
        "your childhood nickname was {v}", ["nickname", "childhood"]),
    FactTemplate(
        "employee_id", digits(5),
        ["My employee number is {v}; I always have to type it in.",
         "For the HR forms, my employee ID is {v}."],
        ["What's my employee number?", "What is my employee ID?"],
        "your employee number is {v}", ["employee"]),
    FactTemplate(
        "landlord_name",
        make_titled(["Mr.", "Mrs."], ["Papadakis", "Threlfall", "Oyelaran", "Kowalczyk", "Van der Berg",
                                       "Achterberg", "Delacroix", "Quigley", "Marchetti", "Fairbrother"]),
        ["Our landlord is {v}, who is pretty relaxed about most things.",
         "I have to email my landlord, {v}, about the heating."],
        ["What's my landlord's name?", "Who is my landlord?"],
        "your landlord is {v}", ["landlord", "rent"]),
    FactTemplate(
        "board_game",
        pick(["Agricola", "Carcassonne", "Wingspan", "Azul", "Cascadia", "Splendor", "Everdell", "Dominion",
              "Patchwork", ("Brass: Birmingham", ["Brass"]), "Terraforming Mars", "Takenoko"]),
        ["Our family's favourite board game is {v}.",
         "We play {v} every Friday; it's our favourite board game."],
        ["What's my family's favourite board game?", "Which board game do we like best?"],
        "your family's favourite board game is {v}", ["board"]),
    FactTemplate(
        "wedding_venue",
        pick([(f"{n} {k}", [n]) for n, k in [("Ashcombe", "Manor"), ("Larkhill", "Barn"), ("Fenwick", "Hall"),
                                             ("Oakridge", "Priory"), ("Wrenfield", "House"), ("Hollowmere", "Farm"),
                                             ("Stanbrook", "Abbey"), ("Kettleby", "Mill"), ("Pennington", "Court")]]),
        ["My cousin's wedding is at {v} in June.",
         "The venue for my cousin's wedding is {v}."],
        ["Where is my cousin's wedding being held?", "What's the venue for my cousin's wedding?"],
        "your cousin's wedding is at {v}", ["wedding", "cousin", "venue"]),
    FactTemplate(
        "teacher_name",
        make_titled(["Ms.", "Mr."], ["Okafor", "Gallagher", "Nakashima", "Villanueva", "Brannigan", "Rasmussen",
                                     "Abernethy", "Kaczmarek", "Fitzwilliam", "Oduya"]),
        ["My daughter's teacher this year is {v}.",
         "I have a meeting with my daughter's teacher, {v}, next week."],
        ["What's the name of my daughter's teacher?", "Who is my daughter's teacher this year?"],
        "your daughter's teacher is {v}", ["teacher", "daughter"]),
]

PLANT_TAILS = ["", "", " Just so you know.", " Can you remember that for me?", " Please keep that in mind.",
               " Might come up later."]
PLANT_ACKS = ["Got it, {st}. I'll keep that in mind.", "Noted: {st}.", "Thanks for telling me. I've noted that {st}.",
              "Okay, I'll remember that {st}.", "Understood, {st}. I'll remember it."]
PROBE_LEADS = ["", "", "Quick one: ", "Sorry, I've forgotten: ", "Remind me, ", "Out of curiosity, "]
PROBE_REFS = ["{St}.", "You mentioned that {st}.", "From what you told me earlier, {st}."]
GREETINGS = ["Good morning, it's a new day.", "Hi again, it's a new day.", "Good evening, I'm back after a few days.",
             "Hello again, new day here.", "Morning! It's a new day.", "Hi, I'm back, it's a new week."]

# ---------------------------------------------------------------------------
# Filler templates: (user, assistant). {slot} or {slot[i]} for tuple slots; one
# value per slot per turn, shared between the user and the assistant text.
# ---------------------------------------------------------------------------

SLOTS: dict[str, list] = {
    "veg": ["courgettes", "chickpeas", "spinach", "sweet potatoes", "mushrooms", "cauliflower", "leeks",
            "aubergine", "broccoli", "red peppers", "butternut squash", "green beans"],
    "grain": ["rice", "couscous", "quinoa", "pasta", "barley", "bulgur", "farro"],
    "mins": ["20", "25", "30", "35", "40"],
    "spice": ["smoked paprika", "cumin", "za'atar", "chilli flakes", "garam masala", "fennel seeds"],
    "n_eggs": ["two", "three", "four", "six"],
    "diet": ["vegetarian", "vegan", "high-protein", "cheap", "filling", "dairy-free"],
    "flour": ["strong white flour", "wholemeal flour", "spelt flour", "rye flour", "a mix of white and rye"],
    "hours": ["two", "three", "four"],
    "swap": [("buttermilk", "pancake batter", "milk with a spoon of lemon juice"),
             ("sour cream", "dip", "plain yogurt"), ("fresh basil", "tomato sauce", "a pinch of dried oregano"),
             ("eggs", "muffin batter", "a ground flaxseed and water mix"),
             ("white wine", "risotto", "stock with a splash of vinegar"),
             ("double cream", "soup", "blended cashews and water"),
             ("brown sugar", "cookie dough", "white sugar with a little honey")],
    "city": ["Lisbon", "Kyoto", "Edinburgh", "Vancouver", "Seville", "Krakow", "Montreal", "Copenhagen",
             "Naples", "Hanoi", "Porto", "Vienna", "Istanbul", "Marrakesh"],
    "month": ["April", "May", "September", "October", "March", "November"],
    "days": ["three", "four", "five", "six"],
    "hills": ["the Lake District", "the Dolomites", "the Scottish Highlands", "the Pyrenees", "the Tatras",
              "the Black Forest"],
    "weather": [("rainy", "drizzly"), ("grey and windy", "windy"), ("foggy", "damp"), ("freezing", "cold"),
                ("stormy", "wild")],
    "daypart": ["evening", "afternoon", "morning", "Sunday"],
    "temp": [("minus five", "a hat, gloves and a thin base layer"), ("thirty-two", "light clothes, sunscreen and water"),
             ("two", "gloves and a warm top"), ("twenty-nine", "a cap, sunscreen and extra water")],
    "book": [("Dune", "science fiction"), ("Jane Eyre", "gothic"), ("Frankenstein", "gothic horror"),
             ("The Hobbit", "fantasy"), ("Moby-Dick", "sea adventure"), ("Beloved", "literary fiction"),
             ("The Martian", "science fiction"), ("Persuasion", "romance"), ("Brave New World", "dystopian"),
             ("The Road", "post-apocalyptic")],
    "fmt": [("an audiobook", "An audiobook"), ("an e-book", "An e-book")],
    "n_books": ["thirty", "forty", "fifty", "twenty"],
    "lang": ["Python", "JavaScript", "Rust", "Go", "Swift", "Kotlin", "TypeScript"],
    "n_people": ["two", "three", "four", "five"],
    "mins_short": ["two", "three", "five"],
    "mins_word": ["fifteen", "twenty", "twenty-five", "thirty"],
    "body": ["shoulders", "hips", "wrists", "upper back muscles", "hamstrings"],
    "exercise": ["swim", "do yoga", "go running", "lift weights", "go for a long walk", "stretch"],
    "steps": ["eight thousand", "ten thousand", "twelve thousand"],
    "friend": ["Priya", "Tom", "Lena", "Marco", "Aisha", "Jonas", "Chloe", "Ravi", "Noor", "Felix"],
    "age": ["thirty", "forty", "thirty-five", "fifty", "twenty-five"],
    "free_day": ["Saturday", "Sunday", "Friday afternoon", "long weekend"],
    "n_guests": ["six", "eight", "ten", "five"],
    "language": ["Spanish", "Italian", "Japanese", "Portuguese", "Dutch", "Korean", "Greek"],
    "chore": ["sorting my email", "cleaning the bathroom", "doing my taxes", "clearing out the wardrobe",
              "ironing", "defrosting the freezer"],
    "flat": ["fairly dark", "north-facing", "small", "chilly"],
    "crop": ["tomatoes", "chilli plants", "courgette plants", "strawberry plants"],
    "subject": ["history", "astronomy", "economics", "architecture", "music theory", "psychology"],
    "photo": ["food", "sunsets", "my friends", "old buildings", "the sea", "flowers"],
    "tracking": ["in a spreadsheet", "with an app", "in a notebook"],
    "film": ["comedy", "heist", "animated", "science fiction", "feel-good"],
    "brewer": ["French press", "moka pot", "pour-over cone", "drip machine", "stovetop espresso maker"],
    "fruit": ["strawberries", "raspberries", "peaches", "blueberries", "cherries", "plums"],
    "day_type": ["long", "rainy", "quiet", "busy"],
    "sleep": ["five", "six", "five and a half", "six and a half"],
    "opener": ["", "", "", "Good question. ", "Sure. ", "Happy to help. ", "Of course. "],
    "herb": ["basil", "mint", "parsley", "coriander", "rosemary", "thyme"],
    "instrument": ["guitar", "piano", "ukulele", "violin", "drums"],
    "cuisine": ["Thai", "Mexican", "Lebanese", "Georgian", "Korean", "Sicilian"],
    "movie_len": ["two", "two and a half", "three"],
    "hobby": ["knitting", "sketching", "pottery", "birdwatching", "chess", "baking"],
    "data": ["a CSV file", "a JSON file", "a log file", "a large text file"],
}

FILLER: list[tuple[str, str]] = [
    # cooking
    ("I have some {veg} and {grain} left over. What could I make for dinner tonight in under {mins} minutes?",
     "{opener}Roast the {veg} with olive oil and {spice}, cook the {grain} while they are in the oven, then toss "
     "everything together with lemon juice. That makes a simple bowl in about {mins} minutes."),
    ("I'm making {n_eggs} eggs for breakfast. How long should I boil them if I want the yolks jammy rather than runny?",
     "{opener}Lower them gently into boiling water and cook for about six and a half minutes, then move them straight "
     "into cold water. Peel them once they are cool enough to handle."),
    ("Can you suggest a {diet} lunch I could pack for work that keeps well until midday?",
     "{opener}A grain salad works well: {grain} with {veg}, herbs and a sharp dressing kept in a separate jar. It holds "
     "up for hours and tastes better once the flavours settle."),
    ("My bread keeps coming out dense. I'm using {flour} and letting it rise for about {hours} hours.",
     "{opener}Dense loaves usually mean the dough was under-proofed or too dry. Try a slightly wetter dough and a "
     "warmer place for rising, and wait until it has nearly doubled rather than following the clock."),
    ("What is a good substitute for {swap[0]} in {swap[1]}? I ran out this morning.",
     "{opener}You can usually use {swap[2]} instead, in roughly the same amount. The texture changes a little, so "
     "taste as you go and adjust the seasoning at the end."),
    ("What's an easy dessert I can make with {fruit} that doesn't need an oven?",
     "{opener}Make a quick fool: whip cream with a little sugar, fold in the {fruit} and a spoon of yogurt, then chill "
     "it for half an hour. Crushed biscuits on top add a nice crunch."),
    ("How do I make my morning coffee taste less bitter? I use a {brewer}.",
     "{opener}Try a slightly coarser grind, water just off the boil rather than boiling, and a shorter brew time. "
     "Fresh beans kept in an airtight container also make a big difference."),
    ("I want to cook something {cuisine} this weekend but I've never tried. Where should I start?",
     "{opener}Start with one well-known home-style dish rather than a restaurant showpiece, and buy the two or three "
     "essentials it needs. Follow one trusted recipe closely the first time, then adjust to taste."),
    ("My {herb} on the windowsill keeps wilting. What am I doing wrong?",
     "{opener}Most windowsill herbs struggle with too little light or soggy soil. Water only when the top of the soil "
     "is dry, turn the pot every few days, and pinch off the tips so it grows bushier."),
    # travel
    ("I'm thinking about a {days}-day trip to {city} in {month}. Is that a good time to go?",
     "{opener}{month} is usually a pleasant time to visit {city}, with fewer crowds than in peak season. Pack layers, "
     "book the first night in advance, and leave one day unplanned for wandering."),
    ("What should I pack for a long weekend of hiking in {hills}?",
     "{opener}Bring sturdy boots, a waterproof jacket, a warm mid layer, a water bottle, snacks, a small first-aid kit "
     "and a paper map. Check the forecast the night before and start early."),
    ("Do you have tips for sleeping on a long overnight train to {city}?",
     "{opener}Bring earplugs, an eye mask and a light scarf you can use as a pillow. Keep water and a snack within "
     "reach, and try to stick to your usual bedtime so your body settles."),
    ("I'm going to {city} for {days} days. What's one thing most visitors miss?",
     "{opener}Many visitors stay in the centre, but neighbourhood markets and small museums further out are often the "
     "highlights. Ask a local café owner for their favourite walk; it rarely disappoints."),
    ("I'm visiting {city} for a weekend. Which local dish should I definitely try?",
     "{opener}Ask for the dish locals eat on a weekday rather than the one on every tourist menu. Small family-run "
     "places near the market usually do it best, and their lunch menus are often great value."),
    ("How early should I get to the station for an international train to {city}?",
     "{opener}For most international trains, thirty to forty-five minutes is plenty, a bit more if there are "
     "passport checks. Download your ticket in advance in case the signal is weak."),
    # weather
    ("It has been {weather[0]} here all week and I'm getting restless. Any ideas for a cosy {daypart} at home?",
     "{opener}Cook something slow like a stew, put on an album you haven't heard in years, or start a jigsaw "
     "puzzle. A short walk, even in {weather[1]} weather, also helps reset your mood."),
    ("The forecast says it'll be {temp[0]} degrees tomorrow. Should I still go for my morning run?",
     "{opener}Yes, just dress for it with {temp[1]}, start slower than usual and keep the route short. If it feels "
     "unsafe or too hot, do an indoor workout instead."),
    ("Why does it always seem to rain on weekends here? It was {weather[0]} again last Saturday.",
     "{opener}It is mostly a memory effect: rainy weekends stand out because they spoil plans, while rainy weekdays go "
     "unnoticed. Over a whole year, weekend and weekday rainfall are usually almost the same."),
    ("What's the best way to dry laundry indoors when it's {weather[0]} outside?",
     "{opener}Spread the clothes out with space between them, put the rack near a slightly open window or a "
     "dehumidifier, and turn thicker items halfway through. Spinning them twice in the machine helps too."),
    # books
    ("I just finished {book[0]} and loved it. Can you recommend something similar?",
     "{opener}If you enjoyed {book[0]}, look for another {book[1]} novel with a strong sense of place. A local "
     "bookshop's staff picks shelf is a great place to start, and librarians love this question too."),
    ("How do I get back into reading? I used to read {n_books} books a year, but now I mostly scroll on my phone.",
     "{opener}Start with short books or essays, keep one on your bedside table, and read ten pages before you allow "
     "yourself the phone. Small, regular sessions rebuild the habit faster than big goals."),
    ("Is it worth getting {book[0]} as {fmt[0]}, or is the paper version better?",
     "{opener}{fmt[1]} is great for commutes and chores, while paper makes it easier to flip back and linger over "
     "passages. For a dense book, many people like to combine both."),
    ("Should I finish a book I'm not enjoying, like {book[0]}, or is it fine to give up halfway?",
     "{opener}It is completely fine to stop. Life is short and there are more good books than anyone can read. Some "
     "people use a fifty-page rule: if it hasn't grabbed you by then, move on."),
    # coding
    ("In {lang}, what's a clean way to remove duplicates from a list while keeping the original order?",
     "{opener}Walk through the list once, keep a set of items you've already seen, and append each item only the "
     "first time it appears. That preserves the order and runs in linear time."),
    ("My {lang} program is getting slow when it processes {data}. Where should I start looking?",
     "{opener}Profile before changing anything, so you know where the time goes. Common culprits are reading "
     "everything into memory at once, repeated string concatenation, and searching lists where a set would be faster."),
    ("I'm learning {lang}. What's the difference between a process and a thread, in simple terms?",
     "{opener}A process has its own memory, while the threads inside one process share memory. Threads are cheaper to "
     "start and can communicate easily, but sharing memory means you must avoid race conditions."),
    ("How should I name variables in {lang} so my code is easier to read later?",
     "{opener}Use names that describe meaning rather than type, like totalPrice instead of tp, and keep them "
     "consistent. Short names are fine for tiny loops, but anything that lives longer deserves a clear name."),
    ("I keep getting merge conflicts when working with {n_people} other people on the same repository. Any advice?",
     "{opener}Pull often, keep changes small and focused, and agree on a formatter so whitespace edits don't collide. "
     "When conflicts do happen, resolve them right away while the context is fresh."),
    ("Should I write tests before or after the code for a small {lang} script that reads {data}?",
     "{opener}For a small script, writing a few tests right after the core logic works well. Focus on the tricky "
     "parts, such as parsing and edge cases, rather than aiming for full coverage."),
    ("In {lang}, what's a simple regular expression to check that a string has only letters and digits?",
     "{opener}Something like ^[A-Za-z0-9]+$ works in most engines: it anchors both ends and allows one or more "
     "letters or digits. Replace the plus with a range such as {{3,20}} to limit the length."),
    ("What's the best way to read {data} line by line in {lang} without running out of memory?",
     "{opener}Open it as a stream and process one line at a time instead of loading the whole thing. Most standard "
     "libraries have a buffered reader for exactly this, and it keeps memory use flat."),
    # exercise
    ("I want to start running, but I get out of breath after {mins_short} minutes. How should I build up?",
     "{opener}Alternate running and walking, for example one minute of each, and slowly stretch the running part "
     "over a few weeks. Keep to a pace where you could still hold a conversation."),
    ("Can you suggest a {mins_word}-minute workout I can do at home with no equipment?",
     "{opener}Try rounds of squats, push-ups, lunges, a plank and jumping jacks, forty seconds each with twenty "
     "seconds of rest. Finish with a few minutes of stretching for your hips and shoulders."),
    ("My {body} feel stiff after sitting at my desk all day. Any quick stretches?",
     "{opener}Every hour, stand up and roll your shoulders, open your chest against a doorway, and try a slow forward "
     "fold. Even two minutes of movement makes a noticeable difference by the evening."),
    ("Is it better to {exercise} in the morning or in the evening?",
     "{opener}The best time is the one you can stick to. Mornings suit people who like a routine before the day gets "
     "busy, while evenings often feel easier because your body is already warmed up."),
    ("I'm trying to walk {steps} steps a day. How can I fit that in with an office job?",
     "{opener}Take calls on foot, get off the bus a stop early, and add a short walk after lunch. Splitting it into "
     "three or four chunks makes the total feel much less daunting."),
    # plans and everyday life
    ("My friend {friend} turns {age} next week. Any gift ideas that aren't just another candle?",
     "{opener}Consider an experience, like a cooking class or concert tickets, or something tied to a hobby {friend} "
     "already loves. A handwritten note about a shared memory makes almost any gift personal."),
    ("I have a free {free_day} coming up. What's a relaxing way to spend it?",
     "{opener}Pick one small pleasure and one small task, like a long breakfast and clearing your inbox. Leaving the "
     "rest unplanned keeps the day restful instead of turning it into another to-do list."),
    ("How do I plan a simple dinner for {n_guests} people without stressing out?",
     "{opener}Choose one main dish you've made before that can be prepared ahead, and keep dessert shop-bought. Set "
     "the table early and ask a guest to handle drinks so you can enjoy the evening."),
    ("I want to learn {language} before a trip next year. How much should I practise each day?",
     "{opener}Fifteen to twenty minutes every day beats a long session once a week. Mix an app for vocabulary with "
     "podcasts for listening, and speak out loud, even if it feels awkward at first."),
    ("I keep putting off {chore}. Any tricks to just get it done?",
     "{opener}Set a timer for ten minutes and allow yourself to stop when it rings; starting is usually the hardest "
     "part. Pairing the task with a podcast or music also makes it feel lighter."),
    ("What are some easy houseplants for a {flat} flat?",
     "{opener}Snake plants, pothos and ZZ plants tolerate low light and irregular watering. If you have one bright "
     "windowsill, a spider plant or a small pot of herbs is a cheerful addition."),
    ("The {crop} on my balcony have yellow leaves at the bottom. Should I be worried?",
     "{opener}Yellowing lower leaves are common and often just old growth, but they can also mean uneven watering or "
     "too little nitrogen. Water deeply and regularly, remove the affected leaves, and feed every two weeks."),
    ("Can you recommend a kind of podcast for learning about {subject} on my commute?",
     "{opener}Look for narrative series that tell one story over several episodes; they are easy to follow while "
     "moving. Interview shows with experts work well too, and you can speed them up slightly."),
    ("I want to take better photos of {photo} with my phone. What should I focus on?",
     "{opener}Use soft light from the side, tap to focus and lower the exposure slightly, and move closer rather than "
     "zooming. Wipe the lens first; it sounds obvious, but it fixes many blurry shots."),
    ("What's a good way to track my monthly spending {tracking} without it taking forever?",
     "{opener}Group expenses into five or six broad categories, update them once a week instead of daily, and review "
     "the totals at the end of the month. Simple and regular beats detailed and abandoned."),
    ("I'm hosting a film night. Can you suggest how to pick a {film} film that most people would enjoy?",
     "{opener}Pick something well reviewed and under {movie_len} hours, and check what your guests have already seen. "
     "Keep a backup ready in case the first choice turns out to be a repeat."),
    ("Any advice for staying focused when working from home on {day_type} days?",
     "{opener}Keep a fixed start time, get dressed as if you were going out, and work in blocks of forty-five minutes "
     "with short breaks. Closing the laptop at a set time keeps the evening yours."),
    ("How many hours of sleep do adults really need? I've been getting about {sleep} hours lately.",
     "{opener}Most adults do best with seven to nine hours, though it varies. If you wake up tired or rely on caffeine, "
     "try moving your bedtime earlier by fifteen minutes at a time."),
    ("I'd like to learn the {instrument} as an adult beginner. Is it too late to start?",
     "{opener}Not at all. Adults often progress quickly because they practise with purpose. Aim for short daily "
     "sessions, learn a few songs you love early on, and consider a handful of lessons to avoid bad habits."),
    ("I want a new hobby that gets me off screens in the evening. Would {hobby} be a good choice?",
     "{opener}{hobby_cap} could be a lovely fit: it is absorbing, easy to start cheaply, and you can see your progress. "
     "Try it for a month before buying anything expensive."),
]

FIELD_RE = re.compile(r"^([A-Za-z_]+)")


def template_slots(*texts: str) -> set[str]:
    names = set()
    for text in texts:
        for _, field_name, _, _ in string.Formatter().parse(text):
            if field_name:
                names.add(FIELD_RE.match(field_name).group(1))
    return names


def words(text: str) -> int:
    return len(text.split())


def fill(rng: random.Random, user_t: str, asst_t: str) -> tuple[str, str]:
    values = {}
    for name in sorted(template_slots(user_t, asst_t)):
        if name == "hobby_cap":
            continue
        values[name] = rng.choice(SLOTS[name])
    if "hobby" in values:
        values["hobby_cap"] = values["hobby"][0].upper() + values["hobby"][1:]
    return user_t.format(**values), asst_t.format(**values)


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------

def banned_words() -> list[str]:
    """Topic words of every fact template (not only the selected ones)."""
    return sorted({w.lower() for t in FACTS for w in t.topic})


def banned_hits(text: str, banned: list[str]) -> list[str]:
    low = text.lower()
    return [w for w in banned if re.search(r"(?<![a-z])" + re.escape(w) + r"(?:s|es)?(?![a-z])", low)]


def make_filler(rng: random.Random, n: int) -> list[tuple[str, str]]:
    banned = banned_words()
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    order: list[int] = []
    while len(out) < n:
        if not order:
            order = list(range(len(FILLER)))
            rng.shuffle(order)
        idx = order.pop()
        for _ in range(50):
            u, a = fill(rng, *FILLER[idx])
            if u not in seen:
                break
        else:
            continue  # this template has no unused slot combination left; take the next one
        n_words = words(u) + words(a)
        if not FILLER_WORDS[0] <= n_words <= FILLER_WORDS[1]:
            raise GenerationError(f"filler template {idx} gives {n_words} words: {u!r} / {a!r}")
        hits = banned_hits(u + " " + a, banned)
        if hits:
            raise GenerationError(f"filler template {idx} uses fact topic words {hits}: {u!r} / {a!r}")
        seen.add(u)
        out.append((u, a))
    return out


@dataclass
class Fact:
    key: str
    value: str
    answers: list[str]
    plant_user: str
    plant_assistant: str
    probe_user: str
    probe_assistant: str
    texts: list[str] = field(default_factory=list)


def cap(s: str) -> str:
    return s[0].upper() + s[1:]


def render_fact(rng: random.Random, t: FactTemplate) -> Fact:
    value, answers = t.make(rng)
    st = t.statement.format(v=value)
    plant_user = rng.choice(t.plants).format(v=value) + rng.choice(PLANT_TAILS)
    plant_assistant = rng.choice(PLANT_ACKS).format(st=st)
    lead = rng.choice(PROBE_LEADS)
    q = rng.choice(t.questions)
    probe_user = lead + (q[0].lower() + q[1:] if lead else q)
    probe_assistant = rng.choice(PROBE_REFS).format(st=st, St=cap(st))
    f = Fact(t.key, value, answers, plant_user, plant_assistant, probe_user, probe_assistant)
    f.texts = [plant_user.lower(), plant_assistant.lower(), probe_user.lower(), probe_assistant.lower()]
    return f


def make_facts(rng: random.Random, n: int, other_text: str) -> list[Fact]:
    """Draw fact values so that no value or answer occurs outside its own fact's turns."""
    accepted: list[Fact] = []
    values_seen: set[str] = set()
    for t in FACTS[:n]:
        for _ in range(1000):
            f = render_fact(rng, t)
            needles = [a.lower() for a in f.answers] + [f.value.lower()]
            if f.value.lower() in values_seen:
                continue
            if any(x in other_text for x in needles):
                continue
            if any(x in txt for x in needles for g in accepted for txt in g.texts):
                continue
            if any(a.lower() in txt for g in accepted for a in g.answers + [g.value] for txt in f.texts):
                continue
            if not any(a.lower() in f.texts[0] for a in f.answers):
                raise GenerationError(f"{t.key}: no answer string occurs in the plant {f.plant_user!r}")
            if not any(a.lower() in f.texts[3] for a in f.answers):
                raise GenerationError(f"{t.key}: no answer string occurs in the reference {f.probe_assistant!r}")
            break
        else:
            raise GenerationError(f"could not draw a non-colliding value for fact {t.key}")
        values_seen.add(f.value.lower())
        accepted.append(f)
    return accepted


def session_lengths(total: int, sessions: int) -> list[int]:
    base, extra = divmod(total, sessions)
    return [base + (1 if i < extra else 0) for i in range(sessions)]


def generate(seed: int, n_facts: int, n_filler: int, n_sessions: int) -> tuple[list[dict], dict]:
    if not 1 <= n_facts <= len(FACTS):
        raise GenerationError(f"--facts must be between 1 and {len(FACTS)}")
    if n_sessions < 2:
        raise GenerationError("--sessions must be at least 2 (probes go in the later sessions)")
    if n_filler < 0:
        raise GenerationError("--filler must not be negative")

    total = 2 * n_facts + n_filler
    lengths = session_lengths(total, n_sessions)
    starts = [sum(lengths[:i]) for i in range(n_sessions)]            # 0-based index of each session's first turn
    first_probe_session = n_sessions // 2 + 1                           # 1-based; 3 of 4, 2 of 2 or 3
    zone_start = starts[first_probe_session - 1]
    opening_filler = min(n_filler, max(3, math.ceil(n_facts / 4)))
    opening = n_facts + opening_filler
    if opening > lengths[0]:
        raise GenerationError(f"the opening block ({opening} turns) does not fit in session 1 ({lengths[0]} turns); "
                              f"use more --filler or fewer --sessions")
    probe_slots = [i for i in range(zone_start, total) if i not in starts]
    if len(probe_slots) < n_facts:
        raise GenerationError("not enough turns in the later sessions for the probes; use more --filler")

    filler = make_filler(random.Random(f"{seed}:filler"), n_filler)
    other_text = "\n".join(u.lower() + "\n" + a.lower() for u, a in filler) + "\n" + "\n".join(GREETINGS).lower()
    facts = make_facts(random.Random(f"{seed}:facts"), n_facts, other_text)

    rng = random.Random(f"{seed}:layout")
    # Plants: shuffled, in the opening block, with a few filler turns mixed in.
    plant_order = list(range(n_facts))
    rng.shuffle(plant_order)
    opening_kinds = ["plant"] * n_facts + ["filler"] * opening_filler
    rng.shuffle(opening_kinds)
    plant_pos: dict[int, int] = {}
    it = iter(plant_order)
    for i, k in enumerate(opening_kinds):
        if k == "plant":
            plant_pos[next(it)] = i
    # Probes: shuffled order, at random positions in the later sessions, each >= MIN_GAP after its plant.
    for _ in range(5000):
        slots = sorted(rng.sample(probe_slots, n_facts))
        order = list(range(n_facts))
        rng.shuffle(order)
        probe_pos = dict(zip(order, slots))
        if all(probe_pos[f] - plant_pos[f] >= MIN_GAP for f in range(n_facts)):
            break
    else:
        raise GenerationError(f"could not place every probe >= {MIN_GAP} turns after its plant; use more --filler")

    slot_kind: list[tuple[str, int | None]] = [("filler", None)] * total
    for f, p in plant_pos.items():
        slot_kind[p] = ("plant", f)
    for f, p in probe_pos.items():
        slot_kind[p] = ("probe", f)

    greet_rng = random.Random(f"{seed}:greetings")
    greetings = {s: greet_rng.choice(GREETINGS) for s in starts[1:]}
    next_filler = 0
    turns: list[dict] = []
    session = 0
    for i, (kind, f) in enumerate(slot_kind):
        if i in starts:
            session += 1
        if kind == "filler":
            if i in greetings:
                # The greeting counts towards the turn's words: bring forward a filler turn short enough for it.
                room = FILLER_WORDS[1] - words(greetings[i])
                for j in range(next_filler, len(filler)):
                    if words(filler[j][0]) + words(filler[j][1]) <= room:
                        filler[next_filler], filler[j] = filler[j], filler[next_filler]
                        break
            user, assistant = filler[next_filler]
            next_filler += 1
            rec = {"session": session, "turn": i + 1, "kind": kind, "user": user, "assistant": assistant}
        elif kind == "plant":
            fa = facts[f]
            rec = {"session": session, "turn": i + 1, "kind": kind, "user": fa.plant_user,
                   "assistant": fa.plant_assistant, "fact": fa.key}
        else:
            fa = facts[f]
            rec = {"session": session, "turn": i + 1, "kind": kind, "user": fa.probe_user,
                   "assistant": fa.probe_assistant, "fact": fa.key, "answers": fa.answers}
        if i in greetings:
            rec["user"] = greetings[i] + " " + rec["user"]
        turns.append(rec)

    stats = validate(turns, facts, first_probe_session, n_sessions)
    return turns, stats


def validate(turns: list[dict], facts: list[Fact], first_probe_session: int, n_sessions: int) -> dict:
    """Fail loudly if the dialogue breaks any of the design rules."""
    def fail(msg: str) -> None:
        raise GenerationError("validation failed: " + msg)

    by_key = {f.key: f for f in facts}
    plant_turn: dict[str, int] = {}
    probe_turn: dict[str, int] = {}
    banned = banned_words()
    for n, t in enumerate(turns, 1):
        if t["turn"] != n:
            fail(f"turn numbers are not consecutive at {n}")
        if t["kind"] == "plant":
            if t["session"] != 1:
                fail(f"plant of {t['fact']} is not in session 1")
            plant_turn[t["fact"]] = n
        elif t["kind"] == "probe":
            if t["session"] < first_probe_session:
                fail(f"probe of {t['fact']} is in session {t['session']}, before session {first_probe_session}")
            probe_turn[t["fact"]] = n
        else:
            hits = banned_hits(t["user"] + " " + t["assistant"], banned)
            if hits:
                fail(f"filler turn {n} mentions {hits}")
            n_words = words(t["user"]) + words(t["assistant"])
            if not FILLER_WORDS[0] <= n_words <= FILLER_WORDS[1]:
                fail(f"filler turn {n} has {n_words} words")
        if n > 1 and t["session"] != turns[n - 2]["session"]:
            if not any(t["user"].startswith(g) for g in GREETINGS):
                fail(f"session {t['session']} does not start with a greeting")
    if sorted(plant_turn) != sorted(by_key) or sorted(probe_turn) != sorted(by_key):
        fail("every fact needs exactly one plant and one probe")
    if len({f.value.lower() for f in facts}) != len(facts):
        fail("fact values are not unique")
    gaps = {k: probe_turn[k] - plant_turn[k] for k in by_key}
    if min(gaps.values()) < MIN_GAP:
        fail(f"plant-to-probe distance below {MIN_GAP}: {gaps}")
    for f in facts:
        own = {plant_turn[f.key], probe_turn[f.key]}
        for t in turns:
            if t["turn"] in own:
                continue
            text = (t["user"] + "\n" + t["assistant"]).lower()
            for needle in f.answers + [f.value]:
                if needle.lower() in text:
                    fail(f"value/answer {needle!r} of {f.key} also occurs in turn {t['turn']}")
    if turns[-1]["session"] != n_sessions:
        fail("wrong number of sessions")
    return {
        "turns": len(turns),
        "sessions": n_sessions,
        "session_turns": [sum(1 for t in turns if t["session"] == s) for s in range(1, n_sessions + 1)],
        "plants": len(plant_turn),
        "last_plant_turn": max(plant_turn.values()),
        "probes": len(probe_turn),
        "filler": sum(1 for t in turns if t["kind"] == "filler"),
        "min_gap": min(gaps.values()),
        "max_gap": max(gaps.values()),
        "words": sum(words(t["user"]) + words(t["assistant"]) for t in turns),
    }


def main(argv: list[str] | None = None) -> int:
    doc_head, _, doc_rest = __doc__.partition("\n\n")
    ap = argparse.ArgumentParser(description=doc_head, epilog=doc_rest,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    ap.add_argument("--facts", type=int, default=20, help=f"number of facts, 1-{len(FACTS)} (default 20)")
    ap.add_argument("--filler", type=int, default=110, help="number of filler turns (default 110)")
    ap.add_argument("--sessions", type=int, default=4, help="number of sessions, at least 2 (default 4)")
    ap.add_argument("--out", help="output file (default: stdout)")
    args = ap.parse_args(argv)
    try:
        turns, stats = generate(args.seed, args.facts, args.filler, args.sessions)
    except GenerationError as e:
        print(f"make_dialogue.py: error: {e}", file=sys.stderr)
        return 1
    lines = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in turns)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(lines)
    else:
        sys.stdout.write(lines)
    print(f"turns={stats['turns']} sessions={stats['sessions']} (turns per session {stats['session_turns']}) "
          f"plants={stats['plants']} (last at turn {stats['last_plant_turn']}) probes={stats['probes']} "
          f"filler={stats['filler']} min_plant_to_probe={stats['min_gap']} max_plant_to_probe={stats['max_gap']} "
          f"words~{stats['words']} (~{round(stats['words'] * 1.35)} tokens)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
