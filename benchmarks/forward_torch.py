"""The PyTorch side of benchmarks/forward.sh: forward tokens/s of a randomly initialised GPT-2 small
(transformers GPT2LMHeadModel, float32, eager attention) on the same batch shape and thread count.
Pinned versions: torch 2.x, transformers 4.46.3."""
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

B, T, reps = (int(a) for a in sys.argv[1:4])
torch.manual_seed(0)
model = GPT2LMHeadModel(GPT2Config(attn_implementation="eager")).eval()
ids = torch.randint(0, 50257, (B, T))
with torch.inference_mode():
    model(ids)
    best = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        model(ids)
        best = min(best, time.perf_counter() - t0)
print(f"pytorch forward: {B * T / best:.0f} tokens/s ({torch.get_num_threads()} threads)")
