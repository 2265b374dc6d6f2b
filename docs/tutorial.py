"""bpsrm tutorial: train a small SRM network from Python, look at its spikes, export it to NIR.

    python docs/tutorial.py [OUT_FOLDER]

BPSRM_TUTORIAL_EPOCHS and BPSRM_TUTORIAL_SAMPLES set the budget (the docs build uses a
small one; the defaults take about a minute on two cores). Figures and a summary go to
OUT_FOLDER (default: runs/tutorial/).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from bpsrm import build_model
from bpsrm.data import get_dataset
from bpsrm.network.encoding import direct

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/tutorial")
EPOCHS = int(os.environ.get("BPSRM_TUTORIAL_EPOCHS", "4"))
SAMPLES = int(os.environ.get("BPSRM_TUTORIAL_SAMPLES", "5000"))
T = 4
OUT.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)

# 1. Data: the Fashion-MNIST subset shipped with bpsrm (no download). Samples are [1, 28, 28] in [0, 1].
train_set = get_dataset("fashion-mnist-demo", "train")
test_set = get_dataset("fashion-mnist-demo", "test")
train_set = Subset(train_set, range(min(SAMPLES, len(train_set))))
train_loader = DataLoader(train_set, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))
test_loader = DataLoader(test_set, batch_size=256)

# 2. The network: conv -> TCN -> SRM neurons, twice, then a linear layer read out by a
#    non-spiking SRM whose membrane potential, averaged over T steps, gives the logits.
#    Average pooling and a TCN with one affine per channel (folded BatchNorm, the baseline of BP-SRM
#    section 4; TCN proper has an affine per time step) keep the network exportable to NIR.
model = build_model(
    "16C3-TCN-SRM-AP2-32C3-TCN-SRM-AP2-FC10",
    (1, 28, 28),
    time_steps=T,
    neuron={"kernel": "dexp", "tau_s": 2.0, "tau_m": 4.0, "surrogate": "sigmoid"},
    norm={"step_affine": False},
)
optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)


def test_accuracy() -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for images, labels in test_loader:
            correct += int((model(direct(images, T)).argmax(1) == labels).sum())
    return correct / len(test_set)


# 3. Training: direct encoding repeats each image at every step ([T, B, 1, 28, 28]); the
#    gradient flows back through time with BP-SRM (the fused kernel does the time loop).
history = []
start = time.perf_counter()
for epoch in range(1, EPOCHS + 1):
    model.train()
    total, count = 0.0, 0
    for images, labels in train_loader:
        loss = F.cross_entropy(model(direct(images, T)), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        total += loss.item() * len(labels)
        count += len(labels)
    history.append({"epoch": epoch, "train_loss": total / count, "test_accuracy": test_accuracy()})
    print(f"epoch {epoch}: loss {history[-1]['train_loss']:.3f}, test accuracy {history[-1]['test_accuracy']:.3f}")
seconds = time.perf_counter() - start

# 4. Learning curve.
fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))  # two panels: one y scale each
epochs = [h["epoch"] for h in history]
left.plot(epochs, [h["train_loss"] for h in history], "o-", color="tab:blue")
left.set_ylabel("training loss")
right.plot(epochs, [100 * h["test_accuracy"] for h in history], "s-", color="tab:orange")
right.set_ylabel("test accuracy (%)")
for ax in (left, right):
    ax.set_xlabel("epoch")
    ax.set_xticks(epochs)
    ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(OUT / "learning_curve.png", dpi=110)
plt.close(fig)

# 5. Spike raster: model.run gives the spikes [T, B, ...] of every SRM layer.
model.eval()
image, label = test_set[0]
with torch.no_grad():
    out = model.run(direct(image.unsqueeze(0), T))
fig, axes = plt.subplots(1, len(out.spikes), figsize=(9, 3.2))
for index, (ax, spikes) in enumerate(zip(axes, out.spikes, strict=True)):
    flat = spikes[:, 0].reshape(T, -1)
    neurons = flat[:, torch.linspace(0, flat.shape[1] - 1, 400).long()]  # 400 neurons spread over the layer
    steps, ids = torch.nonzero(neurons, as_tuple=True)
    ax.scatter(steps.numpy(), ids.numpy(), s=2, marker="|", color="black")
    ax.set_title(f"SRM layer {index + 1}: rate {float(spikes.mean()):.2f}", fontsize=9)
    ax.set_xlabel("time step")
    ax.set_xticks(range(T))
axes[0].set_ylabel("neuron")
fig.tight_layout()
fig.savefig(OUT / "raster.png", dpi=110)
plt.close(fig)

# 6. Export to NIR (when the nir package is installed) and read it back: the same spikes.
summary = {"epochs": EPOCHS, "train_samples": len(train_set), "seconds": round(seconds, 1), "history": history}
try:
    import nir

    from bpsrm.deploy.export import from_nir, to_nir

    nir.write(str(OUT / "tutorial.nir"), to_nir(model))
    rebuilt = from_nir(nir.read(str(OUT / "tutorial.nir"))).eval()
    with torch.no_grad():
        again = rebuilt.run(direct(image.unsqueeze(0), T))
    summary["nir_same_spikes"] = all(torch.equal(a, b) for a, b in zip(out.spikes, again.spikes, strict=True))
    print(f"exported tutorial.nir; same spikes after reading it back: {summary['nir_same_spikes']}")
except ImportError:
    print("nir is not installed (pip install 'bpsrm[nir]'): export skipped")
(OUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
