#!/usr/bin/env python3
# PyTorch (CUDA) twins of bench/device_compare's cases, for a GPU machine whose Python has PyTorch (Debian's
# libtorch has no CUDA): the same shapes, losses and optimizers, timed the same way (the mean of N calls between
# synchronisations, median over rounds). Usage: python3 bench/device_compare_pytorch.py [rounds]
import statistics, sys, time, torch
import torch.nn as nn, torch.nn.functional as F
dev = torch.device("cuda")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7

def timeit(name, fn, calls):
    for _ in range(3): fn()
    torch.cuda.synchronize()
    meds = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(calls): fn()
        torch.cuda.synchronize()
        meds.append((time.perf_counter() - t) / calls * 1e6)
    print(f"torch {torch.__version__} {name}: median {statistics.median(meds):.1f} us  (rounds {[round(m,1) for m in meds]})", flush=True)

n = 1 << 24
x = torch.randn(n, device=dev) * 2
chain = lambda v: torch.exp(torch.tanh(v * 0.5 + 1.0) * 2.0 - v) / (v * v + 1.0) + torch.sigmoid(v)
with torch.no_grad():
    timeit("elementwise_chain eager", lambda: chain(x), 20)
xg = x.clone().requires_grad_(True)
def fb():
    xg.grad = None
    chain(xg).sum().backward()
timeit("elementwise_chain forward+backward eager", fb, 20)

B = 64
mlp = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)).to(dev)
opt = torch.optim.SGD(mlp.parameters(), lr=0.01)
xm = torch.randn(B, 784, device=dev); ym = torch.arange(B, device=dev) % 10
def mlp_step():
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(mlp(xm), ym); loss.backward(); opt.step(); return loss
timeit("mlp_step", mlp_step, 100)

lenet = nn.Sequential(nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
                      nn.Flatten(), nn.Linear(320, 50), nn.ReLU(), nn.Linear(50, 10), nn.LogSoftmax(1)).to(dev)
opt2 = torch.optim.SGD(lenet.parameters(), lr=0.01, momentum=0.9)
xl = torch.randn(B, 1, 28, 28, device=dev)
def lenet_step():
    opt2.zero_grad(set_to_none=True)
    loss = F.nll_loss(lenet(xl), ym); loss.backward(); opt2.step(); return loss
timeit("lenet_step", lenet_step, 50)
