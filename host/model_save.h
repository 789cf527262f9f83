/* Writing a (possibly edited) model as a Hugging Face folder that transformers' from_pretrained and
 * kedit's model_load both read: config.json, model.safetensors (float32) and the tokenizer files.
 *
 * Tensors are named and oriented as the ...ForCausalLM class of the architecture stores them:
 *   GPT-2  transformer.{wte,wpe,ln_f}, transformer.h.L.{ln_1,attn.c_attn,attn.c_proj,ln_2,mlp.c_fc,
 *          mlp.c_proj}: Conv1D weights (in, out), i.e. the transpose of kedit's (out, in); c_attn is
 *          q, k, v concatenated along the output axis; the tied head is not stored.
 *   GPT-J  transformer.{wte,ln_f}, transformer.h.L.{ln_1,attn.{q,k,v,out}_proj,mlp.fc_in,mlp.fc_out},
 *          lm_head (weight and bias), all (out, in).
 *   Llama  model.{embed_tokens,norm}, model.layers.L.{input_layernorm,self_attn.{q,k,v,o}_proj,
 *          post_attention_layernorm,mlp.{gate,up,down}_proj}, lm_head unless tied, all (out, in).
 *
 * Rotary layout. llama2.c rotates interleaved pairs (2i, 2i+1) of each head (cfg.rope_interleaved) while
 * transformers' Llama rotates halves (i, i + hd/2), both with angle pos·θ^(−2i/hd). So for such a model
 * the rows of every q and k head are permuted on saving: row i of a head (i < hd/2) is written from row
 * 2i and row hd/2 + i from row 2i + 1. q·k within a head is a sum over its rows, unchanged by applying
 * the same permutation to both, so the saved model computes the same function; v, o and the MLP are
 * not touched. */
#ifndef KEDIT_MODEL_SAVE_H
#define KEDIT_MODEL_SAVE_H

#include "model.h"

#include <stddef.h>

/* Writes m into the folder dir.
 * src_path: the path m was loaded from (NULL: m->source). A Hugging Face folder's config.json is copied
 *   (with torch_dtype set to "float32"); for a llama2.c file a LlamaForCausalLM config.json is written.
 * tokenizer_path: NULL to copy the tokenizer files of the source folder (tokenizer.json,
 *   tokenizer.model, vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json,
 *   added_tokens.json, generation_config.json: those present); a folder to copy those files from it;
 *   a file (e.g. llama2.c's tokenizer .bin) to copy under its own name.
 * The folder is written as dir.tmp and renamed into place once complete, so a crash never leaves a
 * partial model under dir. An existing dir is replaced only when it holds a config.json (a model saved
 * before) and is not the source folder itself; any other existing dir is refused. Non-zero with a message naming the file in err. */
int model_save_hf(const model *m, const char *src_path, const char *tokenizer_path, const char *dir, char *err,
                  size_t errlen);

#endif
