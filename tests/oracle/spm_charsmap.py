"""spm_charsmap.py TEXT_FILE WORK_DIR [RULE]: trains a small SentencePiece
model on TEXT_FILE (in WORK_DIR) with normalization rule RULE (default
nmt_nfkc; nfkc, nmt_nfkc_cf, nfkc_cf are others) and prints its normalizer
spec's precompiled_charsmap in base64, as tokenizer.json's Precompiled
normalizer holds it. Needs the sentencepiece module (Debian:
python3-sentencepiece). The model file is read with a few lines of
protobuf decoding: ModelProto field 3 is the normalizer spec, whose field
2 is the charsmap."""
import base64
import os
import sys

import sentencepiece as spm


def varint(b, i):
    x = s = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return x, i


def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("unknown wire type %d" % wt)
        yield num, wt, v


def main():
    text, work = sys.argv[1], sys.argv[2]
    rule = sys.argv[3] if len(sys.argv) > 3 else "nmt_nfkc"
    os.makedirs(work, exist_ok=True)
    prefix = os.path.join(work, "spm_" + rule)
    spm.SentencePieceTrainer.train(input=text, model_prefix=prefix, vocab_size=1000, model_type="unigram", character_coverage=0.9995,
                                   normalization_rule_name=rule, input_sentence_size=20000,
                                   shuffle_input_sentence=True, minloglevel=2, hard_vocab_limit=False)
    with open(prefix + ".model", "rb") as f:
        model = f.read()
    for num, wt, v in fields(model):
        if num == 3 and wt == 2:
            for n2, w2, v2 in fields(v):
                if n2 == 2 and w2 == 2:
                    print(base64.b64encode(v2).decode())
                    return 0
    print("no precompiled_charsmap in the model", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
