#!/usr/bin/env python3
"""Self time per op from a profiler chrome trace (libtorch's RecordProfile in invdiff_perf
--profile, or torch.autograd.profiler in torch_ref.py --profile): shows what bounds a workload.
  python3 bench/profile_ops.py TRACE.json [TOP=12]
Self time = an event's duration minus its direct children's (events nest by time on a thread)."""
import collections
import json
import sys


def self_times(events):
    out = collections.Counter()
    by_tid = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            by_tid[e.get("tid")].append(e)
    for evs in by_tid.values():
        evs.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        stack = []  # [end, name, child_time]
        def pop():
            end, name, child, dur = stack.pop()
            out[name] += dur - child
        for e in evs:
            ts, dur = float(e["ts"]), float(e["dur"])
            while stack and stack[-1][0] <= ts:
                pop()
            if stack:
                stack[-1][2] += dur
            stack.append([ts + dur, e["name"], 0.0, dur])
        while stack:
            pop()
    return out


def main():
    data = json.load(open(sys.argv[1]))
    events = data["traceEvents"] if isinstance(data, dict) else data
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    st = self_times(events)
    total = sum(st.values())
    conv = sum(v for k, v in st.items() if "conv" in k.lower() or "mkldnn" in k.lower())
    print(f"total op self time {total / 1e3:.1f} ms; convolution ops {100 * conv / total:.0f} %")
    print("| op | self ms | share |\n|---|---|---|")
    for name, v in st.most_common(top):
        print(f"| {name} | {v / 1e3:.1f} | {100 * v / total:.1f} % |")


if __name__ == "__main__":
    main()
