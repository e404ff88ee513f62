"""Neural NMF against multilayer ("Hier. NMF") and deep NMF, in the layout of the slides' Table 1.

Data: the Neural NMF authors' synthetic hierarchical bag of words (98 documents × 3762 words,
9 classes, the shipped 40 % label mask) and their 20 Newsgroups subsample (200 posts, 10
sub- and 6 super-categories), from ``../shared/data/neuralnmf``. Documents are the rows of X
(docs/neural_nmf.md explains the orientation).

For ranks (9, 4, 2) every method starts from the same multilayer Frobenius NMF (β = 2):
Hier. NMF is that fit, deep NMF is :class:`dnmf.DeepNMF` (β = 2) and Neural NMF is
:class:`dnmf.NeuralNMF`, both started from its factors. Neural NMF runs unsupervised,
semi-supervised (labels of the documents the shipped mask marks known) and supervised (all
labels). Reported per layer ℓ: the relative error ‖X − W_ℓ H_ℓ ⋯ H_1‖_F / ‖X‖_F, the
truncated-SVD bound at rank r_ℓ, and accuracy / where labels apply: a nonnegative linear
classifier on W_ℓ fitted on the known documents and scored on the hidden ones
(:func:`dnmf.labels.layer_accuracies`; for the supervised rows every label is known and the
accuracy is on all documents). For Neural NMF's last layer its own classification layer B is
used. The 20 Newsgroups run reports the purity of layer 2 (r_2 = 6 topics) against the six
super-categories and the chance level (mean purity of random assignments with the same
cluster sizes).

Usage::

    .venv/bin/python bench/neural_nmf.py                 # ~1-3 min on a shared 2-core machine
    .venv/bin/python bench/neural_nmf.py --iters 100     # quicker
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.io as sio
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dnmf import DeepNMF, MultilayerNMF, NeuralNMF  # noqa: E402
from dnmf.labels import layer_accuracies, purity  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "neuralnmf"


def rel_errors(X, Ws, Hs) -> list[float]:
    Xd = X.toarray() if sp.issparse(X) else X
    out, P = [], None
    for W, H in zip(Ws, Hs):
        P = H if P is None else H @ P
        out.append(float(np.linalg.norm(Xd - W @ P) / np.linalg.norm(Xd)))
    return out


def svd_bound(X, ranks) -> list[float]:
    Xd = X.toarray() if sp.issparse(X) else X
    s2 = np.linalg.svd(Xd, compute_uv=False) ** 2
    return [float(np.sqrt(s2[r:].sum() / s2.sum())) for r in ranks]


def table1(args) -> None:
    X = sio.loadmat(DATA / "synthetic_bag_of_words.mat")["bag_of_words"]
    Y = sio.loadmat(DATA / "Y_mat_bow_data.mat")["Y"].astype(float)
    L = sio.loadmat(DATA / "L_mat_bow_data.mat")["L"].astype(float)
    truth = np.argmax(Y, axis=0)
    known = L.any(axis=0)
    ranks = (9, 4, 2)
    print(f"synthetic bag of words: X {X.shape} (docs × words), {Y.shape[0]} classes, "
          f"{known.sum()} of {known.size} labels known ({known.mean():.0%})")
    t0 = time.perf_counter()
    ml = MultilayerNMF(ranks=ranks, beta=2.0, max_iter=args.init_iters,
                       random_state=args.seed).fit(X)
    t_ml = time.perf_counter() - t0
    H0 = [H.copy() for H in ml.H_]
    t0 = time.perf_counter()
    deep = DeepNMF(ranks=ranks, beta=2.0, init="custom", max_iter=args.iters).fit(
        X, W=[W.copy() for W in ml.W_], H=[H.copy() for H in ml.H_])
    t_deep = time.perf_counter() - t0

    def neural(y=None, mask=None):
        t = time.perf_counter()
        model = NeuralNMF(ranks=ranks, init="custom", max_iter=args.iters,
                          label_weight=args.label_weight)
        model.fit(X, y, label_mask=mask, H=[H.copy() for H in H0])
        return model, time.perf_counter() - t

    runs = {"unsup": neural(), "semi": neural(Y, L), "sup": neural(Y, np.ones_like(Y))}
    bound = svd_bound(X, ranks)
    errs = {"Hier. NMF": rel_errors(X, ml.W_, ml.H_),
            "Deep NMF": rel_errors(X, deep.W_, deep.H_)}
    acc = {}
    for setting, mask in (("semi", known), ("sup", None)):
        acc[("Hier. NMF", setting)] = [a.accuracy for a in layer_accuracies(ml.W_, truth, mask)]
        acc[("Deep NMF", setting)] = [a.accuracy for a in layer_accuracies(deep.W_, truth, mask)]
        model = runs[setting][0]
        acc[("Neural NMF", setting)] = [
            a.accuracy for a in layer_accuracies(model.W_, truth, mask, B_last=model.B_)]
        acc[("Neural NMF (refit B)", setting)] = [
            a.accuracy for a in layer_accuracies(model.W_, truth, mask)]

    print("\nTable 1 layout: relative error ‖X − W_ℓ H_ℓ⋯H_1‖/‖X‖ / accuracy "
          "(semi: on the hidden documents; sup: on all)")
    print(f"{'':9}{'layer':>6} {'SVD bound':>10} {'Hier. NMF':>14} {'Deep NMF':>14} "
          f"{'Neural NMF':>14}  {'(Neural, refit B)':>17}")
    for setting, title in (("unsup", "Unsuper."), ("semi", "Semisuper."), ("sup", "Supervised")):
        neural_errs = rel_errors(X, runs[setting][0].W_, runs[setting][0].H_)
        for ell in range(3):
            cells = []
            for name, e in (("Hier. NMF", errs["Hier. NMF"]), ("Deep NMF", errs["Deep NMF"]),
                            ("Neural NMF", neural_errs)):
                cell = f"{e[ell]:.3f}"
                if setting != "unsup":
                    cell += f" / {acc[(name, setting)][ell]:.3f}"
                cells.append(cell)
            refit = (f"{acc[('Neural NMF (refit B)', setting)][ell]:.3f}"
                     if setting != "unsup" else "")
            print(f"{title if ell == 0 else '':9}{ell + 1:>6} {bound[ell]:>10.3f} "
                  f"{cells[0]:>14} {cells[1]:>14} {cells[2]:>14}  {refit:>17}")
    print(f"\ntimes: multilayer {t_ml:.1f} s ({args.init_iters} MU iterations/layer), deep "
          f"{t_deep:.1f} s ({args.iters} iterations), Neural NMF "
          + ", ".join(f"{k} {v[1]:.1f} s ({v[0].n_iter_} steps)" for k, v in runs.items())
          + " — shared 2-core machine, times are indicative only")
    print("Hier. NMF and Deep NMF never see the labels: their accuracy is the classifier on "
          "their W_ℓ; the 'semi' and 'sup' rows repeat their errors.")

    # One layer of rank 9 (one latent dimension per class): what the label term does when
    # the last layer can separate the classes.
    one = NeuralNMF(ranks=(9,), init="custom", max_iter=args.iters,
                    label_weight=args.label_weight).fit(X, Y, label_mask=L, H=[H0[0].copy()])
    ml_acc = layer_accuracies(ml.W_[:1], truth, known)[0].accuracy
    nn_acc = layer_accuracies(one.W_, truth, known, B_last=one.B_)[0].accuracy
    print(f"\nranks (9,), semi-supervised: hidden-label accuracy {nn_acc:.3f} (classifier on "
          f"multilayer's W_1: {ml_acc:.3f}); relative error {one.data_errors_[0]:.3f} "
          f"(multilayer {errs['Hier. NMF'][0]:.3f})")


def newsgroups(args) -> None:
    d = sio.loadmat(DATA / "20News_subsampled.mat")
    X = sp.csr_array(sp.csr_array(d["X_subsampled"]).T)  # documents × words
    sup = np.asarray(d["super_cats"]).ravel()
    sub = np.asarray(d["sub_cats"]).ravel()
    ranks = (10, 6)
    print(f"\n20 Newsgroups subsample: X {X.shape} (docs × words), {np.unique(sub).size} "
          f"sub-, {np.unique(sup).size} super-categories; ranks {ranks}")
    ml = MultilayerNMF(ranks=ranks, beta=2.0, max_iter=args.init_iters,
                       random_state=args.seed).fit(X)
    t0 = time.perf_counter()
    model = NeuralNMF(ranks=ranks, init="custom", max_iter=args.iters).fit(
        X, H=[H.copy() for H in ml.H_])
    t = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    clusters = np.argmax(model.W_[1], axis=1)
    chance = np.mean([purity(np.eye(6)[rng.permutation(clusters)], sup) for _ in range(200)])
    print(f"{'':24}{'layer 1 vs sub':>16}{'layer 2 vs super':>18}{'rel. errors':>22}")
    for name, fit in (("Hier. NMF", ml), ("Neural NMF", model)):
        e = rel_errors(X, fit.W_, fit.H_)
        print(f"{name:24}{purity(fit.W_[0], sub):>16.3f}{purity(fit.W_[1], sup):>18.3f}"
              f"{e[0]:>11.3f}{e[1]:>11.3f}")
    print(f"{'chance (same sizes)':24}{'':>16}{chance:>18.3f}")
    print(f"Neural NMF: {model.n_iter_} steps in {t:.1f} s")
    vocab = [str(np.asarray(w).ravel()[0]) for w in np.asarray(d["vocab"]).ravel()]
    F2 = model.features(2)
    for k in range(F2.shape[0]):
        members = sup[clusters == k]
        top = ", ".join(vocab[j] for j in np.argsort(F2[k])[::-1][:8])
        major = np.bincount(members).argmax() if members.size else -1
        print(f"  layer-2 topic {k + 1}: {members.size:3d} docs, majority super-category "
              f"{major}: {top}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=500, help="deep / Neural NMF iterations")
    parser.add_argument("--init-iters", type=int, default=500,
                        help="multilayer MU iterations per layer (the common start)")
    parser.add_argument("--label-weight", type=float, default=1.0, help="λ of Neural NMF")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"the Neural NMF data are not at {DATA}")
    table1(args)
    newsgroups(args)


if __name__ == "__main__":
    main()
