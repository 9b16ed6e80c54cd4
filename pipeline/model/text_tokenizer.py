"""A saved model's tokenizer, loaded straight from its `tokenizer.json` with the `tokenizers` library.

For a directory whose `tokenizer_config.json` names the generic fast tokenizer (`PreTrainedTokenizerFast`,
or `TokenizersBackend` as transformers 5 writes it), transformers itself does no more than this: it loads
`tokenizer.json` into a `tokenizers.Tokenizer` and, per call, switches that tokenizer's truncation and
padding on or off. Doing it here spares importing transformers (seconds) when a model only scores text.
`TextTokenizer` answers the calls capcode makes (a text or a list of texts; special tokens, truncation to
`max_length`, padding to the longest, torch tensors) with the ids and masks transformers returns for them
(tested against `AutoTokenizer`). Other tokenizer classes rebuild parts of the tokenizer in Python and are
loaded through transformers (`load_tokenizer`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenizers import Tokenizer

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
GENERIC_CLASSES = ("PreTrainedTokenizerFast", "TokenizersBackend")
SPECIAL_TOKENS = ("cls_token", "sep_token", "bos_token", "eos_token", "pad_token", "unk_token")


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json stores it: a string or an AddedToken dict."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


class TextTokenizer:
    """The part of a transformers fast tokenizer's interface capcode uses, on a `tokenizers.Tokenizer`."""

    def __init__(self, backend: Tokenizer, config: dict[str, Any]) -> None:
        self.backend = backend
        self.padding_side = config.get("padding_side", "right")
        self.truncation_side = config.get("truncation_side", "right")
        for name in SPECIAL_TOKENS:
            token = _token_text(config.get(name))
            setattr(self, name, token)
            setattr(self, f"{name}_id", None if token is None else backend.token_to_id(token))
        self.pad_token_type_id = 0

    # set in __init__ for each of SPECIAL_TOKENS; declared for type checkers
    cls_token_id: int | None
    sep_token_id: int | None
    bos_token_id: int | None
    eos_token_id: int | None
    pad_token_id: int | None
    pad_token: str | None

    def __call__(self, text: str | Sequence[str], *, add_special_tokens: bool = True, truncation: bool = False,
                 max_length: int | None = None, padding: bool = False,
                 return_tensors: str | None = None) -> dict[str, Any]:
        """`input_ids` and `attention_mask` for `text` (one list per text, or flat for a single string)."""
        backend = self.backend
        if truncation:
            if max_length is None:
                raise ValueError("truncation needs max_length")
            backend.enable_truncation(max_length, stride=0, strategy="longest_first", direction=self.truncation_side)
        else:
            backend.no_truncation()
        if padding:
            if self.pad_token_id is None or self.pad_token is None:
                raise ValueError("padding needs a pad token")
            backend.enable_padding(direction=self.padding_side, pad_id=self.pad_token_id, pad_token=self.pad_token,
                                   pad_type_id=self.pad_token_type_id, length=None, pad_to_multiple_of=None)
        else:
            backend.no_padding()
        single = isinstance(text, str)
        encodings = backend.encode_batch([text] if single else list(text), add_special_tokens=add_special_tokens)
        out: dict[str, Any] = {"input_ids": [e.ids for e in encodings],
                               "attention_mask": [e.attention_mask for e in encodings]}
        if return_tensors == "pt":
            import torch

            return {key: torch.tensor(value, dtype=torch.long) for key, value in out.items()}
        if return_tensors is not None:
            raise ValueError(f"return_tensors {return_tensors!r}: only 'pt' or None")
        return {key: value[0] for key, value in out.items()} if single else out


def load_tokenizer(directory: Path) -> Any:
    """The tokenizer saved in `directory`: a `TextTokenizer` when transformers would only load its
    tokenizer.json, else transformers' own `AutoTokenizer`."""
    config_path, tokenizer_path = directory / CONFIG_FILE, directory / TOKENIZER_FILE
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    plain = (config.get("tokenizer_class") in GENERIC_CLASSES and tokenizer_path.is_file()
             and not {"add_bos_token", "add_eos_token", "add_prefix_space"} & set(config)
             and not config.get("split_special_tokens"))
    if not plain:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(directory, local_files_only=True)
    from tokenizers import Tokenizer

    try:
        backend = Tokenizer.from_file(str(tokenizer_path))
    except Exception as err:  # noqa: BLE001 - tokenizers raises a bare Exception for a damaged file
        raise ValueError(f"{TOKENIZER_FILE}: {err}") from None
    return TextTokenizer(backend, config)
