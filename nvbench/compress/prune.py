"""Global unstructured magnitude pruning of a Decoder, and fine-tuning with the shared loop.

`ratio` is the fraction of the prunable weights REMOVED (NeRV's code inverted this; docs/methods/nerv.md):
ratio 0.1 zeroes the 10% of weights with the smallest |w| over all layers together. Prunable
weights are the weight tensors (2-D or more) of the decoder's layers; biases and per-frame
embeddings are kept. Fine-tuning trains the decoder's stored tensors (embeddings included) with
`nvbench.train.train` while `torch.nn.utils.prune` masks keep the pruned weights at zero.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from nvbench.nn import NeuralRepresentation


def prunable(decoder: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, parameter name) of every weight tensor with 2 or more dimensions."""
    out = []
    for module in decoder.modules():
        for pname, p in module.named_parameters(recurse=False):
            if pname == "weight" and p.dim() >= 2:
                out.append((module, pname))
    return out


@torch.no_grad()
def global_masks(decoder: nn.Module, ratio: float) -> list[torch.Tensor]:
    """Keep-masks (bool) for the prunable weights: the `ratio` fraction with the smallest
    magnitude over all of them is False."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"pruning ratio must be in [0, 1), got {ratio}")
    params = [getattr(m, n) for m, n in prunable(decoder)]
    if not params:  # nothing is a layer weight (e.g. a decoder whose tensors are all grids): nothing to prune
        return []
    flat = torch.cat([p.detach().abs().flatten().float() for p in params])
    k = int(round(ratio * flat.numel()))
    if k == 0:
        return [torch.ones_like(p, dtype=torch.bool) for p in params]
    threshold_idx = torch.topk(flat, k, largest=False).indices
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    keep[threshold_idx] = False
    masks, start = [], 0
    for p in params:
        masks.append(keep[start : start + p.numel()].view_as(p).to(p.device))
        start += p.numel()
    return masks


def sparsity(decoder: nn.Module) -> float:
    """Fraction of exact zeros among the prunable weights."""
    params = [getattr(m, n) for m, n in prunable(decoder)]
    total = sum(p.numel() for p in params)
    return sum(int((p == 0).sum()) for p in params) / total if total else 0.0


class _Trainable(NeuralRepresentation):
    """A Decoder seen by the shared training loop: idx -> frames, stored buffers made trainable."""

    def __init__(self, decoder: nn.Module):
        super().__init__(getattr(decoder, "config", {}))
        self.decoder = decoder
        for module in decoder.modules():
            for bname, buf in list(module.named_buffers(recurse=False)):
                # only stored buffers (embeddings); non-persistent ones (E-NeRV's fixed token-grid
                # encoding) are recomputed at decode time and must stay buffers
                if buf is not None and buf.is_floating_point() and bname not in module._non_persistent_buffers_set:
                    del module._buffers[bname]
                    module.register_parameter(bname, nn.Parameter(buf.detach().clone()))

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(idx)


def prune_and_finetune(decoder: nn.Module, ratio: float, source: Any, recipe: Any, epochs: int, *,
                       build_decoder: Any, seed: int = 1, lr_scale: float = 0.1,
                       callbacks: Any = ()) -> tuple[nn.Module, dict[str, Any]]:
    """A pruned copy of `decoder` fine-tuned for `epochs` (0: no fine-tuning), rebuilt as a plain
    Decoder via `build_decoder` so its state_dict has the original names. Returns (decoder, info)."""
    from torch.nn.utils import prune as tprune

    from nvbench.train import TrainSettings, train

    work = copy.deepcopy(decoder)
    model = _Trainable(work)  # before the masks exist: only the stored buffers become parameters
    masks = global_masks(work, ratio)
    targets = prunable(work)
    for (module, pname), mask in zip(targets, masks):
        tprune.custom_from_mask(module, pname, mask)
    info: dict[str, Any] = {"prune_ratio": ratio, "finetune_epochs": epochs, "finetune_seconds": 0.0}
    if epochs > 0:
        ft_recipe = replace(recipe, lr=recipe.lr * lr_scale, warmup=0.0)
        settings = TrainSettings(epochs=epochs, recipe=ft_recipe, seed=seed, channels_last=False)
        res = train(model, source, settings, callbacks=callbacks)
        info.update(finetune_seconds=res.train_seconds, finetune_status=res.status,
                    finetune_lr=ft_recipe.lr, finetune_loss=res.history[-1]["loss"] if res.history else None)
    for module, pname in targets:
        tprune.remove(module, pname)
    out = build_decoder(getattr(decoder, "config", {}))
    out.load_state_dict({k: v.detach() for k, v in work.state_dict().items()})
    out.to(next(iter(decoder.state_dict().values())).device).eval()
    info["sparsity"] = sparsity(out)
    return out, info
