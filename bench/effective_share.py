#!/usr/bin/env python3
"""Offline analysis (reads the labels: never part of the method). For a label-free scores.csv, the
minority share of the training distribution that the invdiff min step sees: per class, the Otsu
split of the score into low / high, each group given half the weight (the group-mean objective at
lambda ~ 0), against 0.5 for oracle groups and the data's own share. Also the minority share of
the high group and of the top 8 / 10 / 12 % by score.
  python3 bench/effective_share.py runs/bench/seed0/invdiff/groups/scores.csv data/cfmnist"""
import csv
import sys

import numpy as np


def otsu_threshold(v):
    vs = np.sort(v)
    n = len(vs)
    cs = np.cumsum(vs)
    i = np.arange(1, n)
    lo, hi = cs[:-1] / i, (cs[-1] - cs[:-1]) / (n - i)
    k = int(np.argmax(i * (n - i) * (hi - lo) ** 2))
    return (vs[k] + vs[k + 1]) / 2


def main():
    scores_csv, data_dir = sys.argv[1], sys.argv[2]
    meta = {r["file"]: r for r in csv.DictReader(open(f"{data_dir}/metadata.csv"))}
    rows = list(csv.DictReader(open(scores_csv)))
    y = np.array([int(meta[r["file"]]["class"]) for r in rows])
    m = np.array([int(meta[r["file"]]["minority"]) for r in rows])
    s = np.array([float(r["score"]) for r in rows])

    def balanced_share(high):
        out = []
        for c in np.unique(y):
            h, mm = high[y == c], m[y == c]
            out.append(0.5 * mm[h].mean() + 0.5 * mm[~h].mean())
        return float(np.mean(out))

    high = np.zeros(len(s), bool)
    for c in np.unique(y):
        idx = y == c
        high[idx] = s[idx] > otsu_threshold(s[idx])
    print(f"data minority share {m.mean():.3f}; oracle groups 0.500")
    print(f"Otsu high group: {high.mean():.3f} of rows, minority share {m[high].mean():.3f}; "
          f"effective share under group balancing {balanced_share(high):.3f}")
    for top in (0.08, 0.10, 0.12):
        t = np.zeros(len(s), bool)
        for c in np.unique(y):
            idx = np.where(y == c)[0]
            t[idx] = s[idx] > np.quantile(s[idx], 1 - top)
        print(f"top {top:.2f} per class: minority share {m[t].mean():.3f}; effective share {balanced_share(t):.3f}")


if __name__ == "__main__":
    main()
