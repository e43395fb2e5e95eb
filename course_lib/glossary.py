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
        "glossary": "术语表",
        "checker": "检查器",
        "slide": "幻灯片",
    },
    "01": {
        "token embedding": "词嵌入",
        "token id": "词元编号",
        "special token": "特殊词元",
        "unknown token": "未知词元",
        "embedding table": "嵌入矩阵",
        "one-hot vector": "独热向量",
        "gradient": "梯度",
        "initialisation": "初始化",
        "dot product": "点积",
        "cosine similarity": "余弦相似度",
        "norm (vector length)": "范数",
        "scaling factor": "缩放因子",
    },
    "02": {},
    "03": {},
    "04": {},
    "05": {},
    "06": {},
    "07": {},
    "08": {},
    "09": {},
    "10": {},
    "11": {
        "Multi-head Latent Attention (MLA)": "多头潜在注意力",
        "KV cache": "键值缓存",
        "Multi-Query Attention (MQA)": "多查询注意力",
        "Grouped-Query Attention (GQA)": "分组查询注意力",
        "latent vector": "潜在向量",
        "low-rank compression": "低秩压缩",
        "Rotary Position Embedding (RoPE)": "旋转位置编码",
        "decoupled RoPE": "解耦旋转位置编码",
        "weight absorption": "权重吸收",
        "prefill": "预填充",
        "decoding": "解码",
        "RMSNorm": "均方根归一化",
        "padding": "填充",
        "head dimension": "头维度",
    },
    "12": {},
}

GLOSSARY: dict[str, str] = {en: zh for group in GLOSSARY_BY_NOTEBOOK.values() for en, zh in group.items()}
