#!/usr/bin/env python3
"""The per-group mean denoising loss of two models scored on the same rows and noise
(bench/group_losses.sh): one markdown table, a row per (class, attribute value), a column pair
per timestep (base loss, the guided model's change in %).
  python3 bench/group_losses.py METADATA_CSV ATTRIBUTE_COLUMN BASE_SCORES GUIDED_SCORES"""
import collections
import csv
import sys


def main():
    meta_csv, attr, base_csv, guided_csv = sys.argv[1:5]
    meta = {}
    with open(meta_csv) as f:
        rows = csv.DictReader(f)
        target = "class_name" if "class_name" in rows.fieldnames else "class"
        for r in rows:
            meta[r["file"]] = (r[target], r[attr])
    with open(base_csv) as f:
        base = {r["file"]: r for r in csv.DictReader(f)}
    with open(guided_csv) as f:
        guided = {r["file"]: r for r in csv.DictReader(f)}
    ts = [c for c in next(iter(base.values())) if c.startswith("loss_t")]
    acc = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for file, r in base.items():
        for t in ts:
            a = acc[(meta[file], t)]
            a[0] += 1
            a[1] += float(r[t])
            a[2] += float(guided[file][t])
    groups = sorted({g for g, _ in acc})
    print("| group | rows | " + " | ".join(f"t = {t[6:]}: base loss | change" for t in ts) + " |")
    print("|---|---|" + "---|---|" * len(ts))
    for g in groups:
        cells = []
        for t in ts:
            n, lb, lg = acc[(g, t)]
            cells += [f"{lb / n:.5f}", f"{100 * (lg - lb) / lb:+.1f} %"]
        print(f"| {g[0]} / {g[1]} | {acc[(g, ts[0])][0]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
