#!/usr/bin/env python3
# Reference values of kedit's AlphaEdit and D4S-P on the tiny GPT-2 and Llama fixtures, written from
# docs/editing-spec.md §11 in plain PyTorch (full-space formulas, P formed densely), on the inputs of
# make_edit_ref.py (same requests, templates, compute_z and keys; its helpers are imported):
#   - P = U Uᵀ from the eigenvectors of C (float32 C, decomposed in float64) with eigenvalue < τ (§11.1);
#   - three sequential AlphaEdit edits (§11.2–§11.3), batch size 1: z on the current model, per layer the
#     residual re-measured, Δ from the non-symmetric system as coded,
#       (P(K₁K₁ᵀ + C_p) + αI) X = P K₁ R′ᵀ,  Δ = Xᵀ,
#     added in place; after the layer loop C_p += K Kᵀ with K re-measured on the updated model;
#   - three sequential D4S-P edits (§11.6) in the full-space form
#       Δ_t = (N/(E−i)) · P (P (S + μC) P + αI)⁻¹,  live model W₀ + Δ_t.
# Output: tests/fixtures/edit/alphaedit_{gpt2,llama}.safetensors (hp_ae = [τ, α, μ], ns_m (m per edited
# layer), ae_delta_e{t}_l{layer}, d4sp_delta_e{t}_l{layer}; float32 of float64 values), described in
# tests/fixtures/edit/README.md.
#
# Versions that produced the committed fixtures: torch 2.15.0, transformers 5.24.0, safetensors 0.8.0,
# numpy 2.4.6, Python 3.11.
#
# Run from the repository root:
#   OPENBLAS_NUM_THREADS=1 python3 tests/reference/make_alphaedit_ref.py [--fixtures tests/fixtures]
import argparse
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_edit_ref import (ARCHS, CLAMP_MEMIT, LAYERS, add_to_w, compute_z, covariance, f32, i32,  # noqa: E402
                           make_inputs, mean_key, prompts_of, site_value, w_math)

ALPHA = 0.5   # L2 (α): comparable to ‖Uᵀk‖² on these fixtures, so the ridge matters
MU = 5.0      # D4S-P's μ (mom2_update_weight): μΛ comparable to k̃k̃ᵀ
NULL_FRACTION = 0.5  # τ is placed in a wide gap of the spectra near this fraction of d_ff


def pick_tau(Cs):
    """τ between two eigenvalues, near NULL_FRACTION·d_ff, away from every eigenvalue of every layer"""
    ev = [torch.linalg.eigvalsh(C) for C in Cs]
    allv = torch.sort(torch.cat(ev)).values
    target = float(torch.sort(ev[0]).values[int(NULL_FRACTION * len(ev[0]))])
    best = None
    for a, b in zip(allv[:-1].tolist(), allv[1:].tolist()):
        if a <= 0:
            continue
        tau = (a * b) ** 0.5
        score = (b / a) / (1 + abs(tau / target - 1))  # a wide gap close to the target
        if best is None or score > best[0]:
            best = (score, tau, b / a)
    return best[1], best[2]


def projector(C, tau):
    w, V = torch.linalg.eigh(C)
    U = V[:, w < tau]
    return U @ U.T, U.shape[1]


def alphaedit(model, spec, requests, tpl, kl_tail, Ps):
    """sequential AlphaEdit, batch size 1 (spec §11.2–§11.3); Δ of every layer after each edit"""
    E, L = len(LAYERS), LAYERS[-1]
    d_ff = Ps[0].shape[0]
    Cp = [torch.zeros(d_ff, d_ff, dtype=torch.float64) for _ in LAYERS]
    I = torch.eye(d_ff, dtype=torch.float64)
    out = []
    for req in requests:
        ctx, groups, kl = prompts_of(req, tpl, kl_tail)
        z0, delta, _ = compute_z(model, spec, "block", L, ctx, kl, req["target"], CLAMP_MEMIT)
        z = z0 + delta
        step = []
        for i, layer in enumerate(LAYERS):
            K = mean_key(model, spec, layer, ctx, groups).unsqueeze(1)                        # K₁: (d_ff, 1)
            R = (z - site_value(model, spec, "block", L, ctx[0][0], ctx[0][1])).unsqueeze(1)  # R = Z − H_L
            Rp = R / (E - i)                                                                  # R′ = R/(E−i)
            P = Ps[i]
            X = torch.linalg.solve(P @ (K @ K.T + Cp[i]) + ALPHA * I, P @ K @ Rp.T)  # (P(KKᵀ + C_p) + αI)X = PKR′ᵀ
            D = X.T
            add_to_w(spec, model, layer, D)
            step.append(D)
        for i, layer in enumerate(LAYERS):  # C_p += K Kᵀ, K on the updated model
            K = mean_key(model, spec, layer, ctx, groups).unsqueeze(1)
            Cp[i] += K @ K.T
        out.append(step)
    return out


def d4sp(model, spec, requests, tpl, kl_tail, Cs, Ps):
    """sequential D4S-P (spec §11.6), full-space form; live model W₀ + Δ_t"""
    E, L = len(LAYERS), LAYERS[-1]
    W0 = [w_math(spec, model, l).detach().clone() for l in LAYERS]
    d, d_ff = model.config.hidden_size, Cs[0].shape[0]
    N = [torch.zeros(d, d_ff, dtype=torch.float64) for _ in LAYERS]
    S = [torch.zeros(d_ff, d_ff, dtype=torch.float64) for _ in LAYERS]
    I = torch.eye(d_ff, dtype=torch.float64)
    out = []
    for req in requests:
        for i, layer in enumerate(LAYERS):  # reset to W₀
            add_to_w(spec, model, layer, torch.zeros(d, d_ff, dtype=torch.float64), W0[i])
        ctx, groups, kl = prompts_of(req, tpl, kl_tail)
        _, delta, _ = compute_z(model, spec, "block", L, ctx, kl, req["target"], CLAMP_MEMIT)
        step = []
        for i, layer in enumerate(LAYERS):
            k = mean_key(model, spec, layer, ctx, groups)
            N[i] += torch.outer(delta, k)
            S[i] += torch.outer(k, k)
            P = Ps[i]
            A = P @ (S[i] + MU * Cs[i]) @ P + ALPHA * I
            D = (N[i] / (E - i)) @ P @ torch.linalg.inv(A)  # Δ = (N/(E−i))·P(P(S + μC)P + αI)⁻¹
            add_to_w(spec, model, layer, D, W0[i])
            step.append(D)
        out.append(step)
    return out


def build(arch, fixtures):
    spec = ARCHS[arch]
    folder = os.path.join(fixtures, arch)

    def fresh():
        return AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32,
                                                    attn_implementation="eager").eval()

    model = fresh()
    cov_seqs, memit_tpl, _, requests, kl_tail = make_inputs()
    Cs = [f32(covariance(model, spec, layer, cov_seqs)).double() for layer in LAYERS]  # as the C test uploads it
    tau, gap = pick_tau(Cs)
    Ps, ms = zip(*(projector(C, tau) for C in Cs))
    t = {"hp_ae": torch.tensor([tau, ALPHA, MU], dtype=torch.float64), "ns_m": i32(list(ms))}
    for e, step in enumerate(alphaedit(fresh(), spec, requests, memit_tpl, kl_tail, Ps)):
        for i, D in enumerate(step):
            t[f"ae_delta_e{e}_l{LAYERS[i]}"] = f32(D)
    for e, step in enumerate(d4sp(fresh(), spec, requests, memit_tpl, kl_tail, Cs, Ps)):
        for i, D in enumerate(step):
            t[f"d4sp_delta_e{e}_l{LAYERS[i]}"] = f32(D)
    path = os.path.join(fixtures, "edit", f"alphaedit_{arch}.safetensors")
    save_file(t, path)
    k = mean_key(model, spec, LAYERS[0], *prompts_of(requests[0], memit_tpl, kl_tail)[:2])
    kt = Ps[0] @ k
    print(f"{arch}: {path}, {os.path.getsize(path)} bytes; τ {tau:.6g} (eigenvalue gap ×{gap:.3f}), m {list(ms)} of "
          f"{Cs[0].shape[0]}; ‖Pk‖² {float(kt @ kt):.4g}, ‖k‖² {float(k @ k):.4g}; |Δ_ae e0| "
          f"{[round(float(t[f'ae_delta_e0_l{l}'].norm()), 5) for l in LAYERS]}, |Δ_d4sp e2| "
          f"{[round(float(t[f'd4sp_delta_e2_l{l}'].norm()), 5) for l in LAYERS]}")


def main():
    parser = argparse.ArgumentParser(description="Writes the AlphaEdit and D4S-P reference values.")
    parser.add_argument("--fixtures", default=os.path.join("tests", "fixtures"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for arch in ARCHS:
        build(arch, args.fixtures)


if __name__ == "__main__":
    main()
