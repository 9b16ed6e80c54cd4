"""README item 38: the share of padded tokens in predict's length-sorted batches, per batch size, on the quotes x 8
(`python -m pipeline.tools.quotes_bench_input -o Q.jsonl`) and on `capcode bench`'s 400 corpus fragments.

Usage, from the repository root after `make run`:
    python reports/hardware/intel-avx512bf16/round20/padding_share.py Q.jsonl data/prepared/fragments.jsonl
"""
import sys
from pathlib import Path

import numpy as np

from pipeline.bench import _codable_texts
from pipeline.core.codebook import load_codebook
from pipeline.model.classifier import load_model, model_input_text

model, tokenizer, metadata = load_model(Path("models/default"), load_codebook())
for prepared, limit in ((Path(sys.argv[1]), 376), (Path(sys.argv[2]), 400)):
    texts = _codable_texts(prepared, limit)
    body = metadata.max_length - 2  # a text longer than the window counts with its first window only
    widths = sorted(min(len(tokenizer(model_input_text(t, metadata.text_prefix), add_special_tokens=False)
                            ["input_ids"]), body) + 2 for t in texts)
    print(f"{prepared}: {len(widths)} fragments, tokens median {np.median(widths)}, p90 {np.percentile(widths, 90)}, "
          f"real tokens {sum(widths)}")
    for size in (8, 16, 32, 64):
        padded = sum(max(widths[i:i + size]) * len(widths[i:i + size]) for i in range(0, len(widths), size))
        print(f"  batches of {size}: {padded} padded tokens, {padded / sum(widths) - 1:.1%} padding")
