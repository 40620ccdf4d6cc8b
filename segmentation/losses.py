"""Dice + binary cross-entropy: BCE for stable pixel-wise gradients, Dice for class imbalance.

The spleen covers a few percent of a slice; BCE alone would be happy predicting
background everywhere, Dice alone gives noisy gradients early on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_dice_loss(
    logits: torch.Tensor, targets: torch.Tensor, smooth: float = 1.0
) -> torch.Tensor:
    """1 - soft Dice over the whole batch (pixels of all slices pooled)."""
    probabilities = torch.sigmoid(logits.float())
    intersection = (probabilities * targets).sum()
    total = probabilities.sum() + targets.sum()
    return 1.0 - (2.0 * intersection + smooth) / (total + smooth)


def dice_bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits.float(), targets.float())
    return bce + soft_dice_loss(logits, targets)
