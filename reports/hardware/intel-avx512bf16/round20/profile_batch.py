"""README item 38: where the encoder's time goes in a batch of 16 and of 64 fragments of 50 tokens (the quotes'
median), the same 12,800 tokens each (torch.profiler, self CPU time per operator), and the matrix products' rate.

Usage, from the repository root after `make run`, on an otherwise idle machine:
    python reports/hardware/intel-avx512bf16/round20/profile_batch.py
"""
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from pipeline.core.codebook import load_codebook
from pipeline.model.classifier import load_model

model, _, _ = load_model(Path("models/default"), load_codebook())
model.eval()
config = model.encoder.config
width, tokens = 50, 12_800
hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
flop_per_token = 2 * layers * (4 * hidden * hidden + 2 * hidden * inner)  # the linear layers' multiply-adds x 2
for size in (16, 64):
    ids = torch.randint(1000, 20000, (size, width))
    mask = torch.ones(size, width, dtype=torch.long)
    mask[-1, 40:] = 0  # one padded row, as in a length-sorted batch
    with torch.inference_mode():
        for _ in range(3):
            model(input_ids=ids, attention_mask=mask)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(tokens // (size * width)):
                model(input_ids=ids, attention_mask=mask)
    total = {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
    everything = sum(total.values())
    print(f"batch {size} x {width} tokens, {tokens} tokens: {everything:.2f} s in all")
    for key in ("aten::addmm", "aten::_scaled_dot_product_flash_attention_for_cpu", "aten::gelu", "aten::copy_",
                "aten::native_layer_norm", "aten::add"):
        print(f"  {key}: {total.get(key, 0.0):.3f} s ({total.get(key, 0.0) / everything:.0%})")
    print(f"  matrix products: {flop_per_token * tokens / total['aten::addmm'] / 1e9:.0f} GFLOP/s")
