"""A tiny random BERT with a WordPiece tokenizer over a few Dutch sentences, built in the tests.

Fast tests train and predict with it; one end-to-end test uses the real converted backbone instead. Both the
weights and the vocabulary are the same in every test session: the weights come from a fixed seed, and the
vocabulary is listed in a fixed order (`tiny_vocabulary`) rather than learnt by the `tokenizers` WordPiece
trainer, which breaks ties between equally frequent merges in hash order. With the trainer, each session got
another vocabulary (another vocabulary size even), hence another tiny model and other suggestions: the review
loop's tests failed in about one session in four when that model suggested every code everywhere.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

DUTCH_SENTENCES = [
    "We hebben een visie op integratie in het meerjarenplan geschreven.",
    "De integratieambtenaar werkt samen met de scholen en de vrijwilligers.",
    "Het managementteam bespreekt het budget en het personeel.",
    "Euh, allez, het taalcafé loopt elke dinsdag in de bibliotheek.",
    "De schepen wil dat de diensten beter afstemmen.",
    "Met de zelforganisaties en het agentschap overleggen we elk kwartaal.",
    "Ja, dat is zo, hé. Goeiemorgen, mag ik de opname starten?",
    "De gemeente heeft geen integratiedienst, de OCMW-dienst doet dat erbij.",
]


SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_vocabulary(normalizer: Any, pre_tokenizer: Any) -> dict[str, int]:
    """WordPiece ids in a fixed order: the special tokens, every character of the sentences and of printable
    ASCII (as a word and as a continuation `##c`, so no ASCII word of the test texts becomes [UNK]), then every whole
    word of the sentences as the tokenizer's `normalizer` and `pre_tokenizer` cut them. A word outside the list
    is spelt out in characters."""
    words = sorted({word for sentence in DUTCH_SENTENCES
                    for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(sentence))})
    characters = sorted(set(string.ascii_lowercase + string.digits + string.punctuation) | set("".join(words)))
    pieces = SPECIAL_TOKENS + characters + ["##" + c for c in characters] + [w for w in words if len(w) > 1]
    return {piece: index for index, piece in enumerate(dict.fromkeys(pieces))}


def build_tiny_backbone(directory: Path) -> Path:
    """Write a tiny BERT encoder and fast tokenizer to `directory` (a standard Hugging Face directory)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    tokenizer = Tokenizer(models.WordPiece(vocab=tiny_vocabulary(normalizer, pre_tokenizer), unk_token="[UNK]"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=64,
    )
    config = BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    import torch

    torch.manual_seed(0)
    BertModel(config, add_pooling_layer=False).save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory
