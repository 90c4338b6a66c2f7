#!/usr/bin/python3
"""PyTorch-Python reference for invdiff's performance comparison (issue 6).

Builds the same UNet as src/model/unet.cpp (same layers, same parameter count: both print it)
and times the same workloads as bench/perf_main.cpp: a base training step, a guided training
step (frozen base + trainable G_psi, group objective) and a DDIM sampling loop. Uses Debian's
python3-torch (installed by bench/setup.sh); never needed by the product.

  /usr/bin/python3 bench/torch_ref.py --workload train --threads 2 --iters 20
prints one JSON line: {"impl": "pytorch", "workload": ..., "params": ..., "sec_per_iter": ...}
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t, dim, max_period=10000.0):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(e))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class AttnBlock(nn.Module):
    def __init__(self, ch, groups, heads):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        qkv = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        attn = torch.softmax(q.transpose(-1, -2) @ k / math.sqrt(C // self.heads), -1)
        out = (v @ attn.transpose(-1, -2)).reshape(B, C, H, W)
        return x + self.proj(out)


class UNet(nn.Module):
    def __init__(self, in_ch=3, out_ch=3, size=16, ch=32, mult=(1, 2, 2), blocks=1, attn=(), heads=1,
                 groups=8, classes=4):
        super().__init__()
        emb = 4 * ch
        self.ch = ch
        self.time_fc1 = nn.Linear(ch, emb)
        self.time_fc2 = nn.Linear(emb, emb)
        self.class_emb = nn.Embedding(classes + 1, emb)
        self.conv_in = nn.Conv2d(in_ch, ch, 3, padding=1)
        self.down, self.down_kind = nn.ModuleList(), []
        skips, c, res = [ch], ch, size
        for lvl, m in enumerate(mult):
            for _ in range(blocks):
                self.down.append(ResBlock(c, ch * m, emb, groups)); self.down_kind.append("res")
                c = ch * m
                if res in attn:
                    self.down.append(AttnBlock(c, groups, heads)); self.down_kind.append("attn")
                skips.append(c)
            if lvl + 1 < len(mult):
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1)); self.down_kind.append("down")
                skips.append(c)
                res //= 2
        self.mid = nn.ModuleList([ResBlock(c, c, emb, groups), AttnBlock(c, groups, heads), ResBlock(c, c, emb, groups)])
        self.up, self.up_kind = nn.ModuleList(), []
        for lvl in reversed(range(len(mult))):
            for _ in range(blocks + 1):
                s = skips.pop()
                self.up.append(ResBlock(c + s, ch * mult[lvl], emb, groups)); self.up_kind.append("res")
                c = ch * mult[lvl]
                if res in attn:
                    self.up.append(AttnBlock(c, groups, heads)); self.up_kind.append("attn")
            if lvl > 0:
                self.up.append(nn.Conv2d(c, c, 3, padding=1)); self.up_kind.append("up")
                res *= 2
        self.norm_out = nn.GroupNorm(groups, c)
        self.conv_out = nn.Conv2d(c, out_ch, 3, padding=1)

    def forward(self, x, t, y):
        e = self.time_fc2(F.silu(self.time_fc1(timestep_embedding(t, self.ch)))) + self.class_emb(y)
        h = self.conv_in(x)
        hs = [h]
        for i, (kind, mod) in enumerate(zip(self.down_kind, self.down)):
            if kind == "res":
                h = mod(h, e)
                if i + 1 >= len(self.down_kind) or self.down_kind[i + 1] != "attn":
                    hs.append(h)
            else:
                h = mod(h)
                hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, e)), e)
        for kind, mod in zip(self.up_kind, self.up):
            if kind == "res":
                h = mod(torch.cat([h, hs.pop()], 1), e)
            elif kind == "attn":
                h = mod(h)
            else:
                h = mod(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def linear_abar(T=1000):
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0)


def group_objective(l, w, lam=1.0):
    # L_g = sum_i w_ig l_i / (sum_i w_ig + 1e-9) over present groups; L = mean + lam * var (unbiased)
    sw = w.sum(0)
    present = sw > 0
    Lg = (w * l[:, None]).sum(0) / (sw + 1e-9)
    Lg = Lg[present]
    if Lg.numel() == 1:
        return Lg.mean()
    return Lg.mean() + lam * Lg.var(unbiased=True)


def count_forward_flops(net, size=16):
    """FLOPs (2 x multiply-adds) of one image's forward pass: convolutions, linear layers and the
    attention matmuls; norms and activations are ignored (a few percent)."""
    flops = [0]

    def conv_hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        flops[0] += 2 * out.numel() // out.shape[0] * (m.in_channels // m.groups) * k

    def lin_hook(m, inp, out):
        flops[0] += 2 * m.in_features * m.out_features

    def attn_hook(m, inp, out):
        _, C, H, W = inp[0].shape
        L = H * W
        flops[0] += 2 * 2 * L * L * C  # q^T k and v attn^T

    hooks = []
    for mod in net.modules():
        if isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(lin_hook))
        elif isinstance(mod, AttnBlock):
            hooks.append(mod.register_forward_hook(attn_hook))
    with torch.no_grad():
        net(torch.zeros(1, 3, size, size), torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    for h in hooks:
        h.remove()
    return flops[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", choices=["train", "guided", "sample", "flops", "peak"], required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=50, help="DDIM steps (sample workload)")
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--variant", choices=["copy", "small"], default="copy",
                    help="guided: G_psi a copy of the base, or invdiff's `small` module (half the channels, random init)")
    ap.add_argument("--profile", default="", help="write a profiler chrome trace of the timed iterations")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    B, T = a.batch, 1000
    abar = linear_abar(T).float()
    net = UNet()
    params = sum(p.numel() for p in net.parameters())
    x0 = torch.rand(B, 3, 16, 16) * 2 - 1
    y = torch.randint(0, 4, (B,))

    if a.workload == "peak":
        # the machine's convolution rate: oneDNN (the kernels every workload spends its time in) on
        # a 3x3 convolution large enough to reach its best blocking: [64, 256, 16, 16] -> 256
        xc, wc = torch.randn(64, 256, 16, 16), torch.randn(256, 256, 3, 3)
        with torch.no_grad():
            for _ in range(3):
                F.conv2d(xc, wc, padding=1)
            ts = []
            for _ in range(10):
                t0 = time.perf_counter()
                F.conv2d(xc, wc, padding=1)
                ts.append(time.perf_counter() - t0)
        print(2 * 64 * 256 * 16 * 16 * 256 * 9 / sorted(ts)[5] / 1e9)
        return
    if a.workload == "flops":
        print(json.dumps({"workload": "flops", "params": params, "forward_flops_per_image": count_forward_flops(net)}))
        return
    if a.workload == "train":
        ema = UNet()
        ema.load_state_dict(net.state_dict())
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.0)

        def step():
            t = torch.randint(0, T, (B,))
            eps = torch.randn_like(x0)
            ab = abar[t].view(-1, 1, 1, 1)
            xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
            loss = F.mse_loss(net(xt, t, y), eps)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), net.parameters()):
                    pe.mul_(0.999).add_(pm, alpha=0.001)
        work = step
    elif a.workload == "guided":
        # frozen base + G_psi, additive mix: `copy` = the base's architecture and weights (the official
        # module), `small` = the same UNet at half the channels, random init (src/invdiff/guidance.cpp)
        for p in net.parameters():
            p.requires_grad_(False)
        if a.variant == "copy":
            g = UNet()
            g.load_state_dict(net.state_dict())
        else:
            g = UNet(ch=16)
        nn.init.zeros_(g.conv_out.weight); nn.init.zeros_(g.conv_out.bias)
        opt = torch.optim.AdamW(g.parameters(), lr=1e-3, weight_decay=0.0)
        w = torch.rand(B, a.groups)
        w = w / w.sum(1, keepdim=True)

        def step():
            t = torch.randint(0, T, (B,))
            eps = torch.randn_like(x0)
            ab = abar[t].view(-1, 1, 1, 1)
            xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
            with torch.no_grad():
                base = net(xt, t, y)
            eps_hat = base + 1.0 * g(xt, t, y)
            l = ((eps_hat - eps) ** 2).flatten(1).mean(1)
            loss = group_objective(l, w)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(g.parameters(), 1.0)
            opt.step()
        work = step
    else:
        net.eval()
        ts = [round(T - 1 - i * T / a.steps) for i in range(a.steps)]

        def step():
            with torch.no_grad():
                x = torch.randn(B, 3, 16, 16)
                for i, t in enumerate(ts):
                    s = ts[i + 1] if i + 1 < len(ts) else -1
                    at, as_ = abar[t].item(), (abar[s].item() if s >= 0 else 1.0)
                    eps = net(x, torch.full((B,), t), y)
                    x0p = ((x - math.sqrt(1 - at) * eps) / math.sqrt(at)).clamp(-1, 1)
                    e = (x - math.sqrt(at) * x0p) / math.sqrt(1 - at)
                    x = math.sqrt(as_) * x0p + math.sqrt(1 - as_) * e
            return x
        work = step

    for _ in range(a.warmup):
        work()
    times = []
    prof = torch.autograd.profiler.profile() if a.profile else None
    if prof:
        prof.__enter__()
    for _ in range(a.iters):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    if prof:
        prof.__exit__(None, None, None)
        prof.export_chrome_trace(a.profile)
    times.sort()
    g_params = sum(p.numel() for p in g.parameters()) if a.workload == "guided" else 0
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "workload": a.workload, "params": params,
                      "g_params": g_params,
                      "threads": a.threads, "batch": B, "iters": a.iters,
                      "variant": a.variant if a.workload == "guided" else "",
                      "sec_per_iter": times[len(times) // 2]}))


if __name__ == "__main__":
    main()
