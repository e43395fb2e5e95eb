"""The course's English–Chinese glossary, shown in notebook 00; every Chinese term a notebook uses is here.

Entries: English term -> Chinese term. Grouped by the notebook that introduces them (each helper edits
only its own group).
"""

GLOSSARY_BY_NOTEBOOK: dict[str, dict[str, str]] = {
    "00": {
        "Transformer": "Transformer 模型",
        "encoder": "编码器",
        "decoder": "解码器",
        "sequence to sequence (seq2seq)": "序列到序列",
        "token": "词元",
        "vocabulary": "词表",
        "tensor": "张量",
        "exercise": "练习",
        "solution": "参考答案",
    },
    "01": {},
    "02": {},
    "03": {},
    "04": {},
    "05": {},
    "06": {},
    "07": {},
    "08": {},
    "09": {},
    "10": {},
    "11": {},
    "12": {},
}

GLOSSARY: dict[str, str] = {en: zh for group in GLOSSARY_BY_NOTEBOOK.values() for en, zh in group.items()}
