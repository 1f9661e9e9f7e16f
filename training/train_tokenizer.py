"""Stage 2: trains the bundled model's byte-level BPE tokenizer with Hugging Face `tokenizers`.

Input: the public-domain corpora (training/data/corpus/*.txt, from prepare-corpus.sh) and task text
from the RULER-family generator (gen-tasks.ts --text), so needle keys, numbers, uuids and the task
templates tokenize compactly. Digits are split one by one (numbers and uuids become per-character
tokens, which copies well). Output: tokenizer.json and tokenizer_config.json (special tokens and
the chat template) in --out.

Usage: python3 training/train_tokenizer.py --corpus training/data/corpus --tasks tasks.jsonl --out DIR
"""
import argparse
import json
import os

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

SPECIAL = ["<|startoftext|>", "<|endoftext|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|mdm_mask|>"]

# LLaDA-style chat template (one user turn per message, then the assistant header).
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def texts(corpus_dir, tasks_file):
    for name in sorted(os.listdir(corpus_dir)):
        if name.endswith(".txt"):
            with open(os.path.join(corpus_dir, name), encoding="utf-8") as f:
                para = []
                for line in f:
                    para.append(line)
                    if len(para) >= 50:
                        yield "".join(para)
                        para = []
                if para:
                    yield "".join(para)
    if tasks_file:
        with open(tasks_file, encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)["text"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--tasks")
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab", type=int, default=2048)
    a = ap.parse_args()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=a.vocab, min_frequency=2, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(texts(a.corpus, a.tasks), trainer=trainer)
    bos = tok.token_to_id("<|startoftext|>")
    tok.post_processor = processors.TemplateProcessing(single="<|startoftext|> $A", special_tokens=[("<|startoftext|>", bos)])
    os.makedirs(a.out, exist_ok=True)
    tok.save(os.path.join(a.out, "tokenizer.json"))
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "mask_token": "<|mdm_mask|>",
        "model_max_length": 4096,
        "chat_template": CHAT_TEMPLATE,
    }
    with open(os.path.join(a.out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    ids = {t: tok.token_to_id(t) for t in SPECIAL}
    print(json.dumps({"vocab": tok.get_vocab_size(), "special": ids}))


if __name__ == "__main__":
    main()
