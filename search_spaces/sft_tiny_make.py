"""Make the offline instruction-tuning example's model and data (no network): a 2-layer Llama built from a
config, a word-level tokenizer over the built-in tweets' words that carries a chat template, and chat rows
(the user posts a tweet, the assistant names its sentiment). Writes search_spaces/sft_tiny/; then

    python search_spaces/sft_tiny_make.py
    hpsearch run search_spaces/sft_tiny.yaml
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from hpsearch.spec.schema import DatasetConfig
from hpsearch.train.data import load_splits

FOLDER = Path(__file__).parent / "sft_tiny"
ROWS = 3000  # 2,900 to train on, 100 to evaluate (the space file's eval_size)
WORDS = 2000  # the most frequent words; the rest read as <unk>
# Each turn is "<role> content </s>"; the assistant's inside {% generation %}, so TRL knows the answer's tokens.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<' + m['role'] + '> ' }}"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] + ' </s> ' }}{% endgeneration %}"
    "{% else %}{{ m['content'] + ' </s> ' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<assistant> ' }}{% endif %}"
)


def main() -> None:
    # the built-in tweets as hpsearch reads them (the file's encoding, its split): texts and sentiment names
    splits = load_splits(DatasetConfig(name="tweets-sentiment", train_size=ROWS))
    tweets = pd.DataFrame({"text": splits.train_texts[:ROWS],
                           "sentiment": [splits.label_names[i] for i in splits.train_labels[:ROWS]]})
    # 1. the tokenizer: whitespace-separated, lowercased words
    counts = Counter(word for text in tweets["text"] for word in str(text).lower().split())
    specials = ["<pad>", "<unk>", "<s>", "</s>", "<system>", "<user>", "<assistant>"]
    answers = sorted(set(tweets["sentiment"]))  # the assistant's words must be in the vocabulary, frequent or not
    words = [w for w, _ in counts.most_common(WORDS) if w not in specials and w not in answers]
    vocab = {w: i for i, w in enumerate(specials + answers + words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>", chat_template=CHAT_TEMPLATE)
    # 2. the model: 2 layers of 64, about 0.2M parameters, most of them the tied embeddings (2,010 x 64)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                         pad_token_id=0, bos_token_id=2, eos_token_id=3, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(FOLDER / "model")
    tokenizer.save_pretrained(FOLDER / "model")
    # 3. the chat rows
    with open(FOLDER / "chat.jsonl", "w") as out:
        for text, sentiment in zip(tweets["text"], tweets["sentiment"], strict=True):
            out.write(json.dumps({"messages": [{"role": "user", "content": str(text)},
                                               {"role": "assistant", "content": str(sentiment)}]}) + "\n")
    print(f"wrote {FOLDER}/model and {FOLDER}/chat.jsonl ({ROWS} rows)")


if __name__ == "__main__":
    main()
