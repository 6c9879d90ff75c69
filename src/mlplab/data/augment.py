"""Training-batch augmentation on the device, in one vectorised step per batch.

    shift:  each image moves by (dy, dx) ∈ {−s … s}², the uncovered border filled with the
            background, black: 0, or (0 − mean)/std in normalised images: x'[i, j] = x[i − dy, j − dx]
    flip:   each image is mirrored left↔right with probability ½ (clothes stay clothes; a flipped
            digit would not, which is why this is a Fashion-MNIST augmentation)

The random draws come from a generator seeded by (seed, epoch, batch), so an epoch's augmented
batches are the same in every run with that seed, and a resumed run sees the same ones.
"""

from __future__ import annotations

import torch
from torch import Tensor


class ShiftFlip:
    """``x [B, C, H, W] → x'`` for training batches only (val/test are never augmented)."""

    def __init__(self, max_shift: int = 2, flip: bool = True, seed: int = 0, background: float = 0.0) -> None:
        """``background``: black as the images are scaled (``ScaleImages.black``)."""
        self.max_shift, self.flip, self.seed, self.background = max_shift, flip, seed, background

    def generator(self, device: torch.device, epoch: int, step: int) -> torch.Generator:
        # mod 2⁶⁴: a Generator takes an unsigned 64-bit seed; every seed below ~1.8e7 gives the number
        # it always did (larger ones overflowed)
        mixed = ((self.seed * 1_000_003 + epoch) * 1_000_003 + step) % 2**64
        return torch.Generator(device=device).manual_seed(mixed)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        b, _, h, w = x.shape
        if self.max_shift:
            s = self.max_shift
            padded = torch.nn.functional.pad(x, (s, s, s, s), value=self.background)
            dy, dx = torch.randint(-s, s + 1, (2, b, 1, 1), generator=generator, device=x.device)
            rows = torch.arange(h, device=x.device).view(1, h, 1) + s - dy  # [B, H, 1]
            cols = torch.arange(w, device=x.device).view(1, 1, w) + s - dx  # [B, 1, W]
            batch = torch.arange(b, device=x.device).view(b, 1, 1)
            x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
        if self.flip:
            mirrored = torch.rand(b, generator=generator, device=x.device) < 0.5
            x = torch.where(mirrored.view(b, 1, 1, 1), x.flip(-1), x)
        return x
