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

# resnet20_step: bench/compare_deep.cpp's TorchResNet20 (option-B shortcuts, BatchNorm in training mode)
class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1); self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1); self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout)) if cin != cout or stride != 1 else None
    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.shortcut(x) if self.shortcut is not None else x))
class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, 1, 1); self.bn = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for stage in range(3):
            for b in range(3):
                cout = 16 << stage; blocks.append(Block(cin, cout, 2 if stage > 0 and b == 0 else 1)); cin = cout
        self.blocks = nn.Sequential(*blocks); self.fc = nn.Linear(64, 10)
    def forward(self, x):
        return self.fc(self.blocks(F.relu(self.bn(self.stem(x)))).mean((2, 3)))
resnet = ResNet20().to(dev)
opt3 = torch.optim.SGD(resnet.parameters(), lr=0.01, momentum=0.9)
def resnet_step():
    opt3.zero_grad(set_to_none=True)
    loss = F.cross_entropy(resnet(xl), ym); loss.backward(); opt3.step(); return loss
timeit("resnet20_step", resnet_step, 5)

# gpt_step: bench/compare_deep.cpp's TorchGpt (pre-LN causal blocks, learned positions), batch 8, AdamW lr 3e-4
GT, GV, GE, GH, GF, GBLOCKS, GB = 128, 96, 256, 8, 1024, 6, 8
class GptBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(GE); self.attention = nn.MultiheadAttention(GE, GH)
        self.norm2 = nn.LayerNorm(GE); self.ffn1 = nn.Linear(GE, GF); self.ffn2 = nn.Linear(GF, GE)
    def forward(self, x, mask):  # [B, T, E]; torch's attention takes [T, B, E]
        n = self.norm1(x).transpose(0, 1)
        h = x + self.attention(n, n, n, need_weights=False, attn_mask=mask)[0].transpose(0, 1)
        return h + self.ffn2(F.relu(self.ffn1(self.norm2(h))))
class Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.token = nn.Embedding(GV, GE); self.position = nn.Parameter(torch.randn(GT, GE))
        self.blocks = nn.ModuleList([GptBlock() for _ in range(GBLOCKS)])
        self.norm = nn.LayerNorm(GE); self.head = nn.Linear(GE, GV)
        self.register_buffer("mask", torch.triu(torch.full((GT, GT), float("-inf")), 1))
    def forward(self, tokens):
        x = self.token(tokens) + self.position
        for b in self.blocks: x = b(x, self.mask)
        return self.head(self.norm(x)).reshape(GB * GT, GV)
gpt = Gpt().to(dev)
opt4 = torch.optim.AdamW(gpt.parameters(), lr=3e-4)
r = torch.arange(GB, device=dev).unsqueeze(1); t = torch.arange(GT, device=dev).unsqueeze(0)
xg_tok = (r * 7 + t * 3) % GV; yg = ((r * 7 + t * 3 + 3) % GV).reshape(-1)
def gpt_step():
    opt4.zero_grad(set_to_none=True)
    loss = F.cross_entropy(gpt(xg_tok), yg); loss.backward(); opt4.step(); return loss
timeit("gpt_step", gpt_step, 2)
