#!/usr/bin/env python3
"""The benchmark suite's one table (bench/suite.sh): for every variant directory under OUT with a
bench.json, its rows with Bias (and per attribute where there are several), FD, faithfulness,
purity (colour variants), the attribute classifiers' accuracy, the minority AUC and the top
group's minority share of the label-free row, and the share of the Base -> oracle Bias gap closed.
The last line is the suite's mean gap closed by the label-free row (what defaults are chosen on).
  python3 bench/suite_table.py [runs/suite]"""
import glob
import json
import os
import sys


def pm(a, digits=3):
    if not a or a.get("mean") is None:
        return "-"
    return f"{a['mean']:.{digits}f} ± {a['sd']:.{digits}f}"


def cell_mean(row, field):
    v = [c[field] for c in row.get("cells", []) if isinstance(c.get(field), (int, float))]
    return f"{sum(v) / len(v):.3f}" if v else "-"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/suite"
    print("| variant | row | seeds | Bias | Bias per attribute | FD | faithfulness | purity | minority AUC | top group minority | gap closed |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    gaps = []
    for path in sorted(glob.glob(os.path.join(out, "*", "bench.json"))):
        b = json.load(open(path))
        variant = os.path.basename(os.path.dirname(path))
        rows = b["rows"]
        base = rows.get("base", {}).get("bias", {}).get("mean")
        oracle = rows.get("oracle", {}).get("bias", {}).get("mean")
        cols = b.get("attribute_columns", [])
        clfs = b.get("attribute_classifiers", {})
        acc = "; ".join(f"{k} clf acc {v.get('val_accuracy', 0):.3f}" for k, v in clfs.items())
        for name in b["row_order"]:
            if name not in rows:
                continue
            a = rows[name]
            per = "; ".join(f"{c} {cell_mean(a, 'bias_' + c)}" for c in cols) if len(cols) > 1 else (acc or "-")
            gap = "-"
            if name not in ("base", "oracle", "reference") and None not in (base, oracle) and a["bias"]["mean"] is not None:
                if base - oracle > 0.02:
                    g = (base - a["bias"]["mean"]) / (base - oracle)
                    gap = f"{100 * g:.0f} %"
                    if name == "invdiff":
                        gaps.append(g)
                else:
                    gap = "no gap"  # nothing to close (e.g. the unbiased control): Bias should stay at Base's
            print(f"| {variant} | {name} | {a['seeds']} | {pm(a['bias'])} | {per} | {pm(a['fd'], 4)} | {pm(a['faithfulness'])} | "
                  f"{pm(a['purity'])} | {cell_mean(a, 'minority_auc')} | {cell_mean(a, 'top_group_minority')} | {gap} |")
    if gaps:
        print(f"\nSuite mean of the gap closed by invdiff's defaults: {100 * sum(gaps) / len(gaps):.0f} % over {len(gaps)} variants.")


if __name__ == "__main__":
    main()
