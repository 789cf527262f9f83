/* AlphaEdit and D4S-P (editing-spec §11) against tests/reference/make_alphaedit_ref.py on the tiny GPT-2 and
 * Llama fixtures: each layer's Δ after each of three sequential edits, and the null-space dimension m;
 * then the algebra: kedit's symmetric m × m solve equals the coded non-symmetric full-space system, D4S-P
 * with P = I, μ = λ, α = 0 is D4S; a resumed editor (editor_replay of the journal) is bitwise the running
 * one and edits on identically; an empty null space is refused naming the layer.
 *
 * Tolerance of the parity checks: 1e-4 relative (Frobenius), as test_edit.c (both sides run the same float32
 * forward; compute_z's Adam steps amplify the ~1e-6 activation differences the most). The references form P
 * densely and solve in the full space (AlphaEdit: general LU, D4S-P: an inverse), kedit in m coordinates. */
#include "edit_fixture.h"
#include "methods/nullspace.h"

#include <lapacke.h>

/* the tensors of the AlphaEdit fixture of arch (no model of its own: delta_err downloads with be) */
static int ae_fixture_open(fixture *a, const char *arch, const backend *be) {
    char path[256], err[512];
    memset(a, 0, sizeof *a);
    a->m.be = be;
    snprintf(a->arch, sizeof a->arch, "%s", arch);
    snprintf(path, sizeof path, "tests/fixtures/edit/alphaedit_%s.safetensors", arch);
    if (st_open_file(path, &a->st, err, sizeof err)) {
        fprintf(stderr, "    %s\n", err);
        return -1;
    }
    return 0;
}

/* [τ, α, μ] in hp[3], m per layer in m[2] */
static void ae_hp(const fixture *a, double hp[3], int m[2]) {
    const st_tensor *t = st_find(&a->st, "hp_ae");
    CHECK(t && t->numel == 3 && !strcmp(t->dtype_name, "F64"), "hp_ae is not 3 float64 values");
    if (t) memcpy(hp, t->data, 3 * sizeof(double));
    int n;
    int *mm = get_i32(a, "ns_m", &n);
    m[0] = mm[0], m[1] = mm[1];
    free(mm);
}

/* an editor of method on f's model with the reference's covariances (C[2] uploaded, freed by the caller) */
static editor *make_editor(fixture *f, edit_method method, double tau, double alpha, double mu, float *C[2]) {
    ref_hp hp = get_hp(f);
    edit_hparams h = make_hp(method, &hp, 2, hp.layers);
    h.nullspace_threshold = tau, h.l2 = alpha, h.lambda = mu;
    char err[512];
    editor *e = editor_create(&f->m, &h, err, sizeof err);
    CHECK(e, "%s", err);
    C[0] = upload_cov(f, hp.layers[0]), C[1] = upload_cov(f, hp.layers[1]);
    editor_resources res = {.C = C};
    if (e && editor_prepare(e, &res, err, sizeof err)) {
        CHECK(0, "%s", err);
        editor_free(e);
        return NULL;
    }
    return e;
}

static int edit_one(fixture *f, editor *e, int t) {
    edit_prompts p;
    get_prompts(f, t, "mt", &p);
    edit_outcome out;
    char err[512];
    int rc = editor_edit_prompts(e, &p, 1, &out, err, sizeof err);
    CHECK(!rc, "%s", err);
    edit_prompts_free(&p);
    return rc;
}

static void free_cov(fixture *f, float *C[2]) {
    for (int i = 0; i < 2; i++) f->m.be->free(C[i]);
}

/* three sequential edits of method against the fixture's "<prefix>_delta_e<t>_l<layer>" */
static void parity(edit_method method, const char *prefix) {
    for (int a = 0; a < 2; a++) {
        fixture f, x;
        if (fixture_open(&f, ARCHS[a]) || ae_fixture_open(&x, ARCHS[a], f.m.be)) {
            CHECK(0, "%s fixtures missing", ARCHS[a]);
            continue;
        }
        double hp[3];
        int m[2];
        ae_hp(&x, hp, m);
        float *C[2];
        editor *e = make_editor(&f, method, hp[0], hp[1], method == METHOD_D4SP ? hp[2] : 0, C);
        for (int i = 0; e && i < 2; i++)
            CHECK(editor_nullspace_dim(e, i) == m[i], "%s layer %d: m %d, the reference's %d", ARCHS[a],
                  editor_layer(e, i), editor_nullspace_dim(e, i), m[i]);
        for (int t = 0; e && t < 3 && !edit_one(&f, e, t); t++)
            for (int i = 0; i < 2; i++) {
                char name[48];
                snprintf(name, sizeof name, "%s_delta_e%d_l%d", prefix, t, editor_layer(e, i));
                double err_d = delta_err(&x, editor_last_delta(e, i), name);
                printf("    %s %s (m %d): %.2e\n", ARCHS[a], name, editor_nullspace_dim(e, i), err_d);
                CHECK(err_d <= PARITY_TOL, "%s %s differs by %.3e", ARCHS[a], name, err_d);
            }
        editor_free(e);
        free_cov(&f, C);
        st_close(&x.st);
        fixture_close(&f);
    }
}

static void test_alphaedit_parity(void) { parity(METHOD_ALPHAEDIT, "ae"); }
static void test_d4sp_parity(void) { parity(METHOD_D4SP, "d4sp"); }

/* random data, n = 3 keys, d_ff = 40 with a 15-dimensional near-null space: R′K̃ᵀ(C̃_p + K̃K̃ᵀ + αI)⁻¹Uᵀ
 * (nullspace.h's pieces, as alphaedit.c chains them) against Xᵀ with (P(KKᵀ + C_p) + αI)X = PKR′ᵀ (LU) */
static void test_symmetric_solve_is_coded_system(void) {
    enum { F = 40, D = 6, N = 3, NP = 5 };
    const backend *be = backend_cpu();
    double Q[F * F], C[F * F], Cp[F * F] = {0}, K[N * F], R[N * D], alpha = 0.7, tau = 1e-3;
    uint64_t s = 12345;
    for (int i = 0; i < F * F; i++) Q[i] = ((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 11) * 0x1p-53 - 0.5;
    double tq[F];
    LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, F, F, Q, F, tq);
    LAPACKE_dorgqr(LAPACK_ROW_MAJOR, F, F, F, Q, F, tq); // Q orthogonal
    for (int i = 0; i < F; i++)
        for (int j = 0; j < F; j++) {
            double c = 0;
            for (int k = 0; k < F; k++) c += Q[i * F + k] * Q[j * F + k] * (k < 15 ? 1e-5 * (k + 1) : 1.0 + k);
            C[i * F + j] = c; // eigenvalues 1e-5 … 1.5e-4 (kept) and 16 … 40
        }
    double Kp[NP * F];
    for (int i = 0; i < NP * F; i++) Kp[i] = ((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 11) * 0x1p-53 - 0.5;
    for (int i = 0; i < N * F; i++) K[i] = ((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 11) * 0x1p-53 - 0.5;
    for (int i = 0; i < N * D; i++) R[i] = ((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 11) * 0x1p-53 - 0.5;
    for (int p = 0; p < NP; p++)
        for (int i = 0; i < F; i++)
            for (int j = 0; j < F; j++) Cp[i * F + j] += Kp[p * F + i] * Kp[p * F + j]; // C_p = Σ k_p k_pᵀ
    float Cf[F * F];
    for (int i = 0; i < F * F; i++) Cf[i] = (float)C[i];
    nullspace ns;
    char err[256];
    CHECK(!nullspace_get(be, F, Cf, 0, tau, 7, &ns, err, sizeof err), "%s", err);
    CHECK(ns.m == 15, "m %d, expected 15", ns.m);
    // kedit: A = Uᵀ(C_p + KKᵀ)U + αI (m × m), B = K̃ᵀ (rows), V = B·A⁻¹·Uᵀ, Δ = R′ᵀV
    int m = ns.m;
    double M[F * F], UM[F * F], A[F * F], B[N * F], V[N * F], got[D * F] = {0}, want[D * F];
    for (int i = 0; i < F * F; i++) M[i] = Cp[i];
    for (int p = 0; p < N; p++)
        for (int i = 0; i < F; i++)
            for (int j = 0; j < F; j++) M[i * F + j] += K[p * F + i] * K[p * F + j];
    be->dgemm(false, false, m, F, F, 1.0, ns.Ut, F, M, F, 0.0, UM, F);   // UᵀM
    nullspace_diag(be, &ns, 0.0, alpha, A);                             // αI
    be->dgemm(false, true, m, m, F, 1.0, UM, F, ns.Ut, F, 1.0, A, m);    // + UᵀMU
    be->dgemm(false, true, N, m, F, 1.0, K, F, ns.Ut, F, 0.0, B, m);     // K̃ (rows)
    CHECK(!nullspace_factor(be, m, A, "test", err, sizeof err), "%s", err);
    nullspace_solve(be, &ns, F, N, A, B, 1.0, V);
    be->dgemm(true, false, D, F, N, 1.0, R, D, V, F, 0.0, got, F);       // Δ = R′ᵀ·V
    // the coded system: P = UUᵀ formed; (P M + αI) X = P K R′ᵀ, general LU
    double P[F * F], G[F * F], X[F * D];
    be->dgemm(true, false, F, F, m, 1.0, ns.Ut, F, ns.Ut, F, 0.0, P, F);
    be->dgemm(false, false, F, F, F, 1.0, P, F, M, F, 0.0, G, F);
    for (int i = 0; i < F; i++) G[i * F + i] += alpha;
    double PK[F * N];
    be->dgemm(false, true, F, N, F, 1.0, P, F, K, F, 0.0, PK, N);
    be->dgemm(false, false, F, D, N, 1.0, PK, N, R, D, 0.0, X, D);
    lapack_int piv[F];
    CHECK(LAPACKE_dgesv(LAPACK_ROW_MAJOR, F, D, G, F, piv, X, D) == 0, "dgesv failed");
    for (int i = 0; i < D; i++)
        for (int j = 0; j < F; j++) want[i * F + j] = X[j * D + i]; // Δ = Xᵀ
    double num = 0, den = 0;
    for (int i = 0; i < D * F; i++) num += (got[i] - want[i]) * (got[i] - want[i]), den += want[i] * want[i];
    printf("    symmetric m × m vs coded system: %.2e relative (m %d of %d)\n", sqrt(num / den), m, F);
    CHECK(sqrt(num / den) <= 1e-10, "the two forms differ by %.3e", sqrt(num / den));
    nullspace_free(be, &ns);
}

/* D4S-P with τ above every eigenvalue (P = I), μ = λ, α = 0 against D4S's exact path, three edits */
static void test_d4sp_identity_is_d4s(void) {
    fixture f;
    if (fixture_open(&f, "gpt2")) {
        CHECK(0, "gpt2 fixture missing");
        return;
    }
    ref_hp hp = get_hp(&f);
    float *C[2], *C2[2];
    editor *p = make_editor(&f, METHOD_D4SP, 1e30, 0, hp.lambda, C);
    edit_hparams h = make_hp(METHOD_D4S, &hp, 2, hp.layers);
    h.d4s = (d4s_opts){D4S_EXACT, 0, true};
    char err[512];
    C2[0] = upload_cov(&f, hp.layers[0]), C2[1] = upload_cov(&f, hp.layers[1]);
    editor_resources res = {.C = C2};
    long nw = (long)f.m.cfg.d * f.m.cfg.d_ff;
    double *b = malloc((size_t)nw * sizeof(double));
    for (int t = 0; p && t < 3; t++) {
        CHECK(editor_nullspace_dim(p, 0) == f.m.cfg.d_ff, "P is not I: m %d", editor_nullspace_dim(p, 0));
        if (edit_one(&f, p, t)) break;
        double *dp[2];
        for (int i = 0; i < 2; i++) {
            dp[i] = malloc((size_t)nw * sizeof(double));
            f.m.be->to_host(dp[i], editor_last_delta(p, i), (size_t)nw * sizeof(double));
        }
        editor_reset(p, err, sizeof err); // the D4S editor edits the same model from W₀
        // replay D4S over edits 0..t on a fresh editor and compare its Δ_t
        editor *d = editor_create(&f.m, &h, err, sizeof err);
        CHECK(d && !editor_prepare(d, &res, err, sizeof err), "%s", err);
        for (int u = 0; d && u <= t; u++) edit_one(&f, d, u);
        for (int i = 0; d && i < 2; i++) {
            f.m.be->to_host(b, editor_last_delta(d, i), (size_t)nw * sizeof(double));
            double num = 0, den = 0;
            for (long k = 0; k < nw; k++) num += (dp[i][k] - b[k]) * (dp[i][k] - b[k]), den += b[k] * b[k];
            printf("    edit %d layer %d: D4S-P (P = I) vs D4S %.2e\n", t, hp.layers[i], sqrt(num / den));
            CHECK(sqrt(num / den) <= 1e-10, "edit %d layer %d: %.3e", t, hp.layers[i], sqrt(num / den));
        }
        editor_free(d);
        // back to the D4S-P state after edits 0..t
        editor_reset(p, err, sizeof err);
        for (int u = 0; u <= t; u++) edit_one(&f, p, u);
        free(dp[0]), free(dp[1]);
    }
    free(b);
    editor_free(p);
    free_cov(&f, C);
    free_cov(&f, C2);
    fixture_close(&f);
}

/* edits 0 and 1 journalled; a fresh editor replays them and must hold bitwise the same W and Δ, then both
 * make edit 2 and must again agree bitwise (the replayed cache C̃_p / Ñ, S̃ are the running ones) */
static void resume_bitwise(edit_method method) {
    fixture f;
    if (fixture_open(&f, "llama")) {
        CHECK(0, "llama fixture missing");
        return;
    }
    fixture x;
    double hp[3];
    int m[2];
    if (ae_fixture_open(&x, "llama", f.m.be)) {
        CHECK(0, "alphaedit llama fixture missing");
        fixture_close(&f);
        return;
    }
    ae_hp(&x, hp, m);
    st_close(&x.st);
    float *C[2], *C2[2];
    editor *e = make_editor(&f, method, hp[0], hp[1], hp[2], C);
    void *rec[2] = {0};
    size_t len[2];
    char err[512];
    for (int t = 0; e && t < 2; t++) {
        edit_one(&f, e, t);
        CHECK(!editor_journal(e, &rec[t], &len[t], err, sizeof err), "%s", err);
    }
    long nw = (long)f.m.cfg.d * f.m.cfg.d_ff;
    int E = 2;
    float *W[2];
    for (int i = 0; i < E; i++) { // the running model's W, then the model goes back to W₀ for the replay
        W[i] = malloc((size_t)nw * sizeof(float));
        f.m.be->to_host(W[i], f.m.layers[editor_layer(e, i)].mlp_out.w, (size_t)nw * sizeof(float));
    }
    editor_reset(e, err, sizeof err); // W₀ again: the resumed editor starts from the model file's weights
    editor *r = make_editor(&f, method, hp[0], hp[1], hp[2], C2);
    CHECK(r && !editor_replay(r, 2, (const void *const *)rec, len, err, sizeof err), "%s", err);
    float *w = malloc((size_t)nw * sizeof(float));
    for (int i = 0; r && i < E; i++) {
        f.m.be->to_host(w, f.m.layers[editor_layer(r, i)].mlp_out.w, (size_t)nw * sizeof(float));
        CHECK(!memcmp(w, W[i], (size_t)nw * sizeof(float)), "%s layer %d: the replayed W differs",
              method_name(method), editor_layer(r, i));
    }
    // edit 2 on the replayed editor, then on the running one (its weights restored by replaying into it)
    double *d2 = malloc((size_t)nw * sizeof(double) * E), *d3 = malloc((size_t)nw * sizeof(double) * E);
    if (r && !edit_one(&f, r, 2))
        for (int i = 0; i < E; i++) {
            f.m.be->to_host(d2 + (size_t)i * nw, editor_last_delta(r, i), (size_t)nw * sizeof(double));
            f.m.be->to_host(W[i], f.m.layers[editor_layer(r, i)].mlp_out.w, (size_t)nw * sizeof(float));
        }
    editor_reset(r, err, sizeof err);
    editor_free(r);
    for (int t = 0; t < 3; t++) edit_one(&f, e, t); // the uninterrupted run (e was reset to W₀)
    for (int i = 0; i < E; i++) {
        f.m.be->to_host(d3 + (size_t)i * nw, editor_last_delta(e, i), (size_t)nw * sizeof(double));
        f.m.be->to_host(w, f.m.layers[editor_layer(e, i)].mlp_out.w, (size_t)nw * sizeof(float));
        CHECK(!memcmp(d2 + (size_t)i * nw, d3 + (size_t)i * nw, (size_t)nw * sizeof(double)) &&
                  !memcmp(w, W[i], (size_t)nw * sizeof(float)),
              "%s layer %d: edit 2 after the replay differs from the uninterrupted run", method_name(method),
              editor_layer(e, i));
    }
    printf("    %s: replay of 2 records (%zu + %zu bytes), then edit 2, against the uninterrupted run\n",
           method_name(method), len[0], len[1]);
    free(d2), free(d3), free(w), free(W[0]), free(W[1]), free(rec[0]), free(rec[1]);
    editor_free(e);
    free_cov(&f, C);
    free_cov(&f, C2);
    fixture_close(&f);
}

static void test_alphaedit_resume_bitwise(void) { resume_bitwise(METHOD_ALPHAEDIT); }
static void test_d4sp_resume_bitwise(void) { resume_bitwise(METHOD_D4SP); }

/* τ below every eigenvalue: refused at prepare, naming the method and the layer */
static void test_empty_nullspace_refused(void) {
    fixture f;
    if (fixture_open(&f, "gpt2")) {
        CHECK(0, "gpt2 fixture missing");
        return;
    }
    ref_hp hp = get_hp(&f);
    for (int k = 0; k < 2; k++) {
        edit_hparams h = make_hp(k ? METHOD_D4SP : METHOD_ALPHAEDIT, &hp, 2, hp.layers);
        h.nullspace_threshold = 1e-300, h.l2 = 1;
        char err[512] = "";
        editor *e = editor_create(&f.m, &h, err, sizeof err);
        float *C[2] = {upload_cov(&f, hp.layers[0]), upload_cov(&f, hp.layers[1])};
        editor_resources res = {.C = C};
        CHECK(e && editor_prepare(e, &res, err, sizeof err) != 0, "an empty null space was accepted");
        char want[32];
        snprintf(want, sizeof want, "layer %d", hp.layers[0]);
        printf("    %s\n", err);
        CHECK(strstr(err, want) && strstr(err, "null space is empty") && strstr(err, method_name(h.method)),
              "unclear refusal: %s", err);
        editor_free(e);
        free_cov(&f, C);
    }
    fixture_close(&f);
}

int main(void) {
    RUN(test_alphaedit_parity);
    RUN(test_d4sp_parity);
    RUN(test_symmetric_solve_is_coded_system);
    RUN(test_d4sp_identity_is_d4s);
    RUN(test_alphaedit_resume_bitwise);
    RUN(test_d4sp_resume_bitwise);
    RUN(test_empty_nullspace_refused);
    return TEST_SUMMARY();
}
