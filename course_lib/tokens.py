"""Course-wide special token ids, shared by every vocabulary, model and decoder."""

PAD_ID = 0  # <pad>: fills short sentences up to the batch length
BOS_ID = 1  # <bos>: starts every target sequence
EOS_ID = 2  # <eos>: ends a sentence
UNK_ID = 3  # <unk>: any word the vocabulary does not know

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")  # index == id
