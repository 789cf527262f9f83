#include "run/confusion.h"

#include <math.h>
#include <stdlib.h>

class_scores confusion_scores(const long *c, int k) {
    double *t = calloc((size_t)k, sizeof(double)), *p = calloc((size_t)k, sizeof(double)), s = 0, trace = 0;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double x = (double)c[i * k + j];
            t[i] += x, p[j] += x, s += x;
            if (i == j) trace += x;
        }
    class_scores out = {NAN, NAN, NAN};
    if (s > 0) {
        double f1 = 0, pt = 0, pp = 0, tt = 0;
        for (int i = 0; i < k; i++) {
            double hit = (double)c[i * k + i], prec = p[i] > 0 ? hit / p[i] : 0, rec = t[i] > 0 ? hit / t[i] : 0;
            if (prec + rec > 0) f1 += t[i] / s * 2 * prec * rec / (prec + rec);
            pt += p[i] * t[i], pp += p[i] * p[i], tt += t[i] * t[i];
        }
        double den = sqrt((s * s - pp) * (s * s - tt));
        out = (class_scores){trace / s, f1, den > 0 ? (trace * s - pt) / den : 0};
    }
    free(t);
    free(p);
    return out;
}
