#!/usr/bin/env python3
"""The table of bench/max_step.sh: per variant and grouping, the minority AUC of the score, the
minority share of the groups above the lowest-score one, the clusters chosen per prompt, and per
biased attribute its Bias in the data and with the groups balanced (what the min step would train
on; oracle groups: 0). The last rows: each grouping's mean over variants of the balanced Bias as a
share of the data's (the suite mean defaults are chosen on; lower is better).
  python3 bench/max_step_table.py [runs/max_step/seed0] [hscore | h0.125]"""
import glob
import json
import os
import sys


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "runs/max_step/seed0"
    hid = sys.argv[2] if len(sys.argv) > 2 else "hscore"  # which scoring: hscore or h<fraction>
    print("| variant | grouping | AUC | minority share above the lowest group | k per prompt | verdict (imbalance, separation / null) | attribute: Bias data -> balanced |")
    print("|---|---|---|---|---|---|---|")
    by_cfg = {}
    for vdir in sorted(glob.glob(os.path.join(root, "*"))):
        v = os.path.basename(vdir)
        manifest = None
        for cfg_dir in sorted(glob.glob(os.path.join(vdir, hid, "*_k*"))):
            cfg = os.path.basename(cfg_dir)
            rep = json.load(open(os.path.join(cfg_dir, "report.json")))
            summ = json.load(open(os.path.join(cfg_dir, "summary.json")))
            auc = rep.get("minority", {}).get("auc_score")
            groups = rep["groups"]
            above = [g for g in groups[1:]]
            n_above = sum(g["size"] for g in above)
            share = sum(g["size"] * g.get("minority_share", 0) for g in above) / n_above if n_above else float("nan")
            ks = ",".join(str(c["k"]) for c in summ["grouper"].get("conditions", []))
            attrs = []
            ratios = []
            for col, a in rep["attributes"].items():
                if col.endswith("_name") and "balanced_bias" in a:
                    attrs.append(f"{col[:-5]} {a['data_bias']:.3f} -> {a['balanced_bias']:.3f}")
                    if a["data_bias"] > 0.05:
                        ratios.append(a["balanced_bias"] / a["data_bias"])
            if ratios:
                by_cfg.setdefault(cfg, []).append(sum(ratios) / len(ratios))
            auc_s = f"{auc:.3f}" if isinstance(auc, (int, float)) else "-"
            st = rep.get("structure", {})
            verdict = ("structure" if st.get("clear") else "none") + f" ({st.get('imbalance', float('nan')):.2f}, " \
                f"{st.get('separation_over_null', float('nan')):.2f})"
            print(f"| {v} | {cfg} | {auc_s} | {share:.3f} | {ks} | {verdict} | {'; '.join(attrs)} |")
    print("\n| grouping | biased variants | mean balanced / data Bias |\n|---|---|---|")
    for cfg, r in sorted(by_cfg.items()):
        print(f"| {cfg} | {len(r)} | {sum(r) / len(r):.3f} |")


if __name__ == "__main__":
    main()
