#!/usr/bin/env python3
"""Splits a generated set's FD into what its class x colour composition costs and what its images cost.

FD here is measured in the evaluation classifier's features, which are not colour-blind: a real set
with a skewed colour composition scores a higher FD against the balanced reference split than a
balanced real set does. So a model's FD mixes two things, its composition and its image quality.
This script builds, for a folder of generated images (`invdiff sample --per-image`), the same images
split by cell (all / each class's majority colour / the other colours) and, beside each, a real set
drawn from the train split with exactly the same (class, colour) counts. `bench/fd_split.sh` runs
`invdiff eval --images` on each pair: FD(generated) - FD(matched real) is the images' own cost.

Usage: fd_split.py DATA_DIR IMAGES_DIR OUT_DIR [SEED]
Colour per generated image: the colour oracle's rule (mean of the pixels whose largest channel
exceeds 0.2, scaled to max 1, nearest palette colour; src/eval/colour.cpp). Pure Python (no numpy),
8-bit RGB PNGs as invdiff writes them.
"""
import collections, csv, json, os, random, shutil, struct, sys, zlib


def read_png(path):
    b = open(path, "rb").read()
    if b[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"fd_split.py: {path} is not a PNG")
    i, idat, w, h, ct = 8, b"", 0, 0, 0
    while i < len(b):
        n, = struct.unpack(">I", b[i:i + 4]); t = b[i + 4:i + 8]; d = b[i + 8:i + 8 + n]; i += 12 + n
        if t == b"IHDR":
            w, h, depth, ct = struct.unpack(">IIBB", d[:10])
            if depth != 8 or ct not in (2, 6):
                sys.exit(f"fd_split.py: {path}: only 8-bit RGB(A) PNGs")
        elif t == b"IDAT":
            idat += d
    ch = 3 if ct == 2 else 4
    raw, stride, prev, rows, p = zlib.decompress(idat), w * ch, bytearray(w * ch), [], 0
    for _ in range(h):
        f, line = raw[p], bytearray(raw[p + 1:p + 1 + stride]); p += 1 + stride
        for x in range(stride):
            a = line[x - ch] if x >= ch else 0; up = prev[x]; c = prev[x - ch] if x >= ch else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + up) & 255
            elif f == 3: line[x] = (line[x] + (a + up) // 2) & 255
            elif f == 4:
                q = a + up - c; pa, pb, pc = abs(q - a), abs(q - up), abs(q - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else up if pb <= pc else c)) & 255
        rows.append(line); prev = line
    return w, ch, rows


def oracle_colour(path, palette):
    w, ch, rows = read_png(path)
    s, n = [0.0, 0.0, 0.0], 0
    for r in rows:
        for x in range(w):
            px = r[x * ch:x * ch + 3]
            if max(px) > 0.2 * 255:
                s = [s[k] + px[k] / 255 for k in range(3)]; n += 1
    if n == 0:
        return None
    m = max(s) or 1e-6
    s = [v / m for v in s]
    def d(c):
        cm = max(c["rgb"])
        return sum((s[k] - c["rgb"][k] / cm) ** 2 for k in range(3))
    return min(palette, key=d)["name"]


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    data, images, out = sys.argv[1:4]
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) == 5 else 0)
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
    # invdiff sample names per-image files "<prompt with non-alphanumerics as _>-s<seed>-<k>.png"
    slug = {"".join(ch if ch.isalnum() else "_" for ch in c): c for c in classes}
    gen = []
    for f in sorted(os.listdir(images)):
        if f.endswith(".png"):
            c = slug.get(f.rsplit("-s", 1)[0])
            if c is None:
                sys.exit(f"fd_split.py: {f}: no class of the dataset")
            gen.append((f, c, oracle_colour(os.path.join(images, f), man["palette"])))
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
