"""Reference computations that the fast updates are tested against; training never runs them.

They compute the loss the plain way, on dense rows with autograd, in the layout skip-gram
with negative sampling is usually written in: for each center, one row of `contexts_negatives`
holding its context slots and then its noise slots, a `mask` that is 1 on the slots in use,
and `labels` that are 1 on context slots and 0 on noise slots.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from w2v.data.batcher import Batch
from w2v.models.cbow import CBOW
from w2v.models.skipgram import SkipGram


def masked_bce(logits: Tensor, labels: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
    """Sigmoid cross-entropy where mask is 0 contributes neither loss nor gradient.

    "sum" adds every unmasked term (the objective SGD follows); "mean" averages per unmasked term.
    """
    terms = F.binary_cross_entropy_with_logits(logits, labels, weight=mask, reduction="none")
    total = terms.sum()
    return total if reduction == "sum" else total / mask.sum().clamp(min=1)


def dense_batch(batch: Batch) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(centers, contexts_negatives, mask, labels) of a compact batch, each row one center."""
    negatives = batch.noise.repeat_interleave(batch.group_size, dim=0)
    contexts_negatives = torch.cat([batch.contexts(), negatives], dim=1)
    mask = torch.cat([batch.context_mask, batch.noise_mask], dim=1)
    labels = torch.cat([torch.ones_like(batch.context_mask), torch.zeros_like(batch.noise_mask)], 1)
    return batch.centers, contexts_negatives, mask, labels


def skipgram_logits(model: SkipGram, centers: Tensor, contexts_negatives: Tensor) -> Tensor:
    """[B, L]: each center's input vector against the output vector of each word of its row."""
    v = model.input(centers).unsqueeze(1)  # [B, 1, d]
    u = model.output(contexts_negatives)  # [B, L, d]
    return torch.bmm(v, u.transpose(1, 2)).squeeze(1)


def cbow_dense_layout(batch: Batch) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """CBOW's reading of a batch: (contexts, offsets, targets) for `cbow_logits`, then
    (labels, mask) for `masked_bce`. Row n's targets are its center, then its noise words."""
    centers, contexts_negatives, slot_mask, _ = dense_batch(batch)
    slots, negatives = 2 * batch.window, batch.negatives
    in_window = slot_mask[:, :slots].bool()
    n_contexts = in_window.sum(1)
    offsets = torch.cumsum(n_contexts, 0) - n_contexts
    contexts = contexts_negatives[:, :slots][in_window]  # row by row: bag n is contiguous
    targets = torch.cat([centers[:, None], contexts_negatives[:, slots:slots + negatives]], dim=1)
    labels = torch.zeros(targets.shape, device=targets.device)
    labels[:, 0] = 1
    mask = (n_contexts > 0).float()[:, None].expand(-1, 1 + negatives)
    return contexts, offsets, targets, labels, mask


def cbow_logits(model: CBOW, contexts: Tensor, offsets: Tensor, targets: Tensor) -> Tensor:
    """[B, T]: the mean input vector of each bag of context words against the output vector of
    each of its targets. Bag n starts at offsets[n] in `contexts`; an empty bag's mean is zero."""
    means = F.embedding_bag(contexts, model.input.weight, offsets, mode="mean")  # [B, d]
    return torch.bmm(model.output(targets), means.unsqueeze(2)).squeeze(2)
