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
    float *w;         /* (out, in) row-major float32, device pointer; NULL when held as bf16 */
    uint16_t *w_bf16; /* (out, in) bf16 (model_load_as with KT_BF16), or NULL when w is float32 */
    float *b;         /* (out) float32 or NULL */
    int out, in;
} linear;

/* the stored weights of l and their type, for be->gemm */
static inline const void *linear_weight(const linear *l, kweight_type *type) {
    *type = l->w ? KT_F32 : KT_BF16;
    return l->w ? (const void *)l->w : (const void *)l->w_bf16;
}

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
    kweight_type weights;    /* how the linear layers were loaded (an edited matrix is widened to float32 on top;
                              * embeddings, norms, biases: float32) */
    char *source;            /* path it was loaded from */
    char checksum[17];       /* hex FNV-1a 64 of the checkpoint's weight bytes (continued over "bf16" when the
                              * linears are held in bf16), identifies the model and keys its caches */
} model;

/* Loads a Hugging Face model folder (config.json + model.safetensors or sharded safetensors with
 * model.safetensors.index.json; F32/F16/BF16) or a llama2.c legacy .bin file onto the backend.
 * On failure returns non-zero with a message naming the file, tensor and problem in err. */
int model_load(const char *path, const backend *be, model *m, char *err, size_t errlen);
/* model_load storing the weights of every linear layer (q, k, v, o, the MLP's and an untied head) as
 * `linears`: KT_F32, or KT_BF16 (rounded to nearest even; half the memory, products still accumulate in
 * float32). Embeddings, norms and biases stay float32. */
int model_load_as(const char *path, const backend *be, kweight_type linears, model *m, char *err, size_t errlen);
void model_free(model *m);

/* "f32" / "bf16" → *t; non-zero for anything else */
int weight_type_parse(const char *name, kweight_type *t);
const char *weight_type_name(kweight_type t);

/* a device copy of n host floats (be->alloc + be->to_device) */
float *weights_upload(const backend *be, const float *host, size_t n);
/* l->w (float32) or l->w_bf16 (rounded to nearest even) ← the out·in host floats of a linear layer whose
 * out and in are set; non-zero with a message in err when host memory runs out */
int linear_upload(const backend *be, linear *l, const float *host, kweight_type wt, char *err, size_t errlen);
/* l's weights as out·in host floats (bf16 widened exactly) */
void linear_weight_to_host(const backend *be, const linear *l, float *dst);
/* stores l's weights as float32 from now on (bf16 widened exactly; no-op when already float32): what an
 * editing method changes must be float32. Non-zero with a message when host memory runs out. */
int linear_make_f32(const backend *be, linear *l, char *err, size_t errlen);
/* the converse: l's float32 weights rounded to bf16 (no-op when already bf16), as model_load_as holds them */
int linear_make_bf16(const backend *be, linear *l, char *err, size_t errlen);

/* bytes of weights a config needs with its linear layers stored as `linears` (the loader refuses models
 * that cannot fit) */
size_t model_weight_bytes(const model_config *c, kweight_type linears);

#endif
