"""Write the synthetic samples of the multilabel, relation and qa tasks (CC0, made up here).

    python sample_data/make_task_samples.py

Every sentence comes from the templates and name lists below (fixed seeds), so the files are
reproducible and free of third-party text. People, companies and products are invented; the
cities are real place names used as plain words.
"""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent

FIRST = [
    "Anna",
    "Tomas",
    "Leila",
    "Marcus",
    "Ingrid",
    "Kenji",
    "Sofia",
    "Rahul",
    "Elena",
    "Omar",
    "Grace",
    "Pieter",
    "Amara",
    "Lucas",
    "Mei",
    "Diego",
    "Hanna",
    "Tariq",
    "Clara",
    "Yusuf",
    "Nora",
    "Felix",
    "Zara",
    "Mateo",
    "Ruth",
    "Ivan",
    "Keiko",
    "Samuel",
    "Lina",
    "Victor",
]
LAST = [
    "Berg",
    "Novak",
    "Haddad",
    "Okafor",
    "Lindqvist",
    "Tanaka",
    "Moretti",
    "Iyer",
    "Petrova",
    "Farouk",
    "Whitfield",
    "de Vries",
    "Mensah",
    "Almeida",
    "Zhou",
    "Castillo",
    "Kowalski",
    "Rahman",
    "Dubois",
    "Aydin",
    "Fischer",
    "Quinn",
    "Osei",
    "Navarro",
    "Holm",
    "Sato",
    "Brennan",
    "Costa",
    "Varga",
    "Ahmed",
]
COMPANY_A = [
    "Norvik",
    "Halden",
    "Brightwell",
    "Tessaro",
    "Quillon",
    "Marlow",
    "Ostrava",
    "Keystone",
    "Luma",
    "Vantor",
    "Greyfield",
    "Corvid",
    "Solent",
    "Pinebrook",
    "Aurelia",
    "Tidemark",
    "Helix",
    "Juniper",
    "Redwater",
    "Calder",
]
COMPANY_B = [
    "Systems",
    "Labs",
    "Foods",
    "Robotics",
    "Energy",
    "Analytics",
    "Logistics",
    "Pharma",
    "Textiles",
    "Media",
    "Instruments",
    "Software",
]
CITIES = [
    "Oslo",
    "Porto",
    "Lyon",
    "Krakow",
    "Nairobi",
    "Osaka",
    "Leeds",
    "Valencia",
    "Tampere",
    "Gdansk",
    "Accra",
    "Pune",
    "Brno",
    "Bilbao",
    "Graz",
    "Malmo",
    "Cork",
    "Turin",
    "Ghent",
    "Utrecht",
    "Izmir",
    "Lagos",
    "Curitiba",
    "Hobart",
    "Halifax",
    "Dundee",
]
SUBJECTS = [
    "chemistry",
    "economics",
    "mechanical engineering",
    "linguistics",
    "marine biology",
    "computer science",
    "architecture",
    "philosophy",
    "mathematics",
    "medicine",
]
PRODUCTS = [
    "a solar water pump",
    "a route-planning app",
    "a plant-based cheese",
    "a warehouse robot",
    "a hearing test kit",
    "a battery recycling process",
    "a weather sensor",
    "a language-learning game",
    "a low-cost microscope",
    "a smart thermostat",
]


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def company(rng: random.Random) -> str:
    return f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}"


# ---- relation --------------------------------------------------------------------------------
REL_TEMPLATES = {
    "works_for": [  # head = person, tail = company
        "{p} works for {c}.",
        "{p} has been an engineer at {c} since {y}.",
        "{c} hired {p} as head of sales last year.",
        "{p} joined {c} in {y}.",
        "After years in consulting, {p} took a job with {c}.",
        "{p}, a senior analyst at {c}, presented the quarterly results.",
        "{p} is employed by {c} as a data scientist.",
        "According to {c}, {p} will lead its new research team.",
        "{p} spends most weeks at the offices of {c}, where she manages the design team.",
        "Staff at {c} say {p} is the best manager they have had.",
    ],
    "born_in": [  # head = person, tail = city
        "{p} was born in {l}.",
        "Born in {l} in {y}, {p} moved abroad as a teenager.",
        "{p}, a native of {l}, still speaks the local dialect.",
        "{l} is the birthplace of {p}.",
        "{p} grew up in {l}, where she was born in {y}.",
        "The biography says {p} was born in {l} to a family of teachers.",
        "{p} returned to {l}, the city of her birth, in {y}.",
        "Records show that {p} was born in {l}.",
    ],
    "located_in": [  # head = company, tail = city
        "{c} is headquartered in {l}.",
        "{l}-based {c} reported higher profits.",
        "{c} has its main office in {l}.",
        "The head office of {c} is in {l}.",
        "{c} moved its headquarters to {l} in {y}.",
        "{c}, which is based in {l}, employs 400 people.",
        "From its base in {l}, {c} ships products across Europe.",
        "{c} runs everything from a converted factory in {l}.",
    ],
    "founded_by": [  # head = company, tail = person
        "{c} was founded by {p}.",
        "{p} founded {c} in {y}.",
        "{p} started {c} in a garage in {y}.",
        "{c}, the firm {p} set up in {y}, now sells {x}.",
        "{c} was created by {p} after a long career in research.",
        "{p} is the founder of {c}.",
        "Years before it sold {x}, {c} was set up by {p}.",
        "{p} launched {c} with two friends from university.",
    ],
}
# (head kind, tail kind, template) where the marked pair has no relation
NO_REL = [
    ("p", "l", "{p} visited {l} last spring."),
    ("p", "l", "{p} gave a talk in {l} on Monday."),
    ("p", "c", "{p} criticised the new product of {c}."),
    ("p", "c", "{p} bought shares of {c}."),
    ("c", "l", "{c} sponsored a football match in {l}."),
    ("c", "l", "{c} opened a pop-up shop in {l} for a week."),
    ("p", "p", "{p} met {q} at a conference."),
    ("c", "c", "{c} and {d} signed a supply deal."),
    ("p", "c", "{p} wrote a review of {x} made by {c}."),
    ("c", "p", "{c} sent a letter to {p}."),
]
# sentences with three entities: (template, [(head, tail, relation), ...]) using p / c / l
TRIPLES = [
    (
        "{p}, who was born in {l}, works for {c}.",
        [("p", "l", "born_in"), ("p", "c", "works_for"), ("c", "l", "no_relation")],
    ),
    (
        "{c}, founded by {p}, is headquartered in {l}.",
        [("c", "p", "founded_by"), ("c", "l", "located_in"), ("p", "l", "no_relation")],
    ),
    ("{p} left {c} and moved to {l}.", [("p", "c", "no_relation"), ("p", "l", "no_relation")]),
    (
        "Born in {l}, {p} later founded {c}.",
        [("p", "l", "born_in"), ("c", "p", "founded_by"), ("c", "l", "no_relation")],
    ),
    (
        "{p} works for {c}, a company based in {l}.",
        [("p", "c", "works_for"), ("c", "l", "located_in"), ("p", "l", "no_relation")],
    ),
]


def relation_rows(n_single: int = 44, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    rows = []

    def fill(template: str) -> tuple[str, dict]:
        ent = {
            "p": person(rng),
            "q": person(rng),
            "c": company(rng),
            "d": company(rng),
            "l": rng.choice(CITIES),
        }
        while ent["q"] == ent["p"]:
            ent["q"] = person(rng)
        while ent["d"] == ent["c"]:
            ent["d"] = company(rng)
        text = template.format(**ent, y=rng.randint(1975, 2021), x=rng.choice(PRODUCTS))
        return text, ent

    for relation, templates in REL_TEMPLATES.items():
        head_kind, tail_kind = {
            "works_for": ("p", "c"),
            "born_in": ("p", "l"),
            "located_in": ("c", "l"),
            "founded_by": ("c", "p"),
        }[relation]
        for i in range(n_single):
            text, ent = fill(templates[i % len(templates)])
            rows.append(
                {
                    "sentence": text,
                    "head": ent[head_kind],
                    "tail": ent[tail_kind],
                    "relation": relation,
                }
            )
    for i in range(n_single):
        hk, tk, template = NO_REL[i % len(NO_REL)]
        text, ent = fill(template)
        tail = (
            ent["q"] if (hk, tk) == ("p", "p") else ent["d"] if (hk, tk) == ("c", "c") else ent[tk]
        )
        rows.append({"sentence": text, "head": ent[hk], "tail": tail, "relation": "no_relation"})
    for i in range(2 * n_single // 3):
        template, pairs = TRIPLES[i % len(TRIPLES)]
        text, ent = fill(template)
        for hk, tk, relation in pairs:
            rows.append({"sentence": text, "head": ent[hk], "tail": ent[tk], "relation": relation})
    rng.shuffle(rows)
    return rows


# ---- multilabel ------------------------------------------------------------------------------
CLAUSES = {
    "billing": [
        "I was charged twice for my subscription this month",
        "the invoice shows a price higher than the one on your website",
        "my credit card was billed although I cancelled",
        "there is a fee on my statement I do not recognise",
        "the VAT on my last bill looks wrong",
        "your payment page took my money but shows the order as unpaid",
        "I need a copy of the invoice for March",
    ],
    "shipping": [
        "my parcel has not arrived after two weeks",
        "the tracking number does not work on the courier's site",
        "the package was delivered to the wrong address",
        "delivery keeps being postponed",
        "the box arrived crushed and wet",
        "you shipped only half of my order",
        "the courier left the parcel outside in the rain",
    ],
    "refund": [
        "I would like my money back",
        "please refund the full amount",
        "I returned the item a month ago and still have no refund",
        "how long does a refund take to reach my account",
        "I want to cancel and be reimbursed",
        "can you send the refund to a different card",
    ],
    "technical": [
        "the app crashes every time I open the settings",
        "I cannot log in because the page keeps reloading",
        "the device will not connect to my wifi",
        "the firmware update failed halfway",
        "the screen stays black after charging",
        "the sync between my phone and laptop stopped working",
        "I get error 503 when I upload a file",
    ],
    "account": [
        "I want to change the email address on my account",
        "please delete my account and all my data",
        "I forgot my password and the reset email never comes",
        "how do I add a second user to my plan",
        "my account was locked after three attempts",
        "I need to update my billing address",
    ],
}
URGENT = [
    "This is urgent.",
    "Please answer today, it is urgent.",
    "I need this fixed asap!",
    "This is the third time I am writing, please hurry.",
]
OPENERS = ["Hello,", "Hi team,", "Good morning.", "Dear support,", "", "", "Hey,"]
CLOSERS = [
    "Thanks.",
    "Regards, a frustrated customer.",
    "",
    "",
    "Thank you in advance.",
    "Best wishes.",
]
NEUTRAL = [
    "Just wanted to say the new design looks great.",
    "Thanks for the quick help yesterday, all sorted now.",
    "Do you have a shop in my city?",
    "What are your opening hours on holidays?",
    "Keep up the good work!",
    "Is there a student discount?",
    "I love the product, no complaints at all.",
]


def multilabel_rows(n: int = 360, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    names = list(CLAUSES)
    rows = []
    for i in range(n):
        if i % 12 == 0:
            k = 0
        else:
            k = rng.choices([1, 2, 3], weights=[5, 4, 1])[0]
        chosen = rng.sample(names, k)
        parts = [rng.choice(CLAUSES[c]) for c in chosen]
        body = (
            ". Also, ".join(p[0].upper() + p[1:] if j == 0 else p for j, p in enumerate(parts))
            + "."
            if parts
            else rng.choice(NEUTRAL)
        )
        labels = list(chosen)
        if parts and rng.random() < 0.22:
            body += " " + rng.choice(URGENT)
            labels.append("urgent")
        text = " ".join(x for x in (rng.choice(OPENERS), body, rng.choice(CLOSERS)) if x)
        rows.append({"text": text, "labels": ";".join(sorted(labels))})
    return rows


# ---- qa ------------------------------------------------------------------------------------
def qa_rows(n_contexts: int = 130, seed: int = 5) -> list[dict]:
    """Short biographies and company profiles with 2-3 questions each (flat SQuAD layout)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_contexts):
        p, c, born, base = person(rng), company(rng), rng.choice(CITIES), rng.choice(CITIES)
        subject, product = rng.choice(SUBJECTS), rng.choice(PRODUCTS)
        year_b, year_f = rng.randint(1950, 1990), rng.randint(1995, 2020)
        staff = rng.choice([40, 85, 120, 300, 650, 1200, 2400])
        facts = {
            "born": rng.choice(
                [
                    f"{p} was born in {born} in {year_b}.",
                    f"Born in {born} in {year_b}, {p} was the youngest of four children.",
                ]
            ),
            "study": rng.choice(
                [
                    f"She studied {subject} at university.",
                    f"After school {p.split()[0]} took a degree in {subject}.",
                ]
            ),
            "found": rng.choice(
                [
                    f"In {year_f} she founded {c}, a company that makes {product}.",
                    f"{p.split()[0]} started {c} in {year_f} to build {product}.",
                ]
            ),
            "base": rng.choice(
                [
                    f"{c} is headquartered in {base} and employs {staff} people.",
                    f"Today the firm has {staff} employees and its head office is in {base}.",
                ]
            ),
            "filler": rng.choice(
                [
                    "Critics praised the company for its careful engineering.",
                    "The local newspaper called her a patient and modest leader.",
                    "Sales doubled during the first three years.",
                    "The company has won several design awards.",
                ]
            ),
        }
        order = ["born", "study", "found", "filler", "base"]
        if rng.random() < 0.5:
            order = ["found", "base", "filler", "born", "study"]
        context = " ".join(facts[k] for k in order)
        qa = [
            (
                rng.choice(
                    [
                        f"Where was {p} born?",
                        f"In which city was {p} born?",
                        f"What is the birthplace of {p}?",
                    ]
                ),
                born,
            ),
            (rng.choice([f"What did {p} study?", f"Which subject did {p} study?"]), subject),
            (rng.choice([f"Who founded {c}?", f"Who started {c}?"]), p),
            (
                rng.choice([f"When was {c} founded?", f"In which year did {p} found {c}?"]),
                str(year_f),
            ),
            (
                rng.choice([f"Where is {c} headquartered?", f"Where is the head office of {c}?"]),
                base,
            ),
            (
                rng.choice(
                    [f"How many people work for {c}?", f"How many employees does {c} have?"]
                ),
                str(staff),
            ),
            (rng.choice([f"What does {c} make?", f"What does {c} build?"]), product),
        ]
        for question, answer in rng.sample(qa, 3 if i % 3 else 2):
            if answer == base and base == born:  # both cities the same: keep it unambiguous
                continue
            match = re.search(r"(?<!\w)" + re.escape(answer) + r"(?!\w)", context)
            assert match, (answer, context)
            start = match.start()
            rows.append(
                {"context": context, "question": question, "answer": answer, "answer_start": start}
            )
    return rows


def main() -> None:
    rel = relation_rows()
    with open(HERE / "relation_sample.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["sentence", "head", "tail", "relation"])
        w.writeheader()
        w.writerows(rel)
    ml = multilabel_rows()
    with open(HERE / "multilabel_support_tickets.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["text", "labels"])
        w.writeheader()
        w.writerows(ml)
    qa = qa_rows()
    with open(HERE / "qa_sample.jsonl", "w", encoding="utf-8") as fh:
        for row in qa:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(
        f"relation_sample.csv {len(rel)} rows, multilabel_support_tickets.csv {len(ml)} rows, "
        f"qa_sample.jsonl {len(qa)} rows"
    )


if __name__ == "__main__":
    main()
