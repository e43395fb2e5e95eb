"""The embedded toy corpus: English -> Chinese sentence pairs generated from a small grammar (notebook 12).

Each sentence is  subject + verb + object  with an optional time word and place phrase, in one of four tenses,
affirmative, negative or a yes/no question. The Chinese side shows what makes translation more than copying:

- measure words agreeing with the noun: two cats 两只猫, three books 三本书, a cup of tea 一杯茶;
- time words and place phrases moved before the verb: I ate apples yesterday -> 我昨天吃了苹果, 在公园;
- aspect: 了 (past), 在 (in progress), 会 (future); negation 不 / 没, and 没 drops 了;
- yes/no questions end in 吗 (a target word with no source word);
- two-syllable adjectives take 的 (漂亮的花), one-syllable ones do not (大狗); numbers one to ten (两 for two).

The test split holds (noun, verb) combinations — and so (noun, verb, measure word) — never seen in training.
"""

import random
import re
from dataclasses import dataclass

from .corpus import Pair

PHENOMENA = ("measure_word", "time_reorder", "place_reorder", "le_mei", "ma_question", "adjective_de")
SIZES = {"train": 30_000, "valid": 1_000, "test": 2_000}
HELD_OUT_SHARE = 0.12  # of the (noun, verb) combinations, kept for valid and test


@dataclass(frozen=True)
class Noun:
    en: str
    plural: str
    zh: str
    measure: str
    kind: str
    container: str = ""  # drinks are counted by their container: a cup of tea


@dataclass(frozen=True)
class Verb:
    base: str
    third: str
    past: str
    ing: str
    zh: str
    objects: tuple[str, ...]  # noun kinds or nouns it takes
    tenses: tuple[str, ...] = ("present", "past", "progressive", "future")  # 在找到, 喜欢了 are not Chinese
    counted: bool = True  # "like" takes generic objects: I like cats, not I like two cats


def _nouns(kind: str, rows: str) -> list[Noun]:
    """Rows of 'singular plural 中文 量词' -> Nouns of one kind."""
    return [Noun(*row.split(), kind) for row in rows.strip().splitlines()]


NOUNS = (
    _nouns("food", """
        apple apples 苹果 个
        orange oranges 橙子 个
        egg eggs 鸡蛋 个
        banana bananas 香蕉 根
        pear pears 梨 个
        peach peaches 桃子 个
        watermelon watermelons 西瓜 个
        cake cakes 蛋糕 个
        sandwich sandwiches 三明治 个""")
    + [Noun("noodles", "noodles", "面条", "碗", "food", "bowl"), Noun("rice", "rice", "米饭", "碗", "food", "bowl")]
    + [Noun(en, en, zh, m, "drink", c) for en, zh, m, c in (
        ("tea", "茶", "杯", "cup"), ("coffee", "咖啡", "杯", "cup"), ("milk", "牛奶", "杯", "glass"),
        ("water", "水", "瓶", "bottle"), ("juice", "果汁", "瓶", "bottle"), ("beer", "啤酒", "瓶", "bottle"))]
    + _nouns("text", """
        book books 书 本
        magazine magazines 杂志 本
        newspaper newspapers 报纸 份
        letter letters 信 封
        novel novels 小说 本
        map maps 地图 张""")
    + _nouns("animal", """
        cat cats 猫 只
        dog dogs 狗 只
        bird birds 鸟 只
        horse horses 马 匹
        fish fish 鱼 条
        cow cows 牛 头
        pig pigs 猪 头
        rabbit rabbits 兔子 只
        duck ducks 鸭子 只
        tiger tigers 老虎 只""")
    + _nouns("thing", """
        pen pens 笔 支
        pencil pencils 铅笔 支
        car cars 车 辆
        bike bikes 自行车 辆
        chair chairs 椅子 把
        umbrella umbrellas 伞 把
        knife knives 刀 把
        table tables 桌子 张
        ticket tickets 票 张
        photo photos 照片 张
        shirt shirts 衬衫 件
        coat coats 外套 件
        hat hats 帽子 顶
        computer computers 电脑 台
        phone phones 手机 部
        key keys 钥匙 把
        bag bags 包 个""")
    + _nouns("plant", """
        flower flowers 花 朵
        tree trees 树 棵""")
    + _nouns("film", """
        movie movies 电影 部""")
)
SMALL_THINGS = ("pen", "pencil", "umbrella", "knife", "ticket", "photo", "key", "bag", "phone", "map", "hat")

VERBS = (
    Verb("eat", "eats", "ate", "eating", "吃", ("food",)),
    Verb("drink", "drinks", "drank", "drinking", "喝", ("drink",)),
    Verb("buy", "buys", "bought", "buying", "买", ("food", "drink", "text", "thing", "flower")),
    Verb("sell", "sells", "sold", "selling", "卖", ("food", "drink", "animal", "thing", "flower")),
    Verb("read", "reads", "read", "reading", "看", ("text",)),
    Verb("write", "writes", "wrote", "writing", "写", ("letter", "novel")),
    Verb("see", "sees", "saw", "seeing", "看见", ("animal", "thing", "plant"), tenses=("past", "future")),
    Verb("like", "likes", "liked", "liking", "喜欢", ("food", "drink", "text", "animal", "thing", "plant", "film"),
         tenses=("present",), counted=False),
    Verb("draw", "draws", "drew", "drawing", "画", ("animal", "thing", "plant")),
    Verb("feed", "feeds", "fed", "feeding", "喂", ("animal",)),
    Verb("wash", "washes", "washed", "washing", "洗", ("car", "bike", "shirt", "coat", "hat", "table", "chair",
                                                      "bag", "knife", "apple", "pear", "peach")),
    Verb("make", "makes", "made", "making", "做", ("cake", "sandwich", "noodles", "rice", "table", "chair")),
    Verb("bring", "brings", "brought", "bringing", "带", ("food", "drink", "text") + SMALL_THINGS),
    Verb("borrow", "borrows", "borrowed", "borrowing", "借", ("text", "bike", "car", "computer") + SMALL_THINGS),
    Verb("repair", "repairs", "repaired", "repairing", "修", ("car", "bike", "chair", "table", "computer", "phone")),
    Verb("use", "uses", "used", "using", "用", ("pen", "pencil", "knife", "computer", "phone", "map", "key")),
    Verb("catch", "catches", "caught", "catching", "抓", ("fish", "bird", "rabbit", "duck")),
    Verb("find", "finds", "found", "finding", "找到", ("animal", "thing", "text"), tenses=("past", "future")),
    Verb("watch", "watches", "watched", "watching", "看", ("film",)),
    Verb("order", "orders", "ordered", "ordering", "点", ("food", "drink")),
    Verb("carry", "carries", "carried", "carrying", "拿", ("text",) + SMALL_THINGS),
    Verb("plant", "plants", "planted", "planting", "种", ("plant",)),
    Verb("pick", "picks", "picked", "picking", "摘", ("flower", "apple", "orange", "pear", "peach")),
)

# (English, Chinese, needs 的, the noun kinds it describes)
ADJECTIVES = (
    ("big", "大", False, ("animal", "thing", "plant")), ("small", "小", False, ("animal", "thing", "plant")),
    ("red", "红", False, ("thing", "plant")), ("new", "新", False, ("thing", "text")),
    ("old", "旧", False, ("thing", "text")), ("black", "黑", False, ("animal", "thing")),
    ("white", "白", False, ("animal", "thing")), ("beautiful", "漂亮", True, ("animal", "thing", "plant")),
    ("expensive", "昂贵", True, ("thing",)), ("cheap", "便宜", True, ("thing",)),
    ("delicious", "好吃", True, ("food",)), ("interesting", "有意思", True, ("text", "film")),
    ("cute", "可爱", True, ("animal",)),
)
# (English, Chinese, third person singular)
SUBJECTS = (("I", "我", False), ("you", "你", False), ("he", "他", True), ("she", "她", True),
            ("we", "我们", False), ("they", "他们", False), ("Tom", "汤姆", True), ("Mary", "玛丽", True))
NUMBERS = ("一", "两", "三", "四", "五", "六", "七", "八", "九", "十")
NUMBER_WORDS = ("a", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
TIMES = {"present": (("every day", "每天"),), "past": (("yesterday", "昨天"), ("last night", "昨晚"),
                                                       ("last week", "上周")),
         "progressive": (("now", "现在"),), "future": (("tomorrow", "明天"), ("next week", "下周"))}
PLACES = (("in the park", "在公园"), ("at home", "在家"), ("at school", "在学校"), ("in the kitchen", "在厨房"),
          ("in the library", "在图书馆"), ("at the market", "在市场"))
BE = {"I": "am", "he": "is", "she": "is", "Tom": "is", "Mary": "is"}  # others: are


def takes(verb: Verb, noun: Noun) -> bool:
    """Whether `verb` makes sense with `noun` as its object."""
    return noun.kind in verb.objects or noun.en in verb.objects


COMBOS = tuple((noun, verb) for verb in VERBS for noun in NOUNS if takes(verb, noun))


def article(word: str) -> str:
    """'an' before a vowel sound, else 'a'."""
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(noun: Noun, count: int, adjective) -> tuple[str, str, list[str]]:
    """English and Chinese object, and its phenomena; count 0 means generic (apples, 苹果)."""
    adj_en, adj_zh, de, _ = adjective or ("", "", False, ())
    zh_adj = adj_zh + ("的" if de else "")
    tags = ["adjective_de"] if de else []
    if count == 0:
        en = noun.en if noun.container else noun.plural
        return (f"{adj_en} {en}".strip(), zh_adj + noun.zh, tags)
    number = NUMBER_WORDS[count - 1]
    if noun.container:
        holder = noun.container if count == 1 else noun.container + ("es" if noun.container.endswith("s") else "s")
        en = f"{article(holder) if count == 1 else number} {holder} of {noun.en}"
    else:
        words = f"{adj_en} {noun.en if count == 1 else noun.plural}".strip()
        en = f"{article(words) if count == 1 else number} {words}"
    return en, NUMBERS[count - 1] + noun.measure + zh_adj + noun.zh, tags + ["measure_word"]


def verb_phrase(subject: tuple, verb: Verb, tense: str, polarity: str) -> tuple[str, str, str, str]:
    """English verb group, English question opener, and the Chinese verb group in two parts: what goes before a
    place phrase (不, 没, 会, 在 ...) and the verb itself (with 了 in the affirmative past)."""
    name, _, third = subject
    be = BE.get(name, "are")
    negative, question = polarity == "negative", polarity == "question"
    if tense == "present":
        do = "does" if third else "do"
        en = f"{do} not {verb.base}" if negative else verb.base if question or not third else verb.third
        return en, do.capitalize(), "不" if negative else "", verb.zh
    if tense == "past":
        en = f"did not {verb.base}" if negative else verb.base if question else verb.past
        return en, "Did", "没" if negative else "", verb.zh if negative else verb.zh + "了"
    if tense == "progressive":
        en = f"{be} not {verb.ing}" if negative else verb.ing if question else f"{be} {verb.ing}"
        return en, be.capitalize(), "没在" if negative else "在", verb.zh
    en = f"will not {verb.base}" if negative else verb.base if question else f"will {verb.base}"
    return en, "Will", "不会" if negative else "会", verb.zh


def sentence(rng: random.Random, noun: Noun, verb: Verb) -> Pair:
    """One random sentence with this object and verb."""
    tense = rng.choice(verb.tenses)
    polarity = rng.choices(("affirmative", "negative", "question"), weights=(6, 2, 2))[0]
    subject = rng.choice(SUBJECTS[1:] if polarity == "question" else SUBJECTS)
    count = 0 if polarity == "negative" or not verb.counted or rng.random() < 0.3 else rng.randint(1, 10)
    fitting = [a for a in ADJECTIVES if noun.kind in a[3] and not noun.container]
    adjective = rng.choice(fitting) if fitting and rng.random() < 0.3 else None
    time = rng.choice(TIMES[tense]) if rng.random() < 0.5 else None
    if time is None and tense in ("present", "past") and verb.past == verb.base and polarity == "affirmative":
        time = TIMES[tense][0]  # "I read a book" is present or past: let a time word decide
    place = rng.choice(PLACES) if tense != "progressive" and rng.random() < 0.35 else None
    return build(subject, verb, noun, tense, polarity, count, adjective, time, place)


def build(subject: tuple, verb: Verb, noun: Noun, tense: str, polarity: str, count: int = 0, adjective=None,
          time: tuple | None = None, place: tuple | None = None) -> Pair:
    """The sentence pair for these choices, labelled with its phenomena."""
    obj_en, obj_zh, tags = noun_phrase(noun, count, adjective)
    verb_en, opener, before, verb_zh = verb_phrase(subject, verb, tense, polarity)
    tail = " ".join(part[0] for part in (place, time) if part)
    if polarity == "question":
        en = f"{opener} {subject[0]} {verb_en} {obj_en} {tail}".strip() + "?"
    else:
        en = f"{subject[0]} {verb_en} {obj_en} {tail}".strip() + "."
    en = en[0].upper() + en[1:]
    # Chinese order: subject, time, (negation / aspect / 会), place, verb, object
    zh = subject[1] + (time[1] if time else "") + before + (place[1] if place else "") + verb_zh + obj_zh
    zh += "吗？" if polarity == "question" else "。"
    tags += ["time_reorder"] * bool(time) + ["place_reorder"] * bool(place)
    tags += ["le_mei"] * (tense == "past") + ["ma_question"] * (polarity == "question")
    return Pair(en, zh, tuple(sorted(tags)), combo=(noun.en, verb.base, noun.measure))


def held_out_combos(rng: random.Random) -> set[tuple[str, str]]:
    """(noun, verb) pairs kept out of training; every noun and verb still appears in training with others."""
    combos = list(COMBOS)
    rng.shuffle(combos)
    held, noun_uses, verb_uses = set(), {}, {}
    for noun, verb in combos:
        noun_uses[noun.en] = noun_uses.get(noun.en, 0) + 1
        verb_uses[verb.base] = verb_uses.get(verb.base, 0) + 1
    for noun, verb in combos:
        if len(held) >= HELD_OUT_SHARE * len(combos):
            break
        if noun_uses[noun.en] > 1 and verb_uses[verb.base] > 1:
            held.add((noun.en, verb.base))
            noun_uses[noun.en] -= 1
            verb_uses[verb.base] -= 1
    return held


def sample(rng: random.Random, combos: list, count: int, taken: set[str]) -> list[Pair]:
    """`count` new sentences (English not in `taken`) over `combos`."""
    pairs = []
    while len(pairs) < count:
        noun, verb = rng.choice(combos)
        pair = sentence(rng, noun, verb)
        if pair.src not in taken:
            taken.add(pair.src)
            pairs.append(pair)
    return pairs


def toy_corpus(seed: int = 0) -> dict[str, list[Pair]]:
    """Train, valid and test pairs; valid and test use only the held-out (noun, verb) combinations."""
    rng = random.Random(seed)
    held = held_out_combos(rng)
    seen = [c for c in COMBOS if (c[0].en, c[1].base) not in held]
    unseen = [c for c in COMBOS if (c[0].en, c[1].base) in held]
    taken: set[str] = set()
    train = sample(rng, seen, SIZES["train"], taken)
    valid = sample(rng, unseen, SIZES["valid"], taken)
    test = sample(rng, unseen, SIZES["test"], taken)
    return {"train": train, "valid": valid, "test": test}


NOUN_BY_NAME = {noun.en: noun for noun in NOUNS}
VERB_BY_NAME = {verb.base: verb for verb in VERBS}
TIME_WORDS = tuple(zh for times in TIMES.values() for _, zh in times)
PLACE_WORDS = tuple(zh for _, zh in PLACES)
ANY_ADJECTIVE = "(?:(?:" + "|".join(zh for _, zh, _, _ in ADJECTIVES) + ")的?)?"  # 的 is adjective_de's check


def precedes(text: str, first: str, second: str) -> bool:
    """Whether `first` occurs in `text` with `second` somewhere after it."""
    at = text.find(first)
    return at >= 0 and text.find(second, at + len(first)) >= 0


def check_phenomena(pair: Pair, hypothesis: str) -> dict[str, bool]:
    """For each phenomenon of a toy pair, whether `hypothesis` gets that one thing right, the rest aside:

    measure_word: the noun's measure word right before it (an adjective may sit between: 两只小猫);
    time_reorder / place_reorder: the sentence's time word / place phrase present, and before the verb;
    le_mei: 了 and 没 exactly as the reference has them (没 never with 了); ma_question: ends in 吗？;
    adjective_de: the two-syllable adjective, 的, then the noun (漂亮的花).
    """
    noun, verb = NOUN_BY_NAME[pair.combo[0]], VERB_BY_NAME[pair.combo[1]]
    hyp, ref = hypothesis.strip(), pair.tgt
    checks = {}
    for name in pair.phenomena:
        if name == "measure_word":
            ok = re.search(re.escape(noun.measure) + ANY_ADJECTIVE + re.escape(noun.zh), hyp) is not None
        elif name == "time_reorder":
            ok = precedes(hyp, next(t for t in TIME_WORDS if t in ref), verb.zh)
        elif name == "place_reorder":
            ok = precedes(hyp, next(p for p in PLACE_WORDS if p in ref), verb.zh)
        elif name == "le_mei":
            ok = ("了" in hyp) == ("了" in ref) and ("没" in hyp) == ("没" in ref)
        elif name == "ma_question":
            ok = hyp.endswith("吗？")
        elif name == "adjective_de":
            adjective = next(zh for _, zh, de, _ in ADJECTIVES if de and zh + "的" + noun.zh in ref)
            ok = adjective + "的" + noun.zh in hyp
        else:
            continue
        checks[name] = ok
    return checks
