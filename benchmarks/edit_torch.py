#!/usr/bin/env python3
# One whole MEMIT edit in PyTorch, batched as EasyEdit batches it (the six context prompts and the KL
# prompt right-padded in one forward per compute_z step; the keys of the six prompts in one forward per
# layer), on the bundled fact-world model with configs/memit_factworld.json and the six fixed templates
# of bench_edit.c: the reference that benchmarks/edit.sh compares kedit's edit with. Written from
# editing-spec §1–§3; the covariance is computed before timing. Usage: edit_torch.py [N]
import json
import sys
import time

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import GPT2LMHeadModel

FW = "models/factworld"
TEMPLATES = ["{}", "The city is large. {}", "Therefore, she left. {}", "Because of the rain. {}",
             "I think so. {}", "You know it. {}"]
GROUPS = [0, 1, 1, 1, 1, 1]


def main():
    n_edits = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", "2")))
    hp = json.load(open("configs/memit_factworld.json"))
    tok = Tokenizer.from_file(f"{FW}/gpt2/tokenizer.json")
    model = GPT2LMHeadModel.from_pretrained(f"{FW}/gpt2", dtype=torch.float32).eval()  # the file is bf16
    for p in model.parameters():
        p.requires_grad_(False)
    blocks, layers, L = model.transformer.h, hp["layers"], hp["layers"][-1]
    E = len(layers)

    # C per layer: (1/#tokens)·Σ k kᵀ of the W_out input over the first 20k corpus tokens (not timed)
    ids = tok.encode(open(f"{FW}/data/corpus.txt").read()[:120000]).ids[:20000]
    C = []
    for l in layers:
        ks = []
        h = blocks[l].mlp.c_proj.register_forward_pre_hook(lambda m, a: ks.append(a[0][0].double()))
        with torch.no_grad():
            for s in range(0, len(ids), 128):
                model(torch.tensor([ids[s:s + 128]]))
        h.remove()
        K = torch.cat(ks)
        C.append(K.T @ K / K.shape[0])

    def batch(seqs):
        width = max(len(s) for s in seqs)
        x = torch.zeros((len(seqs), width), dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            x[i, :len(s)], mask[i, :len(s)] = torch.tensor(s), 1
        return x, mask

    def lookup(text, subject):  # the subject's last token (spec §1)
        j = text.index(subject) + len(subject)
        return len(tok.encode(text[:j]).ids) - 1

    def edit(req):
        prompt, subject = req["src"], req["subject"]
        y = tok.encode(" " + req["alt"]).ids
        ctx = [t.replace("{}", prompt) for t in TEMPLATES]
        ctx_ids = [tok.encode(c).ids for c in ctx]
        look = [lookup(c, subject) for c in ctx]
        kl_ids, kl_look = tok.encode(subject + " is a").ids, len(tok.encode(subject).ids) - 1
        x, mask = batch([c + y[:-1] for c in ctx_ids] + [kl_ids])
        at = look + [kl_look]
        delta = torch.zeros(model.config.n_embd, requires_grad=True)
        opt = torch.optim.Adam([delta], lr=hp["v_lr"])
        z0, ref = [None], [None]

        def add_delta(mod, args, out):
            h = out[0]
            if z0[0] is None:
                z0[0] = h[0, at[0]].detach().clone()
            rows = torch.arange(len(at))
            h = h.index_put((rows, torch.tensor(at)), h[rows, torch.tensor(at)] + delta)
            return (h,) + tuple(out[1:])
        hook = blocks[L].register_forward_hook(add_delta)
        for it in range(hp["v_num_grad_steps"]):
            opt.zero_grad()
            logp = F.log_softmax(model(x, attention_mask=mask).logits, dim=-1)
            nll = []
            for i, c in enumerate(ctx_ids):
                rows = torch.arange(len(y)) + len(c) - 1
                nll.append(-logp[i, rows, torch.tensor(y)].mean())
            nll = torch.stack(nll).mean()
            lp_kl = logp[len(ctx), kl_look]
            if ref[0] is None:
                ref[0] = lp_kl.detach().clone()
            kl = (lp_kl.exp() * (lp_kl - ref[0])).sum()  # KL(p_cur ‖ p_init)
            loss = nll + hp["kl_factor"] * kl + hp["v_weight_decay"] * delta.norm() / z0[0].norm() ** 2
            if float(loss) < 5e-2 or it == hp["v_num_grad_steps"] - 1:
                break
            loss.backward()
            opt.step()
            with torch.no_grad():
                cap = hp["clamp_norm_factor"] * z0[0].norm()
                if delta.norm() > cap:
                    delta.mul_(cap / delta.norm())
        hook.remove()
        z = (z0[0] + delta.detach()).double()
        xc, mc = batch(ctx_ids)
        for i, l in enumerate(layers):
            ks, hs = [], []
            h1 = blocks[l].mlp.c_proj.register_forward_pre_hook(lambda m, a: ks.append(a[0].double()))
            h2 = blocks[L].register_forward_hook(lambda m, a, o: hs.append(o[0].double()))
            with torch.no_grad():
                model(xc, attention_mask=mc)
            h1.remove()
            h2.remove()
            keys = torch.stack([ks[0][j, look[j]] for j in range(len(ctx))])
            k = torch.stack([keys[torch.tensor(GROUPS) == g].mean(0) for g in (0, 1)]).mean(0).unsqueeze(1)
            r = (z - hs[0][0, look[0]]).unsqueeze(1)                                     # R = Z − H_L
            A = hp["mom2_update_weight"] * C[i] + k @ k.T
            D = (r / (E - i)) @ torch.linalg.solve(A, k).T                              # Δ = R/(E−i)·Kᵀ(λC + KKᵀ)⁻¹
            with torch.no_grad():
                w = blocks[l].mlp.c_proj.weight                                           # Conv1D: (d_ff, d)
                w += D.T.float()
        return it + 1

    reqs = json.load(open(f"{FW}/data/edits_zsre.json"))[:n_edits]
    t0, passes = time.perf_counter(), 0
    for r in reqs:
        passes += edit(r)
    dt = (time.perf_counter() - t0) / n_edits
    print(f"pytorch edit: MEMIT on the fact-world model (layers {layers[0]}-{layers[-1]}), {n_edits} edits: "
          f"{dt:.4f} s/edit ({passes / n_edits:.1f} z passes each)")


if __name__ == "__main__":
    main()
