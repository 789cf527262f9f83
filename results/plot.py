#!/usr/bin/env python3
"""Plots of kedit results files (schema: results/README.md), as PNGs in an output folder:

  <run>_norms.png        per edited matrix, over the edits: ||W||_1/numel, ||W - W0||_1/numel and
                         ||W - W0||_F (the paper's Fig. 6/7)
  <run>_target_prob.png  the target's probability on the edit prompt right after each edit, and before
  <run>_retention.png    the retention matrices (efficacy, paraphrase, specificity of every edit so far
                         at each checkpoint) as heat maps (the paper's Fig. 5, forgetting)

<run> is the results file's name without .h5. For all the files given together:

  forgetting.png         one panel per run (the paper's Fig. 5): the edits cut into ten blocks in order
                         (first 10%, second 10%, ...); at each checkpoint, the mean efficacy of each
                         block's edits made so far
  fig6.png               one row per run (the paper's Fig. 6a): the live model's probability of each new
                         target right before its edit, against the edit index, next to the run's L1 norm
                         curve (||W||_1/numel, mean over its edited matrices)
  mqd.png                when runs edited MQD files (kedit mqd: dg.json, mq.json, tf.json), the paper's
                         Fig. 3: efficacy and specificity after the last checkpoint of each method on
                         DG, MQ and T/F side by side
  downstream.png         when runs evaluated downstream tasks (kedit run's "downstream" field), the
                         paper's Fig. 2 / 7c: one panel per task, its accuracy (x100) against the number
                         of edits (0: the unedited model), one line per run
  downstream_f1.png      the same with the support-weighted F1 (AlphaEdit's likelihood F1)

and, when several files are given,

  compare.png            every run on one figure: the mean over its edited matrices of ||W - W0||_F and
                         of ||W||_1/numel over the edits (the paper's thesis: the norm explodes for MEMIT,
                         stays bounded for D4S), and the efficacy right after each edit (mean of 10)

Usage: python3 results/plot.py RUN.h5... [--out DIR]   (needs h5py and matplotlib)
"""
import argparse
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

NORM_CURVES = [("l1", "‖W‖₁ / numel"), ("l1_diff", "‖W − W₀‖₁ / numel"), ("fro_diff", "‖W − W₀‖ (Frobenius)")]
RETENTION = ["efficacy", "paraphrase", "specificity"]


def attr(f, name, default="?"):
    v = f.attrs.get(name, default)
    return v.decode() if isinstance(v, bytes) else str(v)


def title_of(f):
    status = attr(f, "status")
    return f"{attr(f, 'model_name')} · {attr(f, 'method')} · {attr(f, 'protocol')}" + (
        "" if status == "complete" else f" ({status})")


def plot_norms(f, path):
    names = list(f["norms"].keys())
    if not names:
        return False
    fig, axes = plt.subplots(1, len(NORM_CURVES), figsize=(5 * len(NORM_CURVES), 4), squeeze=False)
    for ax, (key, label) in zip(axes[0], NORM_CURVES):
        for name in names:
            g = f["norms"][name]
            ax.plot(np.asarray(g["edit"]) + 1, np.asarray(g[key]), label=name)
        ax.set_xlabel("edits")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize="small")
    fig.suptitle(title_of(f) + ": norms of the edited matrices")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_target_prob(f, path):
    e = f["edits"]
    x = np.asarray(e["edit"]) + 1
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, np.asarray(e["target_prob_post"]), ".-", label="right after the edit")
    ax.plot(x, np.asarray(e["target_prob_pre"]), ".", alpha=0.6, label="unedited model")
    if "target_prob_before" in e:
        ax.plot(x, np.asarray(e["target_prob_before"]), ".", alpha=0.6, label="live model, right before the edit")
    ax.set_xlabel("edit")
    ax.set_ylabel("target probability on the edit prompt")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title_of(f))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_retention(f, path):
    ck = f["checkpoints"]
    n_edits = np.asarray(ck["n_edits"])
    if len(n_edits) == 0:
        return False
    fig, axes = plt.subplots(1, 3, figsize=(15, 1.5 + 0.35 * len(n_edits) + 2), squeeze=False)
    for ax, key in zip(axes[0], RETENTION):
        m = np.ma.masked_invalid(np.asarray(ck[key]))  # NaN: not yet edited
        im = ax.imshow(m, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=1,
                       extent=(0.5, m.shape[1] + 0.5, len(n_edits) - 0.5, -0.5))
        ax.set_yticks(range(len(n_edits)))
        ax.set_yticklabels([str(n) for n in n_edits])
        ax.set_xlabel("edit")
        ax.set_ylabel("checkpoint (edits made)")
        ax.set_title(key)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(title_of(f) + ": retention")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_compare(files, path):
    """the runs side by side (files: opened results files)"""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2), squeeze=False)
    for i, f in enumerate(files):
        color = f"C{i % 10}"  # one colour per run on every panel
        names = [n for n in f["norms"].keys() if np.isfinite(np.asarray(f["norms"][n]["fro_diff"])).any()]
        label = f"{attr(f, 'method')} ({attr(f, 'model_name')})"
        if names:
            x = np.asarray(f["norms"][names[0]]["edit"]) + 1
            for ax, key in zip(axes[0][:2], ("fro_diff", "l1")):
                ax.plot(x, np.mean([np.asarray(f["norms"][n][key]) for n in names], axis=0), color=color,
                        label=label)
        eff = np.asarray(f["edits"]["efficacy"])
        if np.isfinite(eff).any():
            k = min(10, len(eff))
            axes[0][2].plot(np.arange(k, len(eff) + 1), np.convolve(eff, np.ones(k) / k, mode="valid"), ".-",
                            color=color, label=label)
    for ax, ylabel in zip(axes[0], ("mean ‖W − W₀‖ (Frobenius)", "mean ‖W‖₁ / numel", "efficacy right after the edit")):
        ax.set_xlabel("edits")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0][0].set_yscale("symlog", linthresh=1e-3)
    axes[0][2].set_ylim(0, 1.02)
    axes[0][2].legend(fontsize="small")
    fig.suptitle("edited-weight norms and efficacy over sequential edits")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def label_of(f):
    return f"{attr(f, 'method')} ({attr(f, 'model_name')})"


def panel_title(f):
    return f"{label_of(f)} · {os.path.basename(attr(f, 'dataset'))}"


def block_accuracy(f, n_blocks=10):
    """[(first, last edit of the block, [mean efficacy of its edits made so far at each checkpoint])]"""
    ck = f["checkpoints"]
    eff = np.asarray(ck["efficacy"])  # (C, N), NaN: not yet edited
    n_edits = np.asarray(ck["n_edits"])
    width = eff.shape[1] if eff.ndim == 2 else 0
    bounds = sorted(set(int(b * width / n_blocks) for b in range(n_blocks + 1)))
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        ys = []
        for c, n in enumerate(n_edits):
            made = eff[c, lo:min(hi, int(n))]
            made = made[np.isfinite(made)]
            ys.append(made.mean() if len(made) and lo < n else np.nan)
        out.append((lo, hi - 1, np.asarray(ys)))
    return n_edits, out


def plot_forgetting(files, path):
    fig, axes = plt.subplots(1, len(files), figsize=(5.5 * len(files), 4.2), squeeze=False)
    for ax, f in zip(axes[0], files):
        n_edits, blocks = block_accuracy(f)
        cmap = plt.get_cmap("viridis")
        for b, (lo, hi, ys) in enumerate(blocks):
            ax.plot(n_edits, ys, ".-", color=cmap(b / max(1, len(blocks) - 1)), label=f"edits {lo + 1}-{hi + 1}")
        ax.set_xlabel("edits made (checkpoint)")
        ax.set_ylabel("efficacy of the block's edits")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.set_title(panel_title(f))
    axes[0][-1].legend(fontsize="x-small", title="block", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle("forgetting: the efficacy of each tenth of the edits as the run goes on")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_fig6(files, path):
    fig, axes = plt.subplots(len(files), 2, figsize=(12, 3.2 * len(files)), squeeze=False)
    for row, f in zip(axes, files):
        e = f["edits"]
        x = np.asarray(e["edit"]) + 1
        if "target_prob_before" in e:
            row[0].plot(x, np.asarray(e["target_prob_before"]), ".", markersize=3)
        row[0].set_ylabel("P(new target), right before its edit")
        row[0].set_ylim(0, 1)
        names = [n for n in f["norms"].keys() if np.isfinite(np.asarray(f["norms"][n]["l1"])).any()]
        if names:
            xn = np.asarray(f["norms"][names[0]]["edit"]) + 1
            row[1].plot(xn, np.mean([np.asarray(f["norms"][n]["l1"]) for n in names], axis=0))
        row[1].set_ylabel("‖W‖₁ / numel (edited matrices)")
        for ax in row:
            ax.set_xlabel("edit")
            ax.grid(alpha=0.3)
            ax.set_title(panel_title(f))
    fig.suptitle("target probability before each edit and the L1 norm of the edited layers")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


MQD_TYPES = [("dg.json", "DG"), ("mq.json", "MQ"), ("tf.json", "T/F")]


def final_scores(f):
    """(efficacy, specificity) x100 of every edit at the last checkpoint, as kedit table computes them"""
    ck = f["checkpoints"]
    if len(ck["n_edits"]) == 0:
        return None
    n = int(ck["n_edits"][-1])
    return tuple(100 * np.nanmean(np.asarray(ck[key])[-1, :n]) for key in ("efficacy", "specificity"))


def plot_mqd(files, path):
    """the paper's Fig. 3; False when no run edited an MQD file"""
    scores = {}  # (method, type) -> (eff, spe)
    for f in files:
        kind = dict(MQD_TYPES).get(os.path.basename(attr(f, "dataset")))
        s = final_scores(f) if kind else None
        if s is not None:
            scores[(label_of(f), kind)] = s
    if not scores:
        return False
    methods = sorted({m for m, _ in scores})
    fig, axes = plt.subplots(1, 2, figsize=(6 + 1.5 * len(methods), 4.2), squeeze=False)
    width = 0.8 / len(MQD_TYPES)
    for ax, i, name in ((axes[0][0], 0, "efficacy"), (axes[0][1], 1, "specificity")):
        for t, (_, kind) in enumerate(MQD_TYPES):
            ys = [scores.get((m, kind), (np.nan, np.nan))[i] for m in methods]
            ax.bar(np.arange(len(methods)) + (t - 1) * width, ys, width, label=kind)
        ax.set_xticks(np.arange(len(methods)))
        ax.set_xticklabels(methods, fontsize="small")
        ax.set_ylabel(f"{name} ×100, all edits at the end")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].legend()
    fig.suptitle("MQD: editing with directly generated, multiple-choice and true/false targets")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_downstream(files, path, column="accuracy", name="accuracy"):
    runs = [f for f in files if "downstream" in f and len(f["downstream"])]
    if not runs:
        return False
    tasks = []
    for f in runs:
        tasks += [t for t in f["downstream"] if t not in tasks]
    cols = min(3, len(tasks))
    rows = (len(tasks) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.6 * rows), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        for f in runs:
            if task in f["downstream"]:
                g = f["downstream"][task]
                ax.plot(np.asarray(g["n_edits"]), 100 * np.asarray(g[column]), marker="o", ms=3, label=label_of(f))
        ax.set_title(task)
        ax.set_xlabel("edits")
        ax.set_ylabel(f"{name} (x100)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    axes[0][0].legend(fontsize="small")
    fig.suptitle(f"downstream tasks: {name} against the number of edits (0: unedited)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", help="results files (.h5) written by kedit run")
    ap.add_argument("--out", default="results/plots", help="output folder (default results/plots)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    status = 0
    opened = []
    for path in args.files:
        run = os.path.splitext(os.path.basename(path))[0]
        try:
            f = h5py.File(path, "r")
        except OSError as e:
            print(f"plot.py: {path}: cannot open ({e})", file=sys.stderr)
            status = 1
            continue
        if "schema_version" not in f.attrs:
            print(f"plot.py: {path}: not a kedit results file (no schema_version)", file=sys.stderr)
            f.close()
            status = 1
            continue
        opened.append(f)
        written = []
        for kind, fn in (("norms", plot_norms), ("target_prob", plot_target_prob), ("retention", plot_retention)):
            out = os.path.join(args.out, f"{run}_{kind}.png")
            if fn(f, out) is not False:
                written.append(out)
        print("\n".join(written))
    for name, fn in (("forgetting.png", plot_forgetting), ("fig6.png", plot_fig6), ("mqd.png", plot_mqd),
                     ("downstream.png", plot_downstream),
                     ("downstream_f1.png", lambda fs, out: plot_downstream(fs, out, "f1", "weighted F1"))):
        out = os.path.join(args.out, name)
        if opened and fn(opened, out) is not False:
            print(out)
    if len(opened) > 1:
        out = os.path.join(args.out, "compare.png")
        plot_compare(opened, out)
        print(out)
    for f in opened:
        f.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
