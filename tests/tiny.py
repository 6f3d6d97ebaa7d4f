"""Tiny models and data for tests: a BERT of a few thousand parameters and a CSV it can learn in a second."""

from __future__ import annotations

import random
from pathlib import Path

WORDS = {
    "good": ["good", "great", "love", "happy", "nice", "fine"],
    "bad": ["bad", "awful", "hate", "sad", "poor", "ugly"],
}
FILLER = ["the", "a", "movie", "day", "food", "is", "was", "this", "very", "so"]


def make_model(folder: Path, layers: int = 2, hidden: int = 16) -> Path:
    """Save a tiny BERT and its word-level tokenizer to `folder`."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted({w for ws in WORDS.values() for w in ws} | set(FILLER))
    tokenizer = BertTokenizerFast(vocab={word: i for i, word in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=64, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_decoder(folder: Path, tokenizer_from: Path) -> Path:
    """Save a tiny GPT-2 (a few thousand parameters) with the word-level tokenizer of the tiny BERT in
    `tokenizer_from` (make_model's folder)."""
    import shutil

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=40, n_embd=32, n_layer=2, n_head=2, n_positions=64, pad_token_id=0,
                        bos_token_id=2, eos_token_id=3)  # the BERT tokenizer's [CLS] and [SEP]
    GPT2LMHeadModel(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tokenizer_from / name, folder / name)
    return folder


def make_csv(path: Path, rows: int = 200, seed: int = 0, header: str = "text,label") -> Path:
    """Sentences whose label is told by three sentiment words among filler words."""
    rng = random.Random(seed)
    lines = [header]
    for _ in range(rows):
        label = rng.choice(["good", "bad"])
        words = rng.sample(FILLER, 2) + rng.sample(WORDS[label], 3)
        rng.shuffle(words)
        lines.append(f"{' '.join(words)},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


class Channel:
    """The study's end of a trial's pipe, as the trial sees it: records reports, never prunes."""

    def __init__(self, keep: bool = False):
        self.reports: list[tuple[int, float]] = []
        self.keep = keep

    def report(self, step, value):
        self.reports.append((step, value))
        return False

    def progress(self, step, total):
        pass

    def ask(self, *message):
        return self.keep  # "keep?": whether the trial saves its model


# A chat template in the Jinja form transformers renders: each turn "<role> content </s>", the assistant's
# turns inside {% generation %} so that TRL's assistant-only loss knows which tokens are the answer's.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<' + m['role'] + '> ' }}"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] + ' </s> ' }}{% endgeneration %}"
    "{% else %}{{ m['content'] + ' </s> ' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<assistant> ' }}{% endif %}"
)


def make_chat_decoder(folder: Path, chat_template: str | None = CHAT_TEMPLATE) -> Path:
    """Save a 2-layer Llama (a few thousand parameters) and a word-level tokenizer that carries `chat_template`
    (None: a tokenizer without one), built from a config: no network."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<s>", "</s>", "<system>", "<user>", "<assistant>"]
    words = sorted({w for ws in WORDS.values() for w in ws} | set(FILLER) | {"->", "good", "bad", "say"})
    vocab = {word: i for i, word in enumerate(specials + words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>")
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         pad_token_id=0, bos_token_id=2, eos_token_id=3, tie_word_embeddings=True)
    folder.mkdir(parents=True, exist_ok=True)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_chat_rows(rows: int = 200, seed: int = 0) -> list[dict]:
    """Chat rows: the user says sentiment words among fillers, the assistant answers good or bad."""
    rng = random.Random(seed)
    out = []
    for _ in range(rows):
        label = rng.choice(["good", "bad"])
        words = rng.sample(FILLER, 2) + rng.sample(WORDS[label], 3)
        rng.shuffle(words)
        out.append({"messages": [{"role": "user", "content": " ".join(words)},
                                 {"role": "assistant", "content": label}]})
    return out
