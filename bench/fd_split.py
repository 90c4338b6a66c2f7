#!/usr/bin/env python3
"""Splits a generated set's FD into what its class x colour composition costs and what its images cost.

FD here is measured in the evaluation classifier's features, which are not colour-blind: a real set
with a skewed colour composition scores a higher FD against the balanced reference split than a
balanced real set does. So a model's FD mixes two things, its composition and its image quality.
This script builds, for a folder of generated images (`invdiff sample --per-image`), the same images
split by cell (all / each class's majority colour / the other colours) and, beside each, a real set
drawn from the train split with exactly the same (class, colour) counts. `bench/fd_split.sh` runs
`invdiff eval --images` on each pair: FD(generated) - FD(matched real) is the images' own cost.

Usage: fd_split.py DATA_DIR IMAGES_DIR PER_IMAGE_CSV OUT_DIR [SEED]
PER_IMAGE_CSV: `invdiff eval --images IMAGES_DIR`'s per_image.csv, whose colour column (the colour
oracle's verdict) and prompt column say each image's cell.
"""
import collections, csv, json, os, random, shutil, sys


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    data, images, per_image, out = sys.argv[1:5]
    rng = random.Random(int(sys.argv[5]) if len(sys.argv) == 6 else 0)
    man = json.load(open(os.path.join(data, "manifest.json")))
    if "palette" not in man:
        sys.exit("fd_split.py: the dataset's manifest has no colour palette (a colour variant of invdiff data is needed)")
    col = next(a["column"] for a in man["attributes"] if a["kind"] == "colour")
    train = [r for r in csv.DictReader(open(os.path.join(data, "metadata.csv"))) if r["split"] == "train"]
    cells = collections.defaultdict(list)
    for r in train:
        cells[(r["class_name"], r[col])].append(r)
    classes = man["class_names"]
    majority = {c: max((v for (k, v) in cells if k == c), key=lambda v: len(cells[(c, v)])) for c in classes}
    judged = list(csv.DictReader(open(per_image)))
    if judged and col not in judged[0]:
        sys.exit(f"fd_split.py: {per_image} has no column '{col}' (evaluated without the colour oracle?)")
    gen = [(r["image"], r["prompt"], r[col] or None) for r in judged]
    for part in ("all", "majority", "minority"):
        sel = [g for g in gen if g[2] is not None and (part == "all" or (part == "majority") == (g[2] == majority[g[1]]))]
        counts = collections.Counter((c, v) for _, c, v in sel)
        for kind in ("generated", "real"):
            d = os.path.join(out, f"{part}_{kind}")
            shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
            with open(d + ".csv", "w") as w:
                w.write("file,class_name\n")
                if kind == "generated":
                    for f, c, _ in sel:
                        shutil.copy(os.path.join(images, f), os.path.join(d, f)); w.write(f"{f},{c}\n")
                else:
                    i = 0
                    for (c, v), n in sorted(counts.items()):
                        if n > len(cells[(c, v)]):
                            sys.exit(f"fd_split.py: {n} generated ({c}, {v}) images but only {len(cells[(c, v)])} real ones")
                        for r in rng.sample(cells[(c, v)], n):
                            fn = f"{i:05d}.png"; i += 1
                            shutil.copy(os.path.join(data, r["file"]), os.path.join(d, fn)); w.write(f"{fn},{c}\n")
        print(f"{part}\t{len(sel)}\t" + " ".join(f"{c}/{v}:{n}" for (c, v), n in sorted(counts.items())))


if __name__ == "__main__":
    main()
