#!/usr/bin/env python3
# Reference values of kedit's editing core on the tiny GPT-2 and Llama fixtures (tests/fixtures/{gpt2,
# llama}, made by make_fixtures.py), written from docs/editing-spec.md §1–§5 and §10 in plain PyTorch:
#   - the covariance C = Σ k kᵀ / #tokens of the W_out input over a fixed token set (layers 0 and 1);
#   - the template-averaged keys k̄ (MEMIT's two-group mean, ROME's uniform mean);
#   - compute_z (δ on block L's output) and ROME's compute_v (δ on W_out's output) after a fixed number
#     of Adam steps, with their logged target probabilities;
#   - the ROME update (mom2_adjustment off and on), one MEMIT edit over two layers, and three sequential
#     D4S edits (Δ_t of every edited layer after each edit).
# Requests are token ids (the fixtures have no tokenizer): a context prompt is a template prefix followed
# by the prompt, its lookup index the subject's last token; every sequence runs alone (unpadded).
# Outputs: tests/fixtures/edit/{gpt2,llama}.safetensors (inputs as int32/float32, expected values as
# float32 computed in float64 where the spec says float64), described in tests/fixtures/edit/README.md.
#
# Pinned versions (what produced the committed fixtures):
#   torch 2.15.0, transformers 4.46.3, safetensors 0.8.0, numpy 2.4.6, Python 3.11
#
# Run from the repository root:
#   OPENBLAS_NUM_THREADS=1 python3 tests/reference/make_edit_ref.py [--fixtures tests/fixtures]
import argparse
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

VOCAB = 101
D4S_EDITS = 3
# hyper-parameters of the reference edits (inputs of the test, stored in the fixture as "hp")
LAMBDA = 50.0          # mom2_update_weight: λC comparable to kkᵀ at d_ff ≈ 100, so every term matters
STEPS = 8              # v_num_grad_steps: forward passes of compute_z
LR = 0.5               # v_lr
WD = 0.5               # v_weight_decay
KL = 0.0625            # kl_factor
CLAMP_MEMIT = 0.75     # clamp_norm_factor of MEMIT / D4S
CLAMP_ROME = 4.0       # clamp_norm_factor of ROME
LAYERS = (0, 1)        # MEMIT / D4S edited layers; L = 1
ROME_LAYER = 1
STOP_LOSS = 5e-2

ARCHS = {
    "gpt2": dict(blocks=lambda m: m.transformer.h, mlp=lambda b: b.mlp, w_out=lambda b: b.mlp.c_proj, conv1d=True),
    "llama": dict(blocks=lambda m: m.model.layers, mlp=lambda b: b.mlp, w_out=lambda b: b.mlp.down_proj,
                  conv1d=False),
}


def rand_ids(g, n):
    return torch.randint(0, VOCAB, (n,), generator=g).tolist()


def make_inputs():
    """Token sets, template prefixes and requests, from a fixed seed."""
    g = torch.Generator().manual_seed(5)
    cov_seqs = [rand_ids(g, int(torch.randint(20, 50, (1,), generator=g))) for _ in range(8)]
    memit_tpl = [([], 0)] + [(rand_ids(g, int(torch.randint(3, 7, (1,), generator=g))), 1) for _ in range(5)]
    rome_tpl = [([], 0)] + [(rand_ids(g, int(torch.randint(2, 7, (1,), generator=g))), 0) for _ in range(20)]
    requests = []
    for _ in range(D4S_EDITS):
        n = int(torch.randint(6, 9, (1,), generator=g))
        s0 = int(torch.randint(0, 3, (1,), generator=g))
        s1 = s0 + int(torch.randint(1, 4, (1,), generator=g))
        requests.append(dict(prompt=rand_ids(g, n), subj=(s0, s1),
                             target=rand_ids(g, int(torch.randint(2, 4, (1,), generator=g)))))
    kl_tail = rand_ids(g, 2)  # the tokens of " is a"
    return cov_seqs, memit_tpl, rome_tpl, requests, kl_tail


def prompts_of(req, templates, kl_tail):
    """(ids, lookup) of each context prompt, their groups, and the KL prompt."""
    s0, s1 = req["subj"]
    ctx = [(pre + req["prompt"], len(pre) + s1 - 1) for pre, _ in templates]
    groups = [grp for _, grp in templates]
    subject = req["prompt"][s0:s1]
    return ctx, groups, (subject + kl_tail, len(subject) - 1)


class Hooks:
    """Adds δ at given positions of a site's output and captures the W_out input / site values."""

    def __init__(self, model, spec):
        self.model, self.spec = model, spec
        self.handles = []

    def add(self, module, pos, delta):
        def hook(mod, args, out):
            h = out[0] if isinstance(out, tuple) else out
            onehot = torch.zeros(1, h.shape[1], 1, dtype=h.dtype)
            onehot[0, pos, 0] = 1.0
            h = h + onehot * delta
            return (h,) + tuple(out[1:]) if isinstance(out, tuple) else h
        self.handles.append(module.register_forward_hook(hook))

    def capture_out(self, module, store):
        def hook(mod, args, out):
            store.append((out[0] if isinstance(out, tuple) else out)[0])
        self.handles.append(module.register_forward_hook(hook))

    def capture_in(self, module, store):
        self.handles.append(module.register_forward_pre_hook(lambda mod, args: store.append(args[0][0])))

    def clear(self):
        for h in self.handles:
            h.remove()
        self.handles = []


def run(model, ids):
    return model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]


def site_module(spec, model, site, layer):
    block = spec["blocks"](model)[layer]
    return block if site == "block" else spec["mlp"](block)


def w_out_input(model, spec, layer, ids, pos=None):
    """the W_out input of `layer` at position pos (all positions if None), float64"""
    store, hk = [], Hooks(model, spec)
    hk.capture_in(spec["w_out"](spec["blocks"](model)[layer]), store)
    with torch.no_grad():
        run(model, ids)
    hk.clear()
    k = store[0].double()
    return k if pos is None else k[pos]


def site_value(model, spec, site, layer, ids, pos):
    store, hk = [], Hooks(model, spec)
    hk.capture_out(site_module(spec, model, site, layer), store)
    with torch.no_grad():
        run(model, ids)
    hk.clear()
    return store[0][pos].double()


def covariance(model, spec, layer, seqs):
    """C = (1/#tokens)·Σ k kᵀ over every token, float64 (spec §5, §10.5)"""
    K = torch.cat([w_out_input(model, spec, layer, s) for s in seqs])
    return K.T @ K / K.shape[0]


def mean_key(model, spec, layer, ctx, groups):
    """k̄: mean within each template group, then the mean of the group means (spec §1)"""
    keys = [w_out_input(model, spec, layer, ids, lk) for ids, lk in ctx]
    means = [torch.stack([k for k, g in zip(keys, groups) if g == grp]).mean(0) for grp in sorted(set(groups))]
    return torch.stack(means).mean(0)


def compute_z(model, spec, site, layer, ctx, kl, y, clamp, steps=STEPS, wd=WD):
    """spec §2 / §10.12: Adam on δ; NLL over the rewriting prompts + KL·kl_factor + wd·‖δ‖/‖z₀‖²"""
    module = site_module(spec, model, site, layer)
    d = model.config.hidden_size
    delta = torch.zeros(d, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=LR, betas=(0.9, 0.999), eps=1e-8)
    z0 = ref = None
    probs = []
    for it in range(steps):
        opt.zero_grad()
        nll_each = []
        for i, (ids, lk) in enumerate(ctx):
            store, hk = [], Hooks(model, spec)
            if z0 is None and i == 0:
                hk.capture_out(module, store)
            hk.add(module, lk, delta)
            logp = F.log_softmax(run(model, ids + y[:-1]), dim=-1)
            hk.clear()
            if store:
                z0 = store[0][lk].detach().clone()
            rows = torch.arange(len(y)) + len(ids) - 1  # logits at len_ctx − 1 + j predict y_j
            nll_each.append(-logp[rows, torch.tensor(y)].sum() / len(y))
        hk = Hooks(model, spec)
        hk.add(module, kl[1], delta)
        logp_kl = F.log_softmax(run(model, kl[0])[kl[1]], dim=-1)
        hk.clear()
        if ref is None:
            ref = logp_kl.detach().clone()
        nll_each = torch.stack(nll_each)
        kl_term = (logp_kl.exp() * (logp_kl - ref)).sum()  # KL(p_cur ‖ p_init)
        loss = nll_each.mean() + KL * kl_term + wd * torch.linalg.vector_norm(delta) / z0.norm() ** 2
        probs.append(float(torch.exp(-nll_each.detach()).mean()))
        if float(loss) < STOP_LOSS or it == steps - 1:
            break
        loss.backward()
        opt.step()
        with torch.no_grad():
            max_norm = clamp * z0.norm()
            if delta.norm() > max_norm:
                delta.mul_(max_norm / delta.norm())
    return z0.double(), delta.detach().double(), [probs[0], probs[-1]]


def w_math(spec, model, layer):
    w = spec["w_out"](spec["blocks"](model)[layer]).weight
    return w.T if spec["conv1d"] else w


def add_to_w(spec, model, layer, delta, base=None):
    """W ← (base or W) + float32(Δ), Δ in math orientation (d × d_ff)"""
    with torch.no_grad():
        w = w_math(spec, model, layer)
        w.copy_((base if base is not None else w) + delta.float())


def rome(model, spec, req, rome_tpl, kl_tail, C, adjust):
    ctx, groups, kl = prompts_of(req, rome_tpl, kl_tail)
    L = ROME_LAYER
    u = mean_key(model, spec, L, ctx, groups)
    if adjust:
        u = torch.linalg.solve(C, u)  # u = C⁻¹k̄ (float64)
    u = u / u.norm()
    z0, delta, _ = compute_z(model, spec, "mlp", L, ctx, kl, req["target"], CLAMP_ROME)
    kstar = w_out_input(model, spec, L, ctx[0][0], ctx[0][1])
    mstar = site_value(model, spec, "mlp", L, ctx[0][0], ctx[0][1])
    v = (z0 + delta - mstar) / (kstar @ u)
    return torch.outer(v, u)  # Δ = v·uᵀ


def memit(model, spec, req, memit_tpl, kl_tail, Cs):
    """one MEMIT edit, applied to the model (spec §3)"""
    ctx, groups, kl = prompts_of(req, memit_tpl, kl_tail)
    L, E = LAYERS[-1], len(LAYERS)
    z0, delta, _ = compute_z(model, spec, "block", L, ctx, kl, req["target"], CLAMP_MEMIT)
    z = z0 + delta
    deltas = []
    for i, layer in enumerate(LAYERS):
        k = mean_key(model, spec, layer, ctx, groups).unsqueeze(1)       # K: (d_ff, 1)
        r = (z - site_value(model, spec, "block", L, ctx[0][0], ctx[0][1])).unsqueeze(1)  # R = Z − H_L
        A = LAMBDA * Cs[i] + k @ k.T
        D = (r / (E - i)) @ torch.linalg.solve(A, k).T                   # Δ = R/(E−i)·Kᵀ(λC + KKᵀ)⁻¹
        add_to_w(spec, model, layer, D)
        deltas.append(D)
    return deltas


def d4s(model, spec, requests, memit_tpl, kl_tail, Cs):
    """D4S edits in sequence (spec §4, §10.3): live model W₀ + Δ_t"""
    E, L = len(LAYERS), LAYERS[-1]
    W0 = [w_math(spec, model, l).detach().clone() for l in LAYERS]
    d, d_ff = model.config.hidden_size, Cs[0].shape[0]
    N = [torch.zeros(d, d_ff, dtype=torch.float64) for _ in LAYERS]
    S = [torch.zeros(d_ff, d_ff, dtype=torch.float64) for _ in LAYERS]
    out = []
    for req in requests:
        for i, layer in enumerate(LAYERS):  # reset to W₀
            add_to_w(spec, model, layer, torch.zeros(d, d_ff, dtype=torch.float64), W0[i])
        ctx, groups, kl = prompts_of(req, memit_tpl, kl_tail)
        _, delta, _ = compute_z(model, spec, "block", L, ctx, kl, req["target"], CLAMP_MEMIT)
        r = delta  # r_t = z_t − h_L(W₀) = δ_t
        step = []
        for i, layer in enumerate(LAYERS):
            k = mean_key(model, spec, layer, ctx, groups)
            N[i] += torch.outer(r, k)
            S[i] += torch.outer(k, k)
            D = torch.linalg.solve(S[i] + LAMBDA * Cs[i], (N[i] / (E - i)).T).T  # (N/(E−i))(S + λC)⁻¹
            add_to_w(spec, model, layer, D, W0[i])
            step.append(D)
        out.append(step)
    return out


def i32(x):
    return torch.tensor(x, dtype=torch.int32)


def f32(x):
    return x.detach().float().contiguous()


def build(arch, fixtures):
    spec = ARCHS[arch]
    folder = os.path.join(fixtures, arch)

    def fresh():
        return AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32,
                                                    attn_implementation="eager").eval()

    model = fresh()
    cov_seqs, memit_tpl, rome_tpl, requests, kl_tail = make_inputs()
    t = {"cov_ids": i32(sum(cov_seqs, [])), "cov_len": i32([len(s) for s in cov_seqs]), "kl_tail": i32(kl_tail),
         "hp": torch.tensor([LAMBDA, STEPS, LR, WD, KL, CLAMP_MEMIT, CLAMP_ROME, LAYERS[0], LAYERS[1], ROME_LAYER],
                            dtype=torch.float32)}
    for name, tpl in (("mt", memit_tpl), ("rt", rome_tpl)):
        t[f"{name}_ids"] = i32(sum((p for p, _ in tpl), []))
        t[f"{name}_len"] = i32([len(p) for p, _ in tpl])
        t[f"{name}_group"] = i32([g for _, g in tpl])
    for j, req in enumerate(requests):
        t[f"req{j}_prompt"] = i32(req["prompt"])
        t[f"req{j}_subj"] = i32(list(req["subj"]))
        t[f"req{j}_target"] = i32(req["target"])

    Cs = [covariance(model, spec, layer, cov_seqs) for layer in LAYERS]
    for layer, C in zip(LAYERS, Cs):
        t[f"C_l{layer}"] = f32(C)
    C_rome = Cs[LAYERS.index(ROME_LAYER)]

    ctx, groups, kl = prompts_of(requests[0], memit_tpl, kl_tail)
    for layer in LAYERS:
        t[f"kbar_l{layer}"] = f32(mean_key(model, spec, layer, ctx, groups))
    rctx, rgroups, _ = prompts_of(requests[0], rome_tpl, kl_tail)
    t[f"kbar_rome_l{ROME_LAYER}"] = f32(mean_key(model, spec, ROME_LAYER, rctx, rgroups))

    z0, delta, probs = compute_z(model, spec, "block", LAYERS[-1], ctx, kl, requests[0]["target"], CLAMP_MEMIT)
    t["z_z0"], t["z_delta"], t["z_prob"] = f32(z0), f32(delta), torch.tensor(probs, dtype=torch.float32)
    rctx_, _, rkl = prompts_of(requests[0], rome_tpl, kl_tail)
    m0, vdelta, vprobs = compute_z(model, spec, "mlp", ROME_LAYER, rctx_, rkl, requests[0]["target"], CLAMP_ROME)
    t["v_m0"], t["v_delta"], t["v_prob"] = f32(m0), f32(vdelta), torch.tensor(vprobs, dtype=torch.float32)

    for adjust in (0, 1):
        t[f"rome_delta_adj{adjust}"] = f32(rome(fresh(), spec, requests[0], rome_tpl, kl_tail, C_rome, adjust))
    for i, D in enumerate(memit(fresh(), spec, requests[0], memit_tpl, kl_tail, Cs)):
        t[f"memit_delta_l{LAYERS[i]}"] = f32(D)
    for e, step in enumerate(d4s(fresh(), spec, requests, memit_tpl, kl_tail, Cs)):
        for i, D in enumerate(step):
            t[f"d4s_delta_e{e}_l{LAYERS[i]}"] = f32(D)

    out_dir = os.path.join(fixtures, "edit")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{arch}.safetensors")
    save_file(t, path)
    print(f"{arch}: {path}, {os.path.getsize(path)} bytes; z prob {probs[0]:.4f} -> {probs[1]:.4f}, "
          f"v prob {vprobs[0]:.4f} -> {vprobs[1]:.4f}; |δ| {float(delta.norm()):.4f} "
          f"(clamp {CLAMP_MEMIT * float(z0.norm()):.4f}); |Δ_memit| "
          f"{[round(float(t[f'memit_delta_l{l}'].norm()), 5) for l in LAYERS]}")


def main():
    parser = argparse.ArgumentParser(description="Writes the editing-core reference values.")
    parser.add_argument("--fixtures", default=os.path.join("tests", "fixtures"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for arch in ARCHS:
        build(arch, args.fixtures)


if __name__ == "__main__":
    main()
