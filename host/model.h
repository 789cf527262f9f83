/* A loaded transformer: its configuration and its weights on one backend, in "math" orientation
 * (every linear layer stores W as (out, in) row-major, y = x·Wᵀ + b; GPT-2's Conv1D weights are
 * transposed at load). */
#ifndef KEDIT_MODEL_H
#define KEDIT_MODEL_H

#include "backend.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum { ARCH_GPT2 = 0, ARCH_GPTJ = 1, ARCH_LLAMA = 2 } model_arch;

typedef struct model_config {
    model_arch arch;
    int n_layer, d, n_head, n_kv_head, head_dim, d_ff, vocab, n_ctx;
    int rotary_dim;      /* GPT-J: rotary_dim; Llama: head_dim; GPT-2: 0 (learned positions) */
    float rope_theta;    /* 10000 unless the config says otherwise */
    bool rope_interleaved; /* rotate pairs (2i, 2i+1) (GPT-J, llama2.c) rather than halves (HF Llama) */
    float norm_eps;      /* layer_norm_epsilon / rms_norm_eps */
    bool parallel_block; /* GPT-J: out = h + Attn(LN1 h) + MLP(LN1 h) */
    bool tied_head;      /* unembedding shares the token embedding */
    int bos_id, eos_id;  /* −1 when the model has none */
} model_config;

typedef struct linear {
    float *w; /* (out, in) row-major, device pointer */
    float *b; /* (out) or NULL */
    int out, in;
} linear;

typedef struct layer_weights {
    float *ln1_w, *ln1_b;    /* attention norm (b NULL for RMSNorm) */
    float *ln2_w, *ln2_b;    /* MLP norm; NULL for GPT-J (parallel block uses ln1) */
    linear q, k, v, o;       /* GPT-2's fused c_attn is split into q, k, v at load */
    linear mlp_in;           /* W_in: c_fc / fc_in / gate_proj (d → d_ff) */
    linear mlp_up;           /* Llama's up_proj (d → d_ff); w NULL otherwise */
    linear mlp_out;          /* W_out: c_proj / fc_out / down_proj (d_ff → d), the edited matrix */
} layer_weights;

typedef struct model {
    model_config cfg;
    const backend *be;
    float *wte;              /* (vocab, d) */
    float *wpe;              /* (n_ctx, d) for GPT-2, else NULL */
    layer_weights *layers;   /* n_layer entries */
    float *lnf_w, *lnf_b;    /* final norm (b NULL for RMSNorm) */
    linear head;             /* (vocab, d); head.w == wte when tied */
    char *source;            /* path it was loaded from */
    char checksum[17];       /* hex FNV-1a 64 of the weight bytes as stored, identifies the model */
} model;

/* Loads a Hugging Face model folder (config.json + model.safetensors or sharded safetensors with
 * model.safetensors.index.json; F32/F16/BF16) or a llama2.c legacy .bin file onto the backend.
 * On failure returns non-zero with a message naming the file, tensor and problem in err. */
int model_load(const char *path, const backend *be, model *m, char *err, size_t errlen);
void model_free(model *m);

/* bytes of float32 weights a config needs (the loader refuses models that cannot fit) */
size_t model_weight_bytes(const model_config *c);

#endif
