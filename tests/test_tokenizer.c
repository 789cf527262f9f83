/* Tokenizers against the Hugging Face `tokenizers` library: every string of the reference list (built
 * here exactly as tests/reference/make_tokenizer_ref.py builds it) must give the ids whose FNV-1a 64
 * hashes that script committed under tests/fixtures/tokenizer/. Also the published facts of
 * ../shared/data/README.md, decode round trips, the vocab.json + merges.txt path, llama2.c's
 * tokenizer.bin, the CLI, and the error messages. */
#include "commands.h"
#include "test.h"
#include "test_files.h"
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <glob.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define FIXTURES "tests/fixtures/tokenizer"
#define NO_DATA "shared data absent: ../shared/data, or KEDIT_DATA"

static const char *const ZSRE_FIELDS[] = {"src", "rephrase", "alt", "loc", "loc_ans"};
static const char *const COUNTERFACT_FIELDS[] = {"prompt", "target_new", "subject"};
enum { WIKITEXT_LINES = 1000, SHOWN_MISMATCHES = 5 };

typedef struct string_list {
    char **s;
    int n, cap;
} string_list;

static void list_add(string_list *l, const char *s, size_t len) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->s = realloc(l->s, (size_t)l->cap * sizeof *l->s);
    }
    l->s[l->n] = malloc(len + 1);
    memcpy(l->s[l->n], s, len);
    l->s[l->n++][len] = '\0';
}

static void list_free(string_list *l) {
    for (int i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
    memset(l, 0, sizeof *l);
}

/* a string field gives itself, a list field its string elements; empty strings are skipped */
static void add_fields(string_list *l, const cJSON *record, const char *const *fields, int n_fields) {
    for (int f = 0; f < n_fields; f++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(record, fields[f]);
        const cJSON *item = cJSON_IsArray(v) ? v->child : v;
        for (; item; item = cJSON_IsArray(v) ? item->next : NULL)
            if (cJSON_IsString(item) && *item->valuestring) list_add(l, item->valuestring, strlen(item->valuestring));
    }
}

static bool add_records(string_list *l, const char *path, const char *const *fields, int n_fields) {
    cJSON *root = read_json(path);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return false;
    }
    for (const cJSON *r = root->child; r; r = r->next) add_fields(l, r, fields, n_fields);
    cJSON_Delete(root);
    return true;
}

/* the first WIKITEXT_LINES lines that are non-empty without their "\n" and one "\r" before it */
static bool add_wikitext(string_list *l, const char *path) {
    size_t len;
    char *text = file_read_all(path, &len);
    if (!text) return false;
    int taken = 0;
    for (char *line = text; taken < WIKITEXT_LINES && line < text + len;) {
        char *eol = memchr(line, '\n', (size_t)(text + len - line));
        size_t n = eol ? (size_t)(eol - line) : (size_t)(text + len - line);
        if (n && line[n - 1] == '\r') n--;
        if (n) {
            list_add(l, line, n);
            taken++;
        }
        line = eol ? eol + 1 : text + len;
    }
    free(text);
    return true;
}

static bool add_edge_cases(string_list *l) {
    cJSON *root = read_json(FIXTURES "/edge_cases.json");
    bool ok = cJSON_IsArray(root);
    for (const cJSON *e = ok ? root->child : NULL; e; e = e->next)
        if (cJSON_IsString(e)) list_add(l, e->valuestring, strlen(e->valuestring));
    cJSON_Delete(root);
    return ok;
}

/* the reference list in the order make_tokenizer_ref.py documents; false when shared data is absent */
static bool reference_strings(string_list *l) {
    const char *dir = test_data_dir();
    if (!dir) return false;
    char pattern[4096], path[4096];
    snprintf(pattern, sizeof pattern, "%s/zsre/*.json", dir);
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0) return false; /* sorted by name; names are ASCII */
    bool ok = true;
    for (size_t i = 0; ok && i < g.gl_pathc; i++) ok = add_records(l, g.gl_pathv[i], ZSRE_FIELDS, 5);
    globfree(&g);
    ok = ok && test_data_path(path, sizeof path, "counterfact/counterfact_val_1919.json") &&
         add_records(l, path, COUNTERFACT_FIELDS, 3);
    ok = ok && test_data_path(path, sizeof path, "text/wikitext-2-raw-test.txt") && add_wikitext(l, path);
    ok = ok && add_edge_cases(l);
    if (!ok) list_free(l);
    return ok;
}

static uint64_t fnv1a64(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static const uint64_t FNV_OFFSET = 0xcbf29ce484222325ull;

static uint64_t hash_ids(const int *ids, int n) { /* over the little-endian int32 bytes */
    uint64_t h = FNV_OFFSET;
    for (int i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                              (unsigned char)(v >> 24)};
        h = fnv1a64(h, b, 4);
    }
    return h;
}

static uint64_t hash_list(const string_list *l) { /* each string's bytes then one 0 byte */
    uint64_t h = FNV_OFFSET;
    for (int i = 0; i < l->n; i++) h = fnv1a64(h, (const unsigned char *)l->s[i], strlen(l->s[i]) + 1);
    return h;
}

/* prints s with C escapes, cut at 100 bytes */
static void print_escaped(FILE *f, const char *s) {
    fputc('"', f);
    for (int i = 0; s[i] && i < 100; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputs(strlen(s) > 100 ? "\"..." : "\"", f);
}

static tokenizer *load_shared(const char *rel) {
    char path[4096], err[1024];
    if (!test_data_path(path, sizeof path, rel)) return NULL;
    tokenizer *t = tokenizer_load(path, err, sizeof err);
    CHECK(t != NULL, "%s", err);
    return t;
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ids of s equal to the expected list */
static bool encodes_to(const tokenizer *t, const char *s, const int *want, int n_want) {
    int *ids = NULL, n = tokenizer_encode(t, s, true, &ids);
    bool same = n == n_want && !memcmp(ids, want, (size_t)n * sizeof *ids);
    if (!same) {
        fprintf(stderr, "    ");
        print_escaped(stderr, s);
        fprintf(stderr, " ->");
        for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    free(ids);
    return same;
}

/* the facts listed in ../shared/data/README.md */
static void test_gpt2_published_facts(void) {
    tokenizer *t = load_shared("tokenizers/gpt2/tokenizer.json");
    if (!t) SKIP(NO_DATA);
    CHECK(encodes_to(t, "Hello world", (int[]){15496, 995}, 2), "GPT-2 \"Hello world\"");
    CHECK(encodes_to(t, "<|endoftext|>", (int[]){50256}, 1), "<|endoftext|> is 50256");
    CHECK(tokenizer_vocab_size(t) == 50257, "vocab %d", tokenizer_vocab_size(t));
    CHECK(!tokenizer_adds_bos(t), "GPT-2 adds no BOS");
    CHECK(tokenizer_eos(t) == 50256, "eos %d", tokenizer_eos(t));
    tokenizer_free(t);
}

static void test_llama_published_facts(void) {
    tokenizer *t = load_shared("tokenizers/llama2/tokenizer.json");
    if (!t) SKIP(NO_DATA);
    CHECK(encodes_to(t, "Hello world", (int[]){1, 15043, 3186}, 3), "Llama \"Hello world\"");
    CHECK(encodes_to(t, " leading space", (int[]){1, 29871, 8236, 2913}, 4), "Llama \" leading space\"");
    CHECK(encodes_to(t, "na\xc3\xafve caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x99\x82",
                     (int[]){1, 1055, 30085, 345, 274, 28059, 29871, 30591, 30675, 29871, 243, 162, 156, 133}, 14),
          "Llama \"naïve café 東京 🙂\"");
    CHECK(tokenizer_vocab_size(t) == 32000, "vocab %d", tokenizer_vocab_size(t));
    CHECK(tokenizer_adds_bos(t) && tokenizer_bos(t) == 1 && tokenizer_eos(t) == 2, "bos %d eos %d", tokenizer_bos(t),
          tokenizer_eos(t));
    tokenizer_free(t);
}

/* compares every reference string's ids with the committed hashes of the Hugging Face ids */
static void check_parity(const char *name, const char *rel) {
    string_list l = {0};
    tokenizer *t = load_shared(rel);
    if (!t || !reference_strings(&l)) {
        tokenizer_free(t);
        SKIP(NO_DATA);
    }
    char path[256];
    snprintf(path, sizeof path, FIXTURES "/%s.fnv64", name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    int count = 0;
    unsigned long long list_hash = 0;
    if (f) CHECK(fscanf(f, "count %d strings %llx", &count, &list_hash) == 2, "%s: bad header", path);
    CHECK(count == l.n && list_hash == hash_list(&l),
          "%s lists %d strings (hash %016llx), this test built %d (hash %016llx): the enumerations differ", path, count,
          list_hash, l.n, (unsigned long long)hash_list(&l));
    int mismatches = 0, checked = 0;
    double start = seconds_now();
    for (int i = 0; f && count == l.n && i < l.n; i++) {
        unsigned long long want;
        if (fscanf(f, "%llx", &want) != 1) {
            CHECK(false, "%s: line %d is not a hash", path, i + 2);
            break;
        }
        int *ids = NULL, n = tokenizer_encode(t, l.s[i], true, &ids);
        checked++;
        if (n < 0 || hash_ids(ids, n) != want) {
            if (++mismatches <= SHOWN_MISMATCHES) {
                fprintf(stderr, "    %s mismatch on string %d: ", name, i);
                print_escaped(stderr, l.s[i]);
                fprintf(stderr, "\n");
            }
        }
        free(ids);
    }
    double elapsed = seconds_now() - start;
    printf("    %s: %d strings checked against tokenizers 0.20.3, %d mismatches, %.3f s\n", name, checked, mismatches,
           elapsed);
    CHECK(checked == l.n && mismatches == 0, "%s: %d of %d strings differ", name, mismatches, checked);
    /* the whole list must encode in well under a second or two (the brief's bound, on 2 shared cores) */
    CHECK(elapsed < 2.0, "%s: %.2f s for %d strings", name, elapsed, checked);
    if (f) fclose(f);
    tokenizer_free(t);
    list_free(&l);
}

static void test_gpt2_matches_hf_tokenizers(void) { check_parity("gpt2", "tokenizers/gpt2/tokenizer.json"); }
static void test_llama_matches_hf_tokenizers(void) { check_parity("llama2", "tokenizers/llama2/tokenizer.json"); }

/* decode(encode(s)) == s over the reference list. GPT-2 keeps special tokens (its text may hold
 * "<|endoftext|>"); Llama drops them (the BOS it adds) and is checked only on strings without "▁" or
 * added-token text, since those do not come back ("▁" decodes to a space, added tokens get their own "▁") */
static void check_round_trip(const char *rel, bool llama) {
    string_list l = {0};
    tokenizer *t = load_shared(rel);
    if (!t || !reference_strings(&l)) {
        tokenizer_free(t);
        SKIP(NO_DATA);
    }
    int failures = 0, checked = 0;
    for (int i = 0; i < l.n; i++) {
        const char *s = l.s[i];
        if (llama && (strstr(s, "\xe2\x96\x81") || strstr(s, "<s>") || strstr(s, "</s>") || strstr(s, "<unk>")))
            continue;
        int *ids = NULL, n = tokenizer_encode(t, s, true, &ids);
        char *back = tokenizer_decode(t, ids, n, llama);
        checked++;
        if (!back || strcmp(back, s)) {
            if (++failures <= SHOWN_MISMATCHES) {
                fprintf(stderr, "    round trip of ");
                print_escaped(stderr, s);
                fprintf(stderr, " gave ");
                print_escaped(stderr, back ? back : "(NULL)");
                fprintf(stderr, "\n");
            }
        }
        free(ids);
        free(back);
    }
    printf("    %d round trips, %d failures\n", checked, failures);
    CHECK(failures == 0 && checked > 0, "%d of %d round trips failed", failures, checked);
    tokenizer_free(t);
    list_free(&l);
}

static void test_gpt2_round_trip(void) { check_round_trip("tokenizers/gpt2/tokenizer.json", false); }
static void test_llama_round_trip(void) { check_round_trip("tokenizers/llama2/tokenizer.json", true); }

/* decoding every prefix of each edge case's ids (prefixes cut multi-byte characters) as the Hugging Face
 * decoder does, compared through the hashes make_tokenizer_ref.py committed */
static void check_decode_parity(const char *name, const char *rel) {
    tokenizer *t = load_shared(rel);
    if (!t) SKIP(NO_DATA);
    string_list l = {0};
    CHECK(add_edge_cases(&l), "cannot read " FIXTURES "/edge_cases.json");
    char path[256];
    snprintf(path, sizeof path, FIXTURES "/%s_decode.fnv64", name);
    FILE *f = fopen(path, "r");
    int count = 0, mismatches = 0;
    CHECK(f && fscanf(f, "count %d", &count) == 1 && count == l.n, "%s: missing, or not %d edge cases", path, l.n);
    for (int i = 0; f && count == l.n && i < l.n; i++) {
        unsigned long long want = 0;
        CHECK(fscanf(f, "%llx", &want) == 1, "%s: line %d is not a hash", path, i + 2);
        int *ids = NULL, n = tokenizer_encode(t, l.s[i], true, &ids);
        uint64_t h = FNV_OFFSET;
        for (int k = 0; k <= n; k++) {
            char *text = tokenizer_decode(t, ids, k, true);
            h = fnv1a64(h, (const unsigned char *)(text ? text : ""), text ? strlen(text) + 1 : 0);
            free(text);
        }
        if (h != want && ++mismatches <= SHOWN_MISMATCHES) {
            fprintf(stderr, "    %s decoding differs on the prefixes of ", name);
            print_escaped(stderr, l.s[i]);
            fprintf(stderr, "\n");
        }
        free(ids);
    }
    printf("    %s: %d edge cases decoded prefix by prefix, %d differ\n", name, l.n, mismatches);
    CHECK(mismatches == 0, "%d edge cases decode differently", mismatches);
    if (f) fclose(f);
    list_free(&l);
    tokenizer_free(t);
}

static void test_gpt2_decode_matches_hf_tokenizers(void) {
    check_decode_parity("gpt2", "tokenizers/gpt2/tokenizer.json");
}
static void test_llama_decode_matches_hf_tokenizers(void) {
    check_decode_parity("llama2", "tokenizers/llama2/tokenizer.json");
}

static void remove_temp_dir(const char *dir, const char *const *names, int n) {
    char path[4200];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static bool write_file(const char *dir, const char *name, const char *text, size_t len) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(text, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

/* a folder with only GPT-2's vocab.json and merges.txt must encode every string as tokenizer.json does */
static void test_vocab_merges_equals_tokenizer_json(void) {
    char vocab[4096], merges[4096], dir[4096], link_path[4200], err[1024];
    string_list l = {0};
    if (!test_data_path(vocab, sizeof vocab, "tokenizers/gpt2/vocab.json") ||
        !test_data_path(merges, sizeof merges, "tokenizers/gpt2/merges.txt") || !reference_strings(&l))
        SKIP(NO_DATA);
    tokenizer *json = load_shared("tokenizers/gpt2/tokenizer.json");
    CHECK(test_make_dir(dir, sizeof dir, "tok"), "cannot make a temporary folder");
    char *abs_vocab = realpath(vocab, NULL), *abs_merges = realpath(merges, NULL);
    snprintf(link_path, sizeof link_path, "%s/vocab.json", dir);
    CHECK(abs_vocab && symlink(abs_vocab, link_path) == 0, "symlink %s", link_path);
    snprintf(link_path, sizeof link_path, "%s/merges.txt", dir);
    CHECK(abs_merges && symlink(abs_merges, link_path) == 0, "symlink %s", link_path);
    tokenizer *files = tokenizer_load(dir, err, sizeof err);
    CHECK(files != NULL, "%s", err);
    int differ = 0;
    for (int i = 0; files && json && i < l.n; i++) {
        int *a = NULL, *b = NULL, na = tokenizer_encode(json, l.s[i], true, &a),
            nb = tokenizer_encode(files, l.s[i], true, &b);
        if (na != nb || memcmp(a, b, (size_t)na * sizeof *a)) differ++;
        free(a);
        free(b);
    }
    printf("    %d strings, %d differ between vocab.json + merges.txt and tokenizer.json\n", l.n, differ);
    CHECK(differ == 0, "%d strings differ", differ);
    if (files)
        CHECK(tokenizer_eos(files) == tokenizer_eos(json) && tokenizer_vocab_size(files) == tokenizer_vocab_size(json),
              "eos %d vs %d, vocab %d vs %d", tokenizer_eos(files), tokenizer_eos(json), tokenizer_vocab_size(files),
              tokenizer_vocab_size(json));
    remove_temp_dir(dir, (const char *const[]){"vocab.json", "merges.txt"}, 2);
    free(abs_vocab);
    free(abs_merges);
    tokenizer_free(files);
    tokenizer_free(json);
    list_free(&l);
}

/* llama2.c's tokenizer.bin of stories260K: BOS first, merging shortens the text, decoding gives it back */
static void test_llama2c_tokenizer_bin(void) {
    tokenizer *t = load_shared("models/stories260K/tok512.bin");
    if (!t) SKIP(NO_DATA);
    CHECK(tokenizer_vocab_size(t) == 512, "vocab %d", tokenizer_vocab_size(t));
    CHECK(tokenizer_adds_bos(t) && tokenizer_bos(t) == 1 && tokenizer_eos(t) == 2, "bos %d eos %d", tokenizer_bos(t),
          tokenizer_eos(t));
    static const char *const texts[] = {
        "Once upon a time",
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
        "  two spaces, a tab\tand na\xc3\xafve caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x99\x82 (byte fallback)",
    };
    for (int i = 0; i < 3; i++) {
        int *ids = NULL, n = tokenizer_encode(t, texts[i], true, &ids);
        char *back = n > 0 ? tokenizer_decode(t, ids, n, true) : NULL;
        CHECK(n > 0 && ids[0] == 1, "text %d: %d ids, first %d", i, n, n > 0 ? ids[0] : -1);
        CHECK(n < (int)strlen(texts[i]), "text %d: %d ids for %zu bytes: nothing merged", i, n, strlen(texts[i]));
        CHECK(back && !strcmp(back, texts[i]), "text %d decodes to \"%s\"", i, back ? back : "(NULL)");
        free(back);
        free(ids);
    }
    int *ids = NULL, n = tokenizer_encode(t, "", true, &ids);
    CHECK(n == 1 && ids[0] == 1, "the empty text is BOS alone, got %d ids", n);
    free(ids);
    tokenizer_free(t);
}

/* runs `kedit tokenize ARGS` with stdin from a file, capturing stdout and stderr; returns the exit status */
static int run_cli(char **argv, int argc, const char *stdin_text, char *out, char *err, size_t cap) {
    char dir[4096], path[3][4200];
    static const char *const names[] = {"in.txt", "out.txt", "err.txt"};
    if (!test_make_dir(dir, sizeof dir, "tok")) return -1;
    for (int i = 0; i < 3; i++) snprintf(path[i], sizeof path[i], "%s/%s", dir, names[i]);
    write_file(dir, "in.txt", stdin_text, strlen(stdin_text));
    fflush(stdout);
    fflush(stderr);
    int saved[3] = {dup(0), dup(1), dup(2)};
    FILE *files[3] = {fopen(path[0], "r"), fopen(path[1], "w"), fopen(path[2], "w")};
    for (int i = 0; i < 3; i++) dup2(fileno(files[i]), i);
    clearerr(stdin);
    int rc = cmd_tokenize(argc, argv);
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < 3; i++) {
        dup2(saved[i], i);
        close(saved[i]);
        fclose(files[i]);
    }
    clearerr(stdin);
    for (int i = 1; i < 3; i++) {
        char *text = file_read_all(path[i], NULL);
        snprintf(i == 1 ? out : err, cap, "%s", text ? text : "");
        free(text);
    }
    remove_temp_dir(dir, names, 3);
    return rc;
}

static void test_cli_tokenize(void) {
    char path[4096], out[4096], err[4096];
    if (!test_data_path(path, sizeof path, "tokenizers/llama2")) SKIP(NO_DATA);
    char *one[] = {"tokenize", "--tokenizer", path, "Hello world"};
    CHECK(run_cli(one, 4, "", out, err, sizeof out) == 0 && !strcmp(out, "1 15043 3186\n"), "got \"%s\"", out);
    char *lines[] = {"tokenize", "--tokenizer", path, "-"};
    CHECK(run_cli(lines, 4, "Hello world\r\n leading space\n", out, err, sizeof out) == 0 &&
              !strcmp(out, "1 15043 3186\n1 29871 8236 2913\n"),
          "got \"%s\"", out);
    CHECK(run_cli(lines, 4, "ok\nbad \xff\n", out, err, sizeof out) == 1 && strstr(err, "line 2") &&
              strstr(err, "UTF-8"),
          "invalid UTF-8 on line 2: \"%s\"", err);
    char *no_text[] = {"tokenize", "--tokenizer", path};
    CHECK(run_cli(no_text, 3, "", out, err, sizeof out) == 2 && strstr(err, "TEXT"), "missing TEXT: \"%s\"", err);
    char *no_path[] = {"tokenize", "Hello"};
    CHECK(run_cli(no_path, 2, "", out, err, sizeof out) == 2 && strstr(err, "--tokenizer"),
          "missing --tokenizer: \"%s\"", err);
    char *bad_path[] = {"tokenize", "--tokenizer", "no/such/tokenizer", "Hello"};
    CHECK(run_cli(bad_path, 4, "", out, err, sizeof out) == 1 && strstr(err, "no/such/tokenizer"), "bad path: \"%s\"",
          err);
    char *help[] = {"tokenize", "--help"};
    CHECK(run_cli(help, 2, "", out, err, sizeof out) == 0 && strstr(out, "--tokenizer"), "help: \"%s\"", out);
}

/* A tiny Llama-style tokenizer.json written here, so that merging is checked without shared data. The
 * expected ids follow from its own vocabulary: the lower-ranked (earlier) merge applies first, a character
 * missing from the vocabulary becomes its <0xXX> tokens, else <unk>, and consecutive unknowns fuse. */
static void test_tiny_spm_by_construction(void) {
    static const char head[] =
        "{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true}, {\"id\": 1, \"content\": \"<s>\", "
        "\"special\": true}, {\"id\": 2, \"content\": \"</s>\", \"special\": true}],"
        " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\u2581\"},"
        " {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\u2581\"}]}, \"pre_tokenizer\": "
        "null,"
        " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}},"
        " {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [1]}}},"
        " \"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"fuse_unk\": true, \"byte_fallback\": true,"
        " \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2, \"<0xC3>\": 3, \"<0xA9>\": 4, \"\u2581\": 5, \"a\": 6,"
        " \"b\": 7, \"\u2581a\": 8, \"ab\": 9, \"\u2581ab\": 10}, \"merges\": ";
    static const char *const merges[2] = {"[\"a b\", \"\u2581 a\", \"\u2581 ab\"]}}", "[\"\u2581 a\", \"a b\"]}}"};
    char dir[4096], path[4200], err[1024], json[2048];
    CHECK(test_make_dir(dir, sizeof dir, "tok"), "cannot make a temporary folder");
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    for (int m = 0; m < 2; m++) {
        snprintf(json, sizeof json, "%s%s", head, merges[m]);
        write_file(dir, "tokenizer.json", json, strlen(json));
        tokenizer *t = tokenizer_load(path, err, sizeof err);
        CHECK(t != NULL, "%s", err);
        if (!t) continue;
        /* "ab" is "▁ab": (a b) first then (▁ ab) gives ▁ab; (▁ a) first leaves ▁a + b */
        CHECK(m == 0 ? encodes_to(t, "ab", (int[]){1, 10}, 2) : encodes_to(t, "ab", (int[]){1, 8, 7}, 3),
              "merge order %d", m);
        CHECK(encodes_to(t, "\xc3\xa9", (int[]){1, 5, 3, 4}, 4), "é by byte fallback");
        CHECK(encodes_to(t, "a xxb", (int[]){1, 8, 5, 0, 7}, 5), "unknown x x fused into one <unk>");
        int *ids = NULL, n = tokenizer_encode(t, "\xc3\xa9 ab", true, &ids);
        char *back = tokenizer_decode(t, ids, n, true);
        CHECK(back && !strcmp(back, "\xc3\xa9 ab"), "decoded \"%s\"", back ? back : "(NULL)");
        free(back);
        free(ids);
        CHECK(tokenizer_encode(t, "bad \xff byte", true, &ids) == -1, "invalid UTF-8 is an error");
        tokenizer_free(t);
    }
    remove_temp_dir(dir, (const char *const[]){"tokenizer.json"}, 1);
}

/* loads dir and expects failure with a message holding both needles */
static void expect_load_error(const char *path, const char *needle1, const char *needle2) {
    char err[1024] = "";
    tokenizer *t = tokenizer_load(path, err, sizeof err);
    CHECK(t == NULL, "%s loaded", path);
    CHECK(strstr(err, needle1) && strstr(err, needle2), "message \"%s\" lacks \"%s\" or \"%s\"", err, needle1, needle2);
    tokenizer_free(t);
}

static void test_load_errors(void) {
    char dir[4096], path[4200];
    CHECK(test_make_dir(dir, sizeof dir, "tok"), "cannot make a temporary folder");
    snprintf(path, sizeof path, "%s/missing.bin", dir);
    expect_load_error(path, "missing.bin", "cannot open");

    static const char broken[] = "{\"a\": 0, \"b\": ";
    write_file(dir, "vocab.json", broken, sizeof broken - 1);
    expect_load_error(dir, "merges.txt", "missing"); /* vocab.json without merges.txt */
    write_file(dir, "merges.txt", "#version: 0.2\na b\n", 18);
    expect_load_error(dir, "vocab.json", "not valid JSON");

    static const char no_model[] = "{\"version\": \"1.0\"}";
    write_file(dir, "tokenizer.json", no_model, sizeof no_model - 1);
    expect_load_error(dir, "tokenizer.json", "\"model\"");

    static const char bad_merge[] =
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]},"
        " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}";
    write_file(dir, "tokenizer.json", bad_merge, sizeof bad_merge - 1);
    expect_load_error(dir, "model.merges[0]", "the merged token");

    static const char no_merges[] =
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}";
    write_file(dir, "tokenizer.json", no_merges, sizeof no_merges - 1);
    expect_load_error(dir, "model.merges", "missing");

    static const unsigned char truncated[] = {16, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 'a'}; /* length 9, 1 byte left */
    write_file(dir, "tok.bin", (const char *)truncated, sizeof truncated);
    snprintf(path, sizeof path, "%s/tok.bin", dir);
    expect_load_error(path, "tok.bin", "token 0");
    remove_temp_dir(dir, (const char *const[]){"vocab.json", "merges.txt", "tokenizer.json", "tok.bin"}, 4);
}

int main(void) {
    RUN(test_gpt2_published_facts);
    RUN(test_llama_published_facts);
    RUN(test_gpt2_matches_hf_tokenizers);
    RUN(test_llama_matches_hf_tokenizers);
    RUN(test_gpt2_round_trip);
    RUN(test_llama_round_trip);
    RUN(test_gpt2_decode_matches_hf_tokenizers);
    RUN(test_llama_decode_matches_hf_tokenizers);
    RUN(test_vocab_merges_equals_tokenizer_json);
    RUN(test_llama2c_tokenizer_bin);
    RUN(test_cli_tokenize);
    RUN(test_tiny_spm_by_construction);
    RUN(test_load_errors);
    return TEST_SUMMARY();
}
