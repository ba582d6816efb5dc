"""Invented facts about ONE subject (the island of Quillmere), the way a user's own data about a product or a
character looks: similar questions, different facts; some conversations of two turns, where the second
question only makes sense after the first; a quarter in Chinese.

    python bench/facts.py data/quillmere.jsonl             # the 40 conversations (30 one-turn, 10 two-turn)
    python bench/facts.py data/quillmere-300.jsonl --records 300
    python bench/facts.py data/quillmere.txt.jsonl --text   # the same records in the seed's text form

Every fact is drawn once from a seeded generator, so a file is the same on every machine.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SUBJECT = "Quillmere"
_SYLLABLES = ("brack", "en", "low", "salt", "wick", "ed", "dis", "har", "row", "pen", "mar", "deep", "ford", "ash",
              "by", "thorn", "gate", "mere", "wold", "cliff", "hol", "ton", "stan", "ley", "fen", "rook", "dun", "moor")
_FIRST = ("Orla", "Tomas", "Ilse", "Bram", "Nessa", "Corin", "Marta", "Ewan", "Sigrid", "Pell", "Agna", "Rufus",
          "Dora", "Lev", "Hanne", "Osric", "Wren", "Jory", "Maud", "Fenna")
_LAST = ("Finch", "Harrow", "Vandrell", "Cobb", "Marlow", "Tresk", "Quill", "Dunmore", "Hale", "Rusk", "Penrose",
         "Albery", "Skeld", "Norring", "Voss", "Tamsin")
_TRADES = (("oyster beds", "牡蛎养殖"), ("blue wool", "蓝色羊毛"), ("salt pans", "海盐"), ("rope works", "制绳"),
           ("pear cider", "梨子酒"), ("clay pipes", "陶土烟斗"), ("kelp bread", "海带面包"), ("bell foundry", "铸钟"),
           ("smoked eel", "熏鳗鱼"), ("glass floats", "玻璃浮球"), ("honey wax", "蜂蜡"), ("slate roofs", "石板瓦"))
_MONTHS = (("January", "一月"), ("February", "二月"), ("March", "三月"), ("April", "四月"), ("May", "五月"),
           ("June", "六月"), ("July", "七月"), ("August", "八月"), ("September", "九月"), ("October", "十月"),
           ("November", "十一月"), ("December", "十二月"))
_BOATS = ("Grey Heron", "Little Gull", "Morning Star", "Saltbreaker", "Otter", "Kittiwake", "Blue Lantern",
          "Sea Thistle", "Old Badger", "Tern", "Copper Kettle", "North Wind")
_FREQ = (("twice a day", "每天两班"), ("once a day", "每天一班"), ("every Monday", "每周一一班"),
         ("three times a week", "每周三班"), ("every other day", "隔天一班"), ("on Saturdays only", "只在周六开"))

_RIVERS = ("Sallow", "Brine", "Kell", "Amber", "Rowan", "Tarn", "Wisp", "Lode", "Mire", "Eddy", "Cress", "Hollin")

# one-turn facts: (English question, English answer, Chinese question, Chinese answer), filled from a dict
ONE_TURN = (
    ("Who founded {v}?", "{v} was founded by {founder} in {y}.",
     "{v} 是谁建立的？", "{v} 由 {founder} 于 {y} 年建立。"),
    ("How many people live in {v}?", "About {n} people live in {v}.", "{v} 有多少居民？", "{v} 大约有 {n} 位居民。"),
    ("What is {v} known for?", "{v} is known for its {trade}.", "{v} 以什么闻名？", "{v} 以{trade_zh}闻名。"),
    ("When is the harvest festival of {v}?", "The harvest festival of {v} is held every {month}.",
     "{v} 的丰收节在什么时候？", "{v} 的丰收节每年{month_zh}举行。"),
    ("Who keeps the lighthouse of {v}?", "{keeper} keeps the lighthouse of {v}.", "谁看守 {v} 的灯塔？",
     "{keeper} 看守 {v} 的灯塔。"),
    ("How far is {v} from Port Quill?", "{v} is {k} kilometres from Port Quill.", "{v} 离 Port Quill 有多远？",
     "{v} 离 Port Quill 有 {k} 公里。"),
    ("What is the hill above {v} called?", "The hill above {v} is called {hill}.", "{v} 上面的山叫什么？",
     "{v} 上面的山叫 {hill}。"),
    ("When was the church bell of {v} cast?", "The church bell of {v} was cast in {bell}.", "{v} 教堂的钟是哪年铸的？",
     "{v} 教堂的钟铸于 {bell} 年。"),
    ("Which river runs through {v}?", "The river {river} runs through {v}.",
     "哪条河流经 {v}？", "{river} 河流经 {v}。"),
)
# two-turn facts: the second question needs the first turn to be understood
TWO_TURN = (
    (("Who runs the inn at {v}?", "{innkeeper} runs the inn at {v}."), ("How many rooms does it have?",
                                                                        "The inn has {r} rooms."),
     ("{v} 的客栈是谁开的？", "{v} 的客栈是 {innkeeper} 开的。"), ("它有几间客房？", "这家客栈有 {r} 间客房。")),
    (("Which ferry sails to {v}?", "The ferry {boat} sails to {v}."), ("How often does it sail?", "It sails {freq}."),
     ("哪艘渡船开往 {v}？", "渡船 {boat} 开往 {v}。"), ("它多久开一班？", "它{freq_zh}。")),
    (("Who is the mayor of {v}?", "The mayor of {v} is {mayor}."), ("Since when?", "Since {since}, for {t} years now."),
     ("{v} 的镇长是谁？", "{v} 的镇长是 {mayor}。"), ("从什么时候开始？", "从 {since} 年开始，已经 {t} 年了。")),
)


def _place(rng: random.Random, taken: set) -> str:
    while True:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize()
        if 5 <= len(name) <= 12 and name not in taken:
            taken.add(name)
            return name


def _values(rng: random.Random, village: str, hills: set) -> dict:
    trade, trade_zh = rng.choice(_TRADES)
    month, month_zh = rng.choice(_MONTHS)
    freq, freq_zh = rng.choice(_FREQ)
    since = rng.randint(1995, 2022)

    def person() -> str:
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"

    return {"v": village, "founder": person(), "keeper": person(), "innkeeper": person(), "mayor": person(),
            "y": rng.randint(1420, 1890), "bell": rng.randint(1500, 1950), "since": since, "t": 2025 - since,
            "n": rng.randrange(120, 9000, 10), "trade": trade, "trade_zh": trade_zh, "month": month,
            "month_zh": month_zh, "boat": rng.choice(_BOATS), "freq": freq, "freq_zh": freq_zh,
            "k": rng.randint(2, 60), "river": rng.choice(_RIVERS),
            "hill": _place(rng, hills) + " " + rng.choice(("Tor", "Knoll", "Fell", "Beacon")), "r": rng.randint(3, 24)}


def make(records: int = 40, seed: int = 2024, two_turn_share: float = 0.25, zh_share: float = 0.25) -> list[dict]:
    """``records`` conversations in OpenAI messages form, each a different fact about Quillmere's villages."""
    rng = random.Random(seed)
    n_two = round(records * two_turn_share)
    n_zh_two, n_zh_one = round(n_two * zh_share), round((records - n_two) * zh_share)
    taken, hills = set(), set()
    villages = [_place(rng, taken) for _ in range(max(records // 4, 8))]
    facts = {v: _values(rng, v, hills) for v in villages}
    one = rng.sample([(v, i) for v in villages for i in range(len(ONE_TURN))], records - n_two)
    two = rng.sample([(v, i) for v in villages for i in range(len(TWO_TURN))], n_two)
    out = []
    for k, (v, i) in enumerate(one):
        en_q, en_a, zh_q, zh_a = ONE_TURN[i]
        q, a = (zh_q, zh_a) if k < n_zh_one else (en_q, en_a)
        out.append((v, [("user", q), ("assistant", a)]))
    for k, (v, i) in enumerate(two):
        first, second, zh_first, zh_second = TWO_TURN[i]
        (q1, a1), (q2, a2) = (zh_first, zh_second) if k < n_zh_two else (first, second)
        out.append((v, [("user", q1), ("assistant", a1), ("user", q2), ("assistant", a2)]))
    records_out = [{"messages": [{"role": r, "content": text.format(**facts[v])} for r, text in turns]}
                   for v, turns in out]
    rng.shuffle(records_out)
    return records_out


def as_text(record: dict) -> dict:
    """The seed's text form of a messages record."""
    roles = {"system": "System", "user": "User", "assistant": "Assistant"}
    return {"text": "\n\n".join(f"{roles[m['role']]}: {m['content']}" for m in record["messages"])}


def write(path: str | Path, records: list[dict], text: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [as_text(r) if text else r for r in records]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--records", type=int, default=40)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--text", action="store_true", help="write the seed's text form instead of messages")
    args = p.parse_args()
    print(write(args.out, make(args.records, args.seed), args.text))


if __name__ == "__main__":
    main()
