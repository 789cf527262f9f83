/* The paper's Table 2 (sequential edits on zsRE, batch size 1; editing-spec §7, from the poster): for
 * each of its models ("Llama", "GPT") and methods, Eff, Par, Spe and Avg ×100 after 100, 500 and 1000
 * edits, kept as the text the paper prints, and the match of kedit's results files to its rows. */
#ifndef KEDIT_PAPER_TABLE2_H
#define KEDIT_PAPER_TABLE2_H

#define PAPER_N_CHECKPOINTS 3
#define PAPER_N_ROWS 12

typedef struct paper_row {
    const char *model;  /* the paper's label: "Llama" or "GPT" */
    const char *method; /* "FT", "ROME", "MEMIT", "PMET", "GRACE", "D4S" */
    const char *cell[PAPER_N_CHECKPOINTS][4]; /* per checkpoint: Eff, Par, Spe, Avg as printed */
} paper_row;

extern const long paper_checkpoints[PAPER_N_CHECKPOINTS]; /* 100, 500, 1000 */
extern const paper_row paper_table2[PAPER_N_ROWS];

/* The paper's label ("Llama", "GPT") of a model named model_name (a results file's attribute), or NULL
 * when the paper has no such model. The paper names no checkpoints' checksums, so the name decides:
 * compared without case, after its last '/' and without a trailing "-hf": "llama-2-7b" is Llama,
 * "gpt-j-6b" is GPT (editing-spec §7: most likely GPT-J-6B). */
const char *paper_model_of(const char *model_name);
/* the kedit model name the paper's label stands for ("Llama-2-7B", "GPT-J-6B") */
const char *paper_model_meaning(const char *paper_model);
/* the paper's row of (its model label, a kedit method name such as "memit", without case), or NULL */
const paper_row *paper_row_of(const char *paper_model, const char *method);
/* the column of checkpoint N among paper_checkpoints, or −1 */
int paper_checkpoint_index(long n_edits);

#endif
