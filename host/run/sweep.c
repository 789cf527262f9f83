/* Grid files and their expansion into task configurations (see sweep.h). */
#include "run/sweep.h"

#include "json_file.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grid_error(const sweep_grid *g, char *err, size_t errlen, const char *field, const char *problem) {
    snprintf(err, errlen, "%s: field %s: %s", g->path, field, problem);
    return 1;
}

/* a field path: segments of letters, digits, '_' and '-' joined by single dots */
static bool valid_path(const char *p) {
    bool segment_start = true;
    for (; *p; p++) {
        if (*p == '.') {
            if (segment_start) return false;
            segment_start = true;
        } else if (isalnum((unsigned char)*p) || *p == '_' || *p == '-')
            segment_start = false;
        else
            return false;
    }
    return !segment_start;
}

/* true when one path is the other or an object above it ("dataset" and "dataset.n_edits") */
static bool paths_overlap(const char *a, const char *b) {
    size_t n = strlen(a) < strlen(b) ? strlen(a) : strlen(b);
    return !strncmp(a, b, n) && (a[n] == 0 || a[n] == '.') && (b[n] == 0 || b[n] == '.');
}

static int read_axes(sweep_grid *g, const cJSON *grid, char *err, size_t errlen) {
    int n = cJSON_GetArraySize(grid);
    if (!cJSON_IsObject(grid) || n == 0)
        return grid_error(g, err, errlen, "grid", "expected an object of field paths and their value lists");
    g->axes = calloc((size_t)n, sizeof *g->axes);
    if (!g->axes) return grid_error(g, err, errlen, "grid", "out of memory");
    double tasks = 1;
    for (const cJSON *e = grid->child; e; e = e->next) {
        sweep_axis *a = &g->axes[g->n_axes];
        char field[300];
        snprintf(field, sizeof field, "grid.%s", e->string);
        a->key = e->string;
        a->variable = e->string[0] == '$';
        a->values = e;
        a->n = cJSON_GetArraySize(e);
        if (!valid_path(e->string + a->variable) || (a->variable && strchr(e->string, '.')))
            return grid_error(g, err, errlen, field,
                              "not a field path (names joined by dots) nor a variable ($ and a name)");
        if (!a->variable && paths_overlap(e->string, "output"))
            return grid_error(g, err, errlen, field, "output is set by the sweep (output_dir/task-NNNN.h5)");
        if (!cJSON_IsArray(e) || a->n == 0)
            return grid_error(g, err, errlen, field, "expected a non-empty list of values");
        for (int i = 0; i < g->n_axes; i++) {
            const char *other = g->axes[i].key;
            if (!strcmp(other, e->string) ||
                (!a->variable && !g->axes[i].variable && paths_overlap(other, e->string)) ||
                (a->variable != g->axes[i].variable && !strcmp(other + g->axes[i].variable, e->string + a->variable))) {
                char problem[300];
                snprintf(problem, sizeof problem, "clashes with grid key %s", other);
                return grid_error(g, err, errlen, field, problem);
            }
        }
        tasks *= a->n;
        g->n_axes++;
    }
    if (tasks > SWEEP_MAX_TASKS) {
        char problem[160];
        snprintf(problem, sizeof problem, "%.0f tasks, more than the %d a sweep may have", tasks, SWEEP_MAX_TASKS);
        return grid_error(g, err, errlen, "grid", problem);
    }
    g->n_tasks = (int)tasks;
    return 0;
}

/* an #SBATCH option name: lower-case letters, digits and '-', starting with a letter */
static bool valid_option(const char *s) {
    if (!islower((unsigned char)*s)) return false;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '-') return false;
    return true;
}

static int read_sbatch(sweep_grid *g, char *err, size_t errlen) {
    if (!g->sbatch) return 0;
    if (!cJSON_IsObject(g->sbatch))
        return grid_error(g, err, errlen, "sbatch", "expected an object of #SBATCH options");
    for (const cJSON *e = g->sbatch->child; e; e = e->next) {
        char field[300];
        snprintf(field, sizeof field, "sbatch.%s", e->string);
        if (!valid_option(e->string)) return grid_error(g, err, errlen, field, "not an option name (e.g. time, gres)");
        static const char *const own[] = {"array", "output", "chdir", "open-mode", "requeue", "no-requeue", "signal"};
        for (size_t i = 0; i < sizeof own / sizeof *own; i++)
            if (!strcmp(e->string, own[i]))
                return grid_error(g, err, errlen, field,
                                  i < 3 ? "set by the sweep itself"
                                        : "set by the sweep itself for requeueing (signal_seconds sets the time)");
        bool plain = cJSON_IsNumber(e) || (cJSON_IsString(e) && *e->valuestring);
        for (const char *c = cJSON_IsString(e) ? e->valuestring : ""; plain && *c; c++)
            plain = isgraph((unsigned char)*c) && *c != '"' && *c != '\'' && *c != '\\';
        if (!plain) return grid_error(g, err, errlen, field, "expected a number or a string without spaces or quotes");
    }
    return 0;
}

static int check_top(sweep_grid *g, char *err, size_t errlen) {
    if (!cJSON_IsObject(g->json)) return grid_error(g, err, errlen, "(top level)", "expected a JSON object");
    static const char *const known[] = {"base", "grid", "output_dir", "sbatch", "signal_seconds"};
    for (const cJSON *e = g->json->child; e; e = e->next) {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++) ok |= !strcmp(e->string, known[i]);
        if (!ok)
            return grid_error(g, err, errlen, e->string, "unknown field (base, grid, output_dir, sbatch or signal_seconds expected)");
    }
    return 0;
}

static int read_base(sweep_grid *g, char *err, size_t errlen) {
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(g->json, "base");
    if (cJSON_IsObject(base))
        return !(g->base = cJSON_Duplicate(base, true)) && grid_error(g, err, errlen, "base", "out of memory");
    if (!cJSON_IsString(base) || !*base->valuestring)
        return grid_error(g, err, errlen, "base",
                          "expected the path of a run configuration or the configuration itself");
    char inner[1024];
    if ((g->base = json_file_read(base->valuestring, inner, sizeof inner)) && cJSON_IsObject(g->base)) return 0;
    if (g->base) snprintf(inner, sizeof inner, "%s: not a JSON object", base->valuestring);
    return grid_error(g, err, errlen, "base", inner);
}

static int read_output_dir(sweep_grid *g, char *err, size_t errlen) {
    const cJSON *dir = cJSON_GetObjectItemCaseSensitive(g->json, "output_dir");
    if (!dir) return 0;
    if (!cJSON_IsString(dir) || !*dir->valuestring)
        return grid_error(g, err, errlen, "output_dir", "expected a folder path");
    return !(g->output_dir = strdup(dir->valuestring)) && grid_error(g, err, errlen, "output_dir", "out of memory");
}

static int read_signal_seconds(sweep_grid *g, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(g->json, "signal_seconds");
    g->signal_seconds = 120;
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 86400 || v->valuedouble != (int)v->valuedouble)
        return grid_error(g, err, errlen, "signal_seconds", "expected a whole number of seconds from 1 to 86400");
    g->signal_seconds = (int)v->valuedouble;
    return 0;
}

int sweep_grid_load(const char *path, sweep_grid *g, char *err, size_t errlen) {
    memset(g, 0, sizeof *g);
    if (!(g->path = strdup(path))) {
        snprintf(err, errlen, "%s: out of memory", path);
        return 1;
    }
    int rc = !(g->json = json_file_read(path, err, errlen)) || check_top(g, err, errlen) || read_base(g, err, errlen) ||
             read_output_dir(g, err, errlen) || read_signal_seconds(g, err, errlen) ||
             read_axes(g, cJSON_GetObjectItemCaseSensitive(g->json, "grid"), err, errlen);
    if (!rc) {
        g->sbatch = cJSON_GetObjectItemCaseSensitive(g->json, "sbatch");
        rc = read_sbatch(g, err, errlen);
    }
    if (rc) sweep_grid_free(g);
    return rc;
}

void sweep_grid_free(sweep_grid *g) {
    cJSON_Delete(g->json);
    cJSON_Delete(g->base);
    free(g->axes);
    free(g->path);
    free(g->output_dir);
    memset(g, 0, sizeof *g);
}

/* the value index of every axis for task t: the last axis varies fastest */
static void task_indices(const sweep_grid *g, int t, int *idx) {
    for (int k = g->n_axes - 1; k >= 0; k--) {
        idx[k] = t % g->axes[k].n;
        t /= g->axes[k].n;
    }
}

/* sets the field at a dotted path of cfg to value (taken over), creating the objects on the way */
static int set_path(const sweep_grid *g, cJSON *cfg, const char *path, cJSON *value, char *err, size_t errlen) {
    char *copy = strdup(path), *seg = copy;
    cJSON *obj = cfg;
    for (char *dot; obj && seg && (dot = strchr(seg, '.')); seg = dot + 1) {
        *dot = 0;
        cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, seg);
        if (child && !cJSON_IsObject(child)) {
            snprintf(err, errlen, "%s: field grid.%s: %s is not an object in the base configuration", g->path, path,
                     seg);
            free(copy);
            cJSON_Delete(value);
            return 1;
        }
        obj = child ? child : cJSON_AddObjectToObject(obj, seg);
    }
    bool ok = obj && seg && value &&
              (cJSON_GetObjectItemCaseSensitive(obj, seg) ? cJSON_ReplaceItemInObjectCaseSensitive(obj, seg, value) /* names it */
                                                          : cJSON_AddItemToObject(obj, seg, value));
    if (!ok) {
        snprintf(err, errlen, "%s: out of memory setting %s", g->path, path);
        cJSON_Delete(value);
    }
    free(copy);
    return !ok;
}

/* the task's value of axis k as text for a {name}: strings as they are, numbers and booleans as JSON */
static char *axis_text(const sweep_axis *a, int i) {
    const cJSON *v = cJSON_GetArrayItem(a->values, i);
    if (cJSON_IsString(v)) return strdup(v->valuestring);
    return cJSON_IsNumber(v) || cJSON_IsBool(v) ? cJSON_PrintUnformatted(v) : NULL;
}

/* the axis a {name} refers to (key name or $name), or −1 */
static int find_axis(const sweep_grid *g, const char *name, size_t len) {
    for (int k = 0; k < g->n_axes; k++) {
        const char *key = g->axes[k].key + g->axes[k].variable;
        if (strlen(key) == len && !strncmp(key, name, len)) return k;
    }
    return -1;
}

/* s with its {name}s replaced (malloc'd), or NULL with a message */
static char *substitute(const sweep_grid *g, const int *idx, const char *s, char *err, size_t errlen) {
    size_t cap = strlen(s) + 1, len = 0;
    char *out = malloc(cap);
    for (const char *p = s; out && *p;) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        size_t name_len = close ? (size_t)(close - p - 1) : 0;
        char *text = NULL;
        if (name_len) {
            char *name = strndup(p + 1, name_len);
            bool is_name = name && (valid_path(name) || (name[0] == '$' && valid_path(name + 1)));
            int k = is_name ? find_axis(g, name + (name[0] == '$'), strlen(name + (name[0] == '$'))) : -1;
            if (is_name && k < 0)
                snprintf(err, errlen, "%s: \"%s\": {%s} names no grid key", g->path, s, name);
            else if (k >= 0 && !(text = axis_text(&g->axes[k], idx[k])))
                snprintf(err, errlen, "%s: \"%s\": grid key %s: only strings, numbers and booleans can fill {%s}",
                         g->path, s, g->axes[k].key, name);
            free(name);
            if (is_name && !text) {
                free(out);
                return NULL;
            }
        }
        size_t add = text ? strlen(text) : 1;
        if (len + add + 1 > cap) {
            char *grown = realloc(out, cap = 2 * (len + add + 1));
            if (!grown) free(out);
            out = grown;
        }
        if (out) memcpy(out + len, text ? text : p, add);
        len += add;
        p += text ? name_len + 2 : 1;
        free(text);
    }
    if (!out)
        snprintf(err, errlen, "%s: out of memory", g->path);
    else
        out[len] = 0;
    return out;
}

/* substitutes every string inside j */
static int substitute_all(const sweep_grid *g, const int *idx, cJSON *j, char *err, size_t errlen) {
    if (cJSON_IsString(j)) {
        char *s = substitute(g, idx, j->valuestring, err, errlen);
        if (!s) return 1;
        free(j->valuestring);
        j->valuestring = s;
        return 0;
    }
    for (cJSON *e = j->child; e; e = e->next)
        if (substitute_all(g, idx, e, err, errlen)) return 1;
    return 0;
}

void sweep_task_name(const sweep_grid *g, int task, char name[SWEEP_TASK_NAME]) {
    int width = 4; /* digits of the largest task number, at least 4 */
    for (int n = g->n_tasks - 1; n >= 10000; n /= 10) width++;
    char digits[12];
    int len = snprintf(digits, sizeof digits, "%d", task);
    snprintf(name, SWEEP_TASK_NAME, "task-%.*s%s", width > len ? width - len : 0, "0000000000", digits);
}

int sweep_grid_task(const sweep_grid *g, int task, cJSON **config, char *err, size_t errlen) {
    *config = NULL;
    if (task < 0 || task >= g->n_tasks) {
        snprintf(err, errlen, "%s: task %d out of range: the grid has %d tasks (0 to %d)", g->path, task, g->n_tasks,
                 g->n_tasks - 1);
        return 1;
    }
    if (!g->output_dir) return grid_error(g, err, errlen, "output_dir", "missing (or give the sweep --out DIR)");
    int *idx = malloc((size_t)g->n_axes * sizeof *idx);
    cJSON *cfg = cJSON_Duplicate(g->base, true);
    int rc = !idx || !cfg;
    if (rc)
        snprintf(err, errlen, "%s: out of memory", g->path);
    else
        task_indices(g, task, idx);
    for (int k = 0; k < g->n_axes && !rc; k++)
        if (!g->axes[k].variable)
            rc = set_path(g, cfg, g->axes[k].key, cJSON_Duplicate(cJSON_GetArrayItem(g->axes[k].values, idx[k]), true),
                          err, errlen);
    if (!rc) rc = substitute_all(g, idx, cfg, err, errlen);
    if (!rc) {
        char name[SWEEP_TASK_NAME];
        sweep_task_name(g, task, name);
        size_t n = strlen(g->output_dir) + sizeof name + 8;
        char *out = malloc(n);
        if (out) snprintf(out, n, "%s/%s.h5", g->output_dir, name);
        rc = !out || set_path(g, cfg, "output", cJSON_CreateString(out), err, errlen);
        free(out);
    }
    free(idx);
    if (rc)
        cJSON_Delete(cfg);
    else
        *config = cfg;
    return rc;
}

char *sweep_grid_describe(const sweep_grid *g, int task) {
    int *idx = malloc((size_t)g->n_axes * sizeof *idx);
    size_t len = 0;
    char *out = calloc(1, 1);
    if (idx) task_indices(g, task, idx);
    for (int k = 0; idx && out && k < g->n_axes; k++) {
        char *v = cJSON_PrintUnformatted(cJSON_GetArrayItem(g->axes[k].values, idx[k]));
        char *grown = realloc(out, len + strlen(g->axes[k].key) + (v ? strlen(v) : 1) + 3);
        if (!grown) free(out);
        out = grown;
        if (out) len += (size_t)sprintf(out + len, "%s%s=%s", k ? " " : "", g->axes[k].key, v ? v : "?");
        free(v);
    }
    free(idx);
    return out;
}

int sweep_task_config(const char *grid_path, int task, cJSON **config, char *err, size_t errlen) {
    sweep_grid g;
    *config = NULL;
    if (sweep_grid_load(grid_path, &g, err, errlen)) return 1;
    int rc = sweep_grid_task(&g, task, config, err, errlen);
    sweep_grid_free(&g);
    return rc;
}
