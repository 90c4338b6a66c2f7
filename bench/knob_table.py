#!/usr/bin/env python3
"""One markdown table of the knob sweeps (bench/knobs.sh) from the bench tables in a bench
directory: every bench*.json is one setting; its rows keep their mean +- sd over seeds.
  python3 bench/knob_table.py [runs/bench] [rows=erm,invdiff,oracle]
Columns: the knob setting, the row, seeds, Bias, colour purity, faithfulness, FD, the minority share
of the highest-score group (label-free rows; reported only), and the share of the Base -> oracle Bias gap closed against the oracle row at the same r, lambda and variant
("-" where no bench ran that oracle)."""
import glob
import json
import os
import sys

KNOBS = [("guidance_ratio", "r"), ("groups", "G"), ("refine_draws", "refine draws"), ("grouper", "grouper"),
         ("residual_pool", "score band P"), ("lambda", "lambda"), ("variant", "variant"), ("preset", None)]


def setting(b):
    parts = [f"{name} = {b[k]:g}" if isinstance(b[k], (int, float)) else f"{name} = {b[k]}"
             for k, name in KNOBS if name and k in b]
    parts += b.get("settings", [])  # bench --set KEY=VALUE
    return ", ".join(parts) or "defaults"


def pm(a, digits=3):
    if a.get("mean") is None:
        return "-"
    return f"{a['mean']:.{digits}f} ± {a['sd']:.{digits}f}"


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "runs/bench"
    rows = (sys.argv[2] if len(sys.argv) > 2 else "erm,invdiff,oracle").split(",")
    default = json.load(open(os.path.join(out_dir, "bench.json")))
    base_bias = default["rows"].get("base", {}).get("bias", {}).get("mean")  # None: no gap column
    print("| setting | row | seeds | Bias | colour purity | faithfulness | FD | top group minority | gap closed |")
    print("|---|---|---|---|---|---|---|---|---|")
    tables = sorted(glob.glob(os.path.join(out_dir, "bench*.json")), key=lambda p: (p != os.path.join(out_dir, "bench.json"), p))
    loaded = [json.load(open(p)) for p in tables]
    # The bound for a row is the oracle row at the same min-step and sampling setting (r, lambda,
    # variant); G and the refined score change only the invdiff row's groups, not the oracle's.
    def oracle_key(b):
        min_step = tuple(x for x in b.get("settings", []) if not x.startswith("groups_cfg."))
        return tuple(b.get(k) for k in ("guidance_ratio", "lambda", "variant", "debias_steps")) + min_step
    oracles = {oracle_key(b): b["rows"]["oracle"]["bias"]["mean"] for b in loaded if "oracle" in b["rows"]}
    for b in loaded:
        oracle = oracles.get(oracle_key(b))
        for r in rows:
            if r not in b["rows"]:
                continue
            a = b["rows"][r]
            gap = None
            if r != "oracle" and oracle is not None and base_bias is not None and a["bias"]["mean"] is not None:
                gap = (base_bias - a["bias"]["mean"]) / (base_bias - oracle)
            top = [c["top_group_minority"] for c in a.get("cells", []) if isinstance(c.get("top_group_minority"), (int, float))]
            top_s = f"{sum(top) / len(top):.3f}" if top else "-"
            print(f"| {setting(b)} | {r} | {a['seeds']} | {pm(a['bias'])} | {pm(a['purity'])} | {pm(a['faithfulness'])} | "
                  f"{pm(a['fd'], 4)} | {top_s} | {'-' if gap is None else f'{100 * gap:.0f} %'} |")


if __name__ == "__main__":
    main()
