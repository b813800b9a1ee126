"""Write the two synthetic NER demo files (reproducible: fixed seed).

    ner_chinese_demo.jsonl   240 Chinese sentences, one token per character, BIO tags
    ner_english_demo.jsonl   240 English sentences, word tokens, BIO tags

Both are SYNTHETIC: sentences generated from templates and lists of made-up combinations of
common person names, real place names and invented organisation names, written for Adaptune and
released under CC0 1.0 (public domain dedication). Entity types: PER (person), LOC (place),
ORG (organisation). No real person is described; any resemblance is chance.

Run from anywhere: python sample_data/make_ner_samples.py
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 7
N_SENTENCES = 240

# ---- Chinese -------------------------------------------------------------------------------
ZH_SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘蒋蔡余杜叶程魏苏吕丁沈任姚卢"
    "傅钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严欧莫孔向常汤"
)
ZH_GIVEN = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建林文斌宇浩凯晨思雨欣怡子涵梓轩佳琪雪梅海燕志国俊峰亮婷晓东"
)
ZH_PLACES = [
    "北京",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "南京",
    "成都",
    "重庆",
    "武汉",
    "西安",
    "天津",
    "苏州",
    "长沙",
    "郑州",
    "青岛",
    "厦门",
    "昆明",
    "大连",
    "沈阳",
    "哈尔滨",
    "福州",
    "合肥",
    "济南",
    "南宁",
    "贵阳",
    "兰州",
    "乌鲁木齐",
    "拉萨",
    "海口",
    "三亚",
    "香港",
    "澳门",
    "台北",
    "东京",
    "大阪",
    "首尔",
    "新加坡",
    "曼谷",
    "伦敦",
    "巴黎",
    "柏林",
    "纽约",
    "悉尼",
    "浙江",
    "江苏",
    "广东",
    "四川",
    "云南",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "福建",
    "黄河",
    "长江",
    "泰山",
    "西湖",
    "日本",
    "法国",
    "德国",
    "美国",
    "澳大利亚",
]
ZH_ORG_HEADS = [
    "华星",
    "蓝海",
    "东方",
    "宏远",
    "天成",
    "金桥",
    "新元",
    "瑞丰",
    "鼎盛",
    "明德",
    "博远",
    "青禾",
    "启航",
    "远景",
    "恒通",
    "卓越",
    "云帆",
    "长风",
    "光明",
    "德信",
]
ZH_ORG_TAILS = [
    "科技公司",
    "集团",
    "银行",
    "大学",
    "研究院",
    "医院",
    "出版社",
    "基金会",
    "汽车公司",
    "电子公司",
    "航空公司",
    "中学",
    "律师事务所",
    "足球俱乐部",
    "物流公司",
]
ZH_TEMPLATES = [
    "{PER}在{LOC}工作。",
    "{PER}明天要去{LOC}出差。",
    "{PER}是{ORG}的工程师。",
    "{ORG}在{LOC}开设了新的办公室。",
    "{PER}和{PER}一起去{LOC}旅游。",
    "我昨天在{LOC}遇见了{PER}。",
    "{ORG}宣布{PER}担任新的总经理。",
    "{PER}毕业于{ORG}，现在住在{LOC}。",
    "据{ORG}消息，{LOC}今天下了大雨。",
    "{PER}代表{ORG}参加了在{LOC}举行的会议。",
    "{LOC}的{ORG}今年招聘了很多员工。",
    "{PER}说他很喜欢{LOC}的美食。",
    "记者{PER}从{LOC}发回报道。",
    "{ORG}和{ORG}签署了合作协议。",
    "{PER}的家乡在{LOC}。",
    "这次比赛由{ORG}主办，地点在{LOC}。",
    "{PER}向{PER}介绍了{ORG}的情况。",
    "去年{PER}搬到了{LOC}。",
    "{ORG}的总部位于{LOC}。",
    "{PER}老师在{ORG}教数学。",
    "今天天气很好，{PER}去公园散步了。",
    "{LOC}和{LOC}之间开通了高铁。",
    "{PER}获得了{ORG}颁发的奖学金。",
    "听说{PER}要离开{ORG}了。",
    "周末{PER}带孩子去{LOC}看望父母。",
    "{ORG}发布了新产品，价格很便宜。",
    "我们下个月在{LOC}见面吧。",
    "{PER}在{ORG}实习了三个月。",
    "{LOC}的冬天比{LOC}冷很多。",
    "大家都很感谢{PER}的帮助。",
]

# ---- English -------------------------------------------------------------------------------
EN_FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Paul",
    "Ashley",
    "Priya",
    "Kenji",
    "Fatima",
    "Olga",
    "Mohammed",
    "Aisha",
    "Luis",
    "Mei",
    "Hannah",
    "Omar",
    "Sofia",
    "Ivan",
    "Grace",
    "Noah",
    "Chloe",
]
EN_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Nguyen",
    "Patel",
    "Kim",
    "Okafor",
    "Rossi",
    "Novak",
    "Silva",
    "Tanaka",
    "Schmidt",
    "Dubois",
    "Kowalski",
    "Haddad",
    "Murphy",
]
EN_PLACES = [
    "London",
    "Paris",
    "Berlin",
    "Madrid",
    "Rome",
    "Lisbon",
    "Dublin",
    "Oslo",
    "Vienna",
    "Prague",
    "Warsaw",
    "Athens",
    "Cairo",
    "Nairobi",
    "Lagos",
    "Tokyo",
    "Seoul",
    "Beijing",
    "Mumbai",
    "Sydney",
    "Toronto",
    "Chicago",
    "Boston",
    "New York",
    "San Francisco",
    "Los Angeles",
    "Mexico City",
    "Buenos Aires",
    "Cape Town",
    "Texas",
    "California",
    "Scotland",
    "Canada",
    "Brazil",
    "Japan",
    "Germany",
    "Kenya",
    "India",
    "the Alps",
    "the Thames",
    "Lake Geneva",
    "Hong Kong",
    "Rio de Janeiro",
]
EN_ORG_HEADS = [
    "Blue River",
    "Northwind",
    "Acme",
    "Brightpath",
    "Silverline",
    "Greenleaf",
    "Red Harbor",
    "Summit",
    "Oakridge",
    "Starlight",
    "Ironwood",
    "Clearwater",
    "Pioneer",
    "Golden Gate",
    "Evergreen",
    "Maple",
    "Crescent",
    "Falcon",
]
EN_ORG_TAILS = [
    "Bank",
    "University",
    "Motors",
    "Labs",
    "Airlines",
    "Foundation",
    "Hospital",
    "Insurance",
    "Software",
    "Energy",
    "Press",
    "Group",
    "Institute",
    "Football Club",
    "Logistics",
]
EN_TEMPLATES = [
    "{PER} works in {LOC} .",
    "{PER} is flying to {LOC} tomorrow .",
    "{PER} is an engineer at {ORG} .",
    "{ORG} opened a new office in {LOC} .",
    "{PER} and {PER} travelled to {LOC} last summer .",
    "Yesterday I met {PER} in {LOC} .",
    "{ORG} named {PER} as its new chief executive .",
    "{PER} studied at {ORG} and now lives in {LOC} .",
    "According to {ORG} , heavy rain fell on {LOC} today .",
    "{PER} represented {ORG} at the meeting in {LOC} .",
    "{ORG} in {LOC} hired many people this year .",
    "{PER} says the food in {LOC} is wonderful .",
    "Reporter {PER} sent this story from {LOC} .",
    "{ORG} and {ORG} signed a partnership agreement .",
    "{PER} grew up in {LOC} .",
    "The match was organised by {ORG} and held in {LOC} .",
    "{PER} told {PER} about the plans of {ORG} .",
    "Last year {PER} moved to {LOC} .",
    "{ORG} has its headquarters in {LOC} .",
    "{PER} teaches maths at {ORG} .",
    "The weather was lovely , so {PER} went for a walk .",
    "A new train line links {LOC} and {LOC} .",
    "{PER} won a scholarship from {ORG} .",
    "We heard that {PER} is leaving {ORG} .",
    "On Sunday {PER} visited her parents in {LOC} .",
    "{ORG} launched a cheaper phone on Monday .",
    "Let us meet in {LOC} next month .",
    "{PER} spent three months as an intern at {ORG} .",
    "Winters in {LOC} are colder than in {LOC} .",
    "Everyone thanked {PER} for the help .",
]


def _fill(template: str, make: dict, rng: random.Random, char_level: bool) -> dict:
    """Tokens and BIO tags for one template with its slots filled."""
    tokens: list[str] = []
    tags: list[str] = []
    for part in re.split(r"(\{[A-Z]+\})", template):
        if not part:
            continue
        kind = part[1:-1] if part.startswith("{") else None
        text = make[kind](rng) if kind else part
        words = list(text) if char_level else text.split()
        tokens += words
        tags += (
            ["O"] * len(words) if kind is None else [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1)
        )
    return {"tokens": tokens, "tags": tags}


def _zh_person(rng: random.Random) -> str:
    surname = rng.choice(ZH_SURNAMES)
    return surname + "".join(rng.choice(ZH_GIVEN) for _ in range(rng.choice((1, 2))))


def _en_person(rng: random.Random) -> str:
    return rng.choice(
        [
            f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}",
            rng.choice(EN_FIRST),
            rng.choice(EN_LAST),
            f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}",
        ]
    )


def make(templates: list[str], make_slots: dict, char_level: bool, n: int = N_SENTENCES) -> list:
    rng = random.Random(SEED)
    rows = []
    for i in range(n):
        template = templates[i % len(templates)] if i < len(templates) else rng.choice(templates)
        rows.append(_fill(template, make_slots, rng, char_level))
    rng.shuffle(rows)
    return rows


def main() -> None:
    zh = make(
        ZH_TEMPLATES,
        {
            "PER": _zh_person,
            "LOC": lambda r: r.choice(ZH_PLACES),
            "ORG": lambda r: r.choice(ZH_ORG_HEADS) + r.choice(ZH_ORG_TAILS),
        },
        char_level=True,
    )
    en = make(
        EN_TEMPLATES,
        {
            "PER": _en_person,
            "LOC": lambda r: r.choice(EN_PLACES),
            "ORG": lambda r: f"{r.choice(EN_ORG_HEADS)} {r.choice(EN_ORG_TAILS)}",
        },
        char_level=False,
    )
    for name, rows in (("ner_chinese_demo.jsonl", zh), ("ner_english_demo.jsonl", en)):
        with open(HERE / name, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        entities = sum(t.startswith("B-") for r in rows for t in r["tags"])
        print(f"wrote {name}: {len(rows)} sentences, {entities} entities")


if __name__ == "__main__":
    main()
