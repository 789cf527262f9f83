/* The numbers are those of editing-spec §7, "The paper's Table 2 (from the poster): sequential edits on
 * zsRE, batch size 1", copied as printed there (GPT's GRACE Avg after 100 edits reads 66.8). */
#include "run/paper_table2.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

const long paper_checkpoints[PAPER_N_CHECKPOINTS] = {100, 500, 1000};

const paper_row paper_table2[PAPER_N_ROWS] = {
    {"Llama", "FT", {{"30.47", "25.78", "12.19", "22.81"}, {"19.43", "18.06", "6.56", "14.68"}, {"16.13", "13.89", "5.96", "12.00"}}},
    {"Llama", "ROME", {{"97.68", "92.39", "90.22", "93.43"}, {"48.68", "47.72", "32.56", "42.99"}, {"21.84", "20.74", "4.01", "15.53"}}},
    {"Llama", "MEMIT", {{"92.99", "83.22", "94.02", "90.08"}, {"2.90", "2.90", "2.51", "2.77"}, {"2.85", "2.85", "2.74", "2.82"}}},
    {"Llama", "PMET", {{"0.24", "0.35", "0.46", "0.35"}, {"0.00", "0.00", "0.00", "0.00"}, {"0.00", "0.00", "0.00", "0.00"}}},
    {"Llama", "GRACE", {{"99.33", "0.53", "99.88", "66.58"}, {"98.87", "0.59", "99.72", "66.39"}, {"98.94", "0.35", "99.77", "66.35"}}},
    {"Llama", "D4S", {{"95.53", "86.45", "93.44", "91.81"}, {"91.19", "81.48", "83.34", "85.34"}, {"87.36", "79.30", "78.99", "81.88"}}},
    {"GPT", "FT", {{"15.28", "7.40", "0.42", "7.70"}, {"12.95", "7.84", "0.23", "7.01"}, {"7.03", "4.15", "0.11", "3.77"}}},
    {"GPT", "ROME", {{"1.17", "1.50", "0.06", "0.91"}, {"2.67", "1.83", "1.55", "2.02"}, {"2.44", "2.23", "0.92", "1.86"}}},
    {"GPT", "MEMIT", {{"98.25", "93.41", "87.24", "92.97"}, {"84.94", "76.15", "59.72", "73.60"}, {"0.00", "0.02", "0.00", "0.01"}}},
    {"GPT", "PMET", {{"0.33", "0.33", "0.00", "0.22"}, {"0.00", "0.00", "0.00", "0.00"}, {"0.00", "0.00", "0.00", "0.00"}}},
    {"GPT", "GRACE", {{"100.00", "0.40", "100.00", "66.8"}, {"100.00", "0.15", "100.00", "66.72"}, {"100.00", "0.07", "100.00", "66.69"}}},
    {"GPT", "D4S", {{"97.72", "97.01", "85.30", "93.34"}, {"97.42", "93.12", "74.65", "88.40"}, {"95.98", "91.17", "70.17", "88.77"}}},
};

/* the paper's models: its label and the kedit model name it stands for */
static const char *const paper_models[2][2] = {{"Llama", "Llama-2-7B"}, {"GPT", "GPT-J-6B"}};

const char *paper_model_of(const char *model_name) {
    const char *slash = strrchr(model_name, '/'), *name = slash ? slash + 1 : model_name;
    size_t len = strlen(name);
    if (len > 3 && !strcasecmp(name + len - 3, "-hf")) len -= 3;
    for (int i = 0; i < 2; i++)
        if (strlen(paper_models[i][1]) == len && !strncasecmp(name, paper_models[i][1], len)) return paper_models[i][0];
    return NULL;
}

const char *paper_model_meaning(const char *paper_model) {
    for (int i = 0; i < 2; i++)
        if (!strcmp(paper_model, paper_models[i][0])) return paper_models[i][1];
    return NULL;
}

const paper_row *paper_row_of(const char *paper_model, const char *method) {
    for (int i = 0; i < PAPER_N_ROWS; i++)
        if (!strcmp(paper_table2[i].model, paper_model) && !strcasecmp(paper_table2[i].method, method)) return &paper_table2[i];
    return NULL;
}

int paper_checkpoint_index(long n_edits) {
    for (int i = 0; i < PAPER_N_CHECKPOINTS; i++)
        if (paper_checkpoints[i] == n_edits) return i;
    return -1;
}
