"""A tiny random BERT with a WordPiece tokenizer trained on a few Dutch sentences, built in the tests.

Fast tests train and predict with it; one end-to-end test uses the real converted backbone instead.
"""

from __future__ import annotations

from pathlib import Path

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


def build_tiny_backbone(directory: Path) -> Path:
    """Write a tiny BERT encoder and fast tokenizer to `directory` (a standard Hugging Face directory)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(DUTCH_SENTENCES * 4, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
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
