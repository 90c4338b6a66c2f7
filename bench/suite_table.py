#!/usr/bin/env python3
"""The benchmark suite's one table (bench/suite.sh): for every variant directory under OUT with a
bench.json, its rows with Bias (and per attribute where there are several), FD, faithfulness,
purity (colour variants), the attribute classifiers' accuracy, the minority AUC and the top
group's minority share of the label-free row, and the share of the Base -> oracle Bias gap closed.
The last line is the suite's mean gap closed by the label-free row (what defaults are chosen on).
Further table names (a knob sweep's bench_<tags>.json in the same variant directories) add their
rows beside bench.json's, labelled `row <tags>`; the gap of each is against bench.json's Base and
oracle rows (a sweep's own base, reference and oracle rows are shown only where bench.json has none).
  python3 bench/suite_table.py [runs/suite] [TABLE ...]"""
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
    extra = sys.argv[2:]
    print("| variant | row | seeds | Bias | Bias per attribute | FD | faithfulness | purity | minority AUC | top group minority | gap closed |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    gaps = []
    for path in sorted(glob.glob(os.path.join(out, "*", "bench.json"))):
        b = json.load(open(path))
        variant = os.path.basename(os.path.dirname(path))
        rows = dict(b["rows"])
        base = rows.get("base", {}).get("bias", {}).get("mean")
        oracle = rows.get("oracle", {}).get("bias", {}).get("mean")
        order = list(b["row_order"])
        for t in extra:  # a sweep's rows, named by its tags
            tp = os.path.join(os.path.dirname(path), t + ".json")
            if not os.path.exists(tp):
                continue
            tb = json.load(open(tp))
            for name in tb["row_order"]:
                # base, reference and oracle cells do not depend on a sweep's tags: shown once
                if name in tb["rows"] and not (name in ("base", "reference", "oracle") and name in b["rows"]):
                    label = f"{name} {t[len('bench_'):] if t.startswith('bench_') else t}"
                    rows[label] = tb["rows"][name]
                    order.append(label)
        cols = b.get("attribute_columns", [])
        clfs = b.get("attribute_classifiers", {})
        acc = "; ".join(f"{k} clf acc {v.get('val_accuracy', 0):.3f}" for k, v in clfs.items())
        for name in order:
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
