"""The Chinese the pipeline knows by name, in one place: character ranges, punctuation, place suffixes,
question and stop words, official titles, organisations, pronouns, units and date shapes.

Every module that needs one of these imports it from here, so the lists cannot drift apart. Words are given in
simplified script: the pipeline compares them with the search form of a text (``qa.script.to_search``).

>>> HAN_RUN.findall("乡村振兴2023年")
['乡村振兴', '年']
>>> is_han("镇"), is_han("A")
(True, False)
"""

from __future__ import annotations

import re

# ---------------------------------------------------------------------------------------------- characters

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK extension A, unified ideographs, compatibility ideographs
HAN_RUN = re.compile(f"[{HAN}]+")

SENTENCE_ENDS = "。！？!?；;…"
CLAUSE_ENDS = "，,、：:"
CLOSERS = "”’」』》）)】\"'"  # may follow a sentence end and still belong to the sentence
QUOTE_PAIRS = {"“": "”", "「": "」", "『": "』", "《": "》"}  # quotations a sentence never ends inside
BRACKET_PAIRS = (("“", "”"), ("《", "》"), ("「", "」"), ("(", ")"), ("（", "）"), ("‘", "’"))


def is_han(ch: str) -> bool:
    """True for a Chinese character (any of the ``HAN`` ranges)."""
    return bool(HAN_RUN.fullmatch(ch))


# ---------------------------------------------------------------------------------------------- words

PLACE_SUFFIXES = ("嘎查", "苏木", "街道", "社区", "园区", "镇", "村", "旗", "区", "县", "市", "乡", "盟", "州", "省")
# A place word naming the scope, not the subject: 全镇 is the whole town, and a sentence on 全镇's 魔芋 says nothing of
# its 茶园.
SCOPE_WORD = re.compile(rf"[全本该我](?:{'|'.join(PLACE_SUFFIXES)})")
# Spoken question words and the written ones the reader was trained on (CMRC 2018's questions are written
# Chinese): 啥 is 什么 and 咋 is 怎么; a modal particle at the end of a question adds nothing to it (来着:
# "…是多少来着", asking again).
SPOKEN_WORDS = (("啥子", "什么"), ("啥", "什么"), ("咋样", "怎样"), ("咋", "怎么"))
SPOKEN_ENDINGS = ("来着", "來著", "啊", "呀", "呢", "吧", "嘛", "呗", "唄", "啦", "哦")
QUESTION_WORDS = ("谁", "什么", "多少", "几", "哪", "如何", "怎", "何时", "何种", "为何", "百分之", "是否", "吗")
STOP_TOKENS = frozenset(  # a list of words reads best as one string
    "的 了 在 是 和 与 及 或 等 为 对 把 被 将 从 向 于 以 由 也 都 就 还 又 个 之 其 "  # noqa: SIM905
    "这 那 有 中 上 下 吗 呢 吧 啊 "
    "什么 多少 哪些 哪个 哪里 哪天 哪次 哪年 几 谁 何 何时 怎么 怎样 如何 是否 是不是 请问 叫 叫什么 "
    "这个 那个 这些 那些 该 本 此 名字 姓名 名称 一共 总共 共有 总计 合计 到底 究竟 时候 方面".split()
)
OFFICIAL_TITLES = ("书记", "镇长", "乡长", "县长", "市长", "区长", "旗长", "主任", "主席", "局长", "部长", "厅长",
                   "省长", "苏木达")
ORGANISATIONS = frozenset("人民政府 政府 党委 党工委 党支部 党总支 纪委 人大 管委会 合作社".split())
PRONOUNS = frozenset("它 它们 他们 她们 其 这里 那里 这儿 那儿 当地 该地 此地 本地".split())
PERSONAL_PRONOUNS = frozenset("它 它们 他们 她们 其".split())  # may stand for an organisation, not only a place
MEASURE_WORDS = frozenset("名个位座项次户家人所条处间件")
COUNT_UNITS = ("人次", "人", "户", "家", "个", "项", "名", "次")
AMOUNT_UNITS = ("平方公里", "公里", "万元", "亿元", "元", "亩", "吨", *COUNT_UNITS)  # longest first where nested

# jieba dictionary counts: a word part rarer than this is a name part (伊金霍 3, 宋家 10, 布拉格 309) rather than
# a common word (示范 981, 部分 27619).
RARE_WORD_FREQ = 500

# Questions about a document itself, not its content ("这篇报道的作者是谁？"): words naming the document, and the
# words that ask for each header field (``Document.metadata``; "person" is its author, else its speaker).
# A pointer (这篇, 那份) names the document together with the noun it counts, before 的 (那篇稿子的, 这份材料的).
DOCUMENT_WORDS = re.compile(r"文章|报道|稿件|本文|该文|一文|新闻|通讯|报告|讲话|"
                            r"(?:这|那|该|此)一?[篇份](?:[\u4e00-\u9fff]{1,2}(?=的))?")
FIELD_QUESTIONS = (
    ("person", re.compile(r"作者|谁写|撰稿|撰写|写的|记者|报告人|讲话人|谁来?(?:作|做|讲)|谁代表")),
    ("source", re.compile(r"来源|出自|哪个网站|哪家媒体|发布机构|哪个单位发布")),
    ("editor", re.compile(r"责任编辑|责编|(?:编辑|审核|校对|审校)(?:人|者)?(?:是谁|为谁)|谁(?:编辑|审核|校对|审校)")),
    ("date", re.compile(r"(?:哪天|哪一天|何时|什么时候|什么时间|几月几日|日期|时间).{0,4}(?:发布|发表|刊登|刊发)|"
                        r"(?:发布|发表|刊登|刊发)(?:于|在)?(?:哪天|哪一天|何时|什么时候|日期|时间)")),
    # the day a report or speech was delivered: its verb ends the question ("…是哪一天作的？", "…哪天作的报告？"), and
    # is not the 作 of 工作 ("哪天开展集中清扫工作？" asks about content)
    ("delivered", re.compile(r"(?:哪天|哪一天|何时|什么时候|几月几日).{0,8}(?:(?<!工)作|做|讲|召开|举行)的?"
                             r"(?:报告|讲话)?\s*[？?]?$|(?:报告|讲话)的?(?:日期|时间)")),
)

# jieba's tags of words that never start a name or a noun phrase: pronoun, preposition, conjunction, particle,
# numeral, measure word, adverb, modal, interjection, locative.
FUNCTION_FLAGS = ("r", "p", "c", "u", "m", "q", "d", "y", "e", "f")
# The noun a question ends by asking for: "什么工作法？", "哪个乡村游项目？" (2–6 Chinese characters up to the end,
# a mark or 呢).
ASKED_NOUN = re.compile(r"(?:什么|哪一?[个种项家座条所类])([\u4e00-\u9fff]{2,6}?)呢?(?:[^\u4e00-\u9fff]|$)")
# Questions that ask who holds a post (…书记是谁？, 镇长叫什么名字？, 社长是谁？): a person answers them, not a phrase.
_POST = r"(?:书记|[^\W\d_]长|主任|主席|委员|经理|负责人|主持人|领导)"
ROLE_HOLDER_QUESTION = re.compile(_POST + r"(?:是|叫|为)?(?:谁|什么名字|哪位)")
POST_TITLE = re.compile(_POST + "$")  # a word that names a post: 镇长, 副书记
WHO_QUESTION = re.compile(r"谁|哪位")  # asks for a person or a body, which one clause names
# Questions that ask for a name, which no adverbial (通过…, 在…) gives (``answering.opens_with_preposition``).
NAME_QUESTION = re.compile(r"叫什么|什么名字|名字是什么|什么名称|名称是什么|叫做什么|称为什么|称作什么")
# Questions that ask for a quantity, a count, a year or a day, and the numbers (digits or Chinese numerals) an answer
# to one must hold. 哪几 asks for a list and 几乎 means "almost": neither asks for a number.
QUANTITY_QUESTION = re.compile(r"多少|(?<!哪)几(?!乎)|哪一?[年天]|多大")
# Questions that ask for a day, and what names one: 日 or 号 (4月6日, 次日, 15号) or a date in digits (2023-04-22).
DAY_QUESTION = re.compile(r"哪一?天|几月几[日号]")
DAY = re.compile(r"[日号]|[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}")
# Questions that ask when, and what an answer to one names: a number or a word of time (年, 季, 朝, 期, 前后…). Of
# CMRC 2018 train's 571 gold answers to such questions, 6 name none (魏晋, 幼儿园). 何时何地 asks where too.
TIME_QUESTION = re.compile(r"什么时[候间]|何时(?!何地)|哪个时[候间期代]|(?:什么|哪个)(?:年代|时期|朝代)")
TIME_MARK = re.compile(r"[0-9〇零一二三四五六七八九十百两]|[年月日号天时季春夏秋冬世纪代朝期晨晚夜周旬前后初末间午]")
# Questions that ask how much something changed (增长了多少, 涨了几成, 下降了百分之多少, 增幅是多少), and the words
# that say a figure is a change, not a level (同比增长10.95%, 新增岗位120个), which an answer to one must be said with
# (``answering.names_change``).
_CHANGE = r"增长|增加|提高|提升|上升|上涨|下降|减少|降低|下跌|回落|增幅|增速|涨幅|降幅|[增涨降跌]"
CHANGE_QUESTION = re.compile(rf"(?:{_CHANGE})了?(?:百分之)?(?:多少|几)|(?:增幅|增速|涨幅|降幅)\S{{0,2}}(?:多少|几)")
CHANGE_WORD = re.compile(_CHANGE)
NUMBER = re.compile(r"[0-9０-９.]+|[〇零一二三四五六七八九十百千万亿两]+")
# A number and nothing else, bracketed or not: a section's or a list's number ((四), 3.), no answer to a question
# that asks for no quantity (``answering.is_bare_number``).
BARE_NUMBER = re.compile(rf"[(（]?(?:{NUMBER.pattern})[)）、.]?")
# A list item's numeral, not a figure: 一是, 二要, 三、 at the start of a clause (二要突出重点 counts nothing).
LIST_MARKER = re.compile(r"(?:^|(?<=[，,、；;。：:！？\s（(]))[一二三四五六七八九十]+(?=是|要(?!素)|、)")
# The character after 多少/几 and any order of magnitude, with the noun after it ("多少名工作人员" → 名, 工作人员),
# and the character after a figure in digits with 余/多 and orders of magnitude between ("38万余人次" → 人): where
# a question asks for a figure's unit and where a text gives one. Whether that character is a unit at all is read
# from the documents (``answering.figure_units``).
_ORDERS = "[十百千万亿]*"
_MAGNITUDE = f"[余多]?{_ORDERS}[余多]?"
GENERAL_CLASSIFIER = "个"  # counts anything ("几个孩子" → "3名子女"): a question asking 几个 names no unit
ASKED_UNIT = re.compile(rf"(?:多少|(?<!哪)几(?!乎)){_ORDERS}([^\W\d_])([^\W\d_]{{0,4}})")
FIGURE_UNIT = re.compile(rf"[0-9０-９.]+{_MAGNITUDE}([^\W\d_])")
DATE_UNITS = "年月日号时"  # a figure in these dates something; it counts nothing
NEGATING_PREFIX = "非"  # 非X names what is not X: 非税收收入 is the revenue other than 税收收入
NUMBER_WITH_UNIT = re.compile(rf"({NUMBER.pattern}){_MAGNITUDE}([^\W\d_])")

# ---------------------------------------------------------------------------------------------- shapes

DATE = re.compile(r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}(?:\s*日)?")
YEAR = re.compile(r"\d{4}年度?")
HEADING_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")  # a heading may name its year without 年
# An ordinal from 2 to 99 and what it counts: 第二届, 第3次, 第十一批 (the numeral and the character after it).
# Not 第一: a text says 首届, 首次, 首播 for it as often.
CHINESE_DIGITS = "一二三四五六七八九"
ORDINAL = re.compile(r"第([2-9]|[1-9][0-9]|[二三四五六七八九]?十[一二三四五六七八九]?|[二三四五六七八九])([^\W\d_])")
