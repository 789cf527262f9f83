/* Classification scores from a confusion matrix, as scikit-learn defines them (AlphaEdit's glue_eval
 * reports these): accuracy, the support-weighted mean of the per-class F1, and Matthews' correlation
 * coefficient in its multi-class form (Gorodkin's R_K; for two classes the usual MCC). */
#ifndef KEDIT_CONFUSION_H
#define KEDIT_CONFUSION_H

typedef struct class_scores {
    double accuracy; /* trace / total */
    double f1;       /* Σ_k support_k / total × F1_k, F1_k = 2PR/(P+R) (0 when P + R = 0) */
    double mcc;      /* (c·s − Σ p_k t_k) / √((s² − Σ p_k²)(s² − Σ t_k²)); 0 when the denominator is 0 */
} class_scores;

/* c: k × k counts, c[t * k + p] = items of true class t predicted as p (a class that no item has, e.g. "no
 * answer", counts as a predicted class with support 0). All NaN when the matrix is empty. */
class_scores confusion_scores(const long *c, int k);

#endif
