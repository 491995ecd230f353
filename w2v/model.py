"""Skip-gram with negative sampling: two embedding tables and a masked sigmoid cross-entropy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from w2v.data.batcher import Batch, context_offsets


class NegativeSamplingModel(nn.Module):
    """A center-word table and a context-word table, trained by SGD on the row gradients that
    `gradients` computes; the trainer applies the two tables' updates in parallel."""

    center: nn.Embedding | nn.EmbeddingBag
    context: nn.Embedding | nn.EmbeddingBag

    def gradients(self, batch: Batch) -> Gradients:
        raise NotImplementedError

    def sgd_step(self, batch: Batch, lr: float) -> tuple[Tensor, Tensor]:
        """One SGD step: lr times the gradient of the summed masked loss. Returns (loss, count)."""
        step = self.gradients(batch)
        self.apply_center([step], lr)
        self.apply_context([step], lr)
        return step.loss, step.count

    # index_add_ with alpha takes about three times as long on CPU as a multiply and a plain one
    @torch.no_grad()
    def apply_center(self, steps: Sequence[Gradients], lr: float) -> None:
        for step in steps:
            self.center.weight.index_add_(0, step.centers, step.center_grad * -lr)

    @torch.no_grad()
    def apply_context(self, steps: Sequence[Gradients], lr: float) -> None:
        for step in steps:
            self.context.weight.index_add_(0, step.context_ids, step.context_grad * -lr)


class SkipGram(NegativeSamplingModel):
    """A center-word table and a context-word table; the score of a pair is their dot product."""

    def __init__(self, vocab_size: int, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.center = nn.Embedding(vocab_size, dim)
        self.context = nn.Embedding(vocab_size, dim)
        with torch.no_grad():
            # word2vec's start: centers uniform in [-0.5/dim, 0.5/dim), contexts zero
            self.center.weight.copy_((torch.rand(vocab_size, dim, generator=generator) - 0.5) / dim)
            self.context.weight.zero_()

    def word_vectors(self) -> Tensor:
        """The table users get as the word vectors: the center-word table, as word2vec's syn0."""
        return self.center.weight

    def forward(self, centers: Tensor, contexts_negatives: Tensor) -> Tensor:
        """Logits [B, L]: each center against each word of its row of contexts_negatives."""
        v = self.center(centers).unsqueeze(1)  # [B, 1, d]
        u = self.context(contexts_negatives)  # [B, L, d]
        return torch.bmm(v, u.transpose(1, 2)).squeeze(1)

    @torch.no_grad()
    def gradients(self, batch: Batch) -> Gradients:
        """The gradient of the summed masked loss on a compact batch; reads the tables only.

        Computes what `masked_bce(self(*dense[:2]), labels, mask, "sum")` and autograd would,
        without materialising the [B, L, d] rows: context slots are shifted views of the batch's
        token stream, noise slots one matrix product per group of centers.
        """
        center_w, context_w = self.center.weight, self.context.weight
        size, window, dim = batch.centers.shape[0], batch.window, center_w.shape[1]
        groups = batch.noise.shape[0]
        v = center_w.index_select(0, batch.centers)  # [B, d]
        u_stream = context_w.index_select(0, batch.stream)  # [B + 2w, d]
        u_noise = context_w.index_select(0, batch.noise.reshape(-1)).view(groups, -1, dim)
        shifts = [window + offset for offset in context_offsets(window)]

        context_logits = torch.stack([(v * u_stream[s:s + size]).sum(1) for s in shifts], dim=1)
        v_groups = v.view(groups, -1, dim)
        noise_logits = torch.bmm(v_groups, u_noise.transpose(1, 2)).view(size, -1)

        # d(BCE)/d(logit) is sigmoid(logit) - label
        g_context = (torch.sigmoid(context_logits) - 1) * batch.context_mask
        g_noise = torch.sigmoid(noise_logits) * batch.noise_mask
        loss = (F.softplus(-context_logits) * batch.context_mask).sum() + \
            (F.softplus(noise_logits) * batch.noise_mask).sum()
        count = batch.context_mask.sum() + batch.noise_mask.sum()

        g_noise_groups = g_noise.view(groups, -1, g_noise.shape[1])
        grad_v = torch.bmm(g_noise_groups, u_noise).view(size, dim)
        grad_u_stream = torch.zeros_like(u_stream)
        for j, s in enumerate(shifts):
            g = g_context[:, j:j + 1]
            grad_v.addcmul_(g, u_stream[s:s + size])
            grad_u_stream[s:s + size].addcmul_(g, v)
        grad_u_noise = torch.bmm(g_noise_groups.transpose(1, 2), v_groups).view(-1, dim)
        return Gradients(batch.centers, grad_v, torch.cat([batch.stream, batch.noise.reshape(-1)]),
                         torch.cat([grad_u_stream, grad_u_noise]), loss, count)


@dataclass
class Gradients:
    """Row gradients of both tables for one batch, and the batch's summed loss."""

    centers: Tensor  # [R] rows of the center table
    center_grad: Tensor  # [R, d]
    context_ids: Tensor  # [S] rows of the context table
    context_grad: Tensor  # [S, d]
    loss: Tensor  # summed masked loss
    count: Tensor  # unmasked slots


def masked_bce(logits: Tensor, labels: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
    """The seed's loss: sigmoid cross-entropy where mask is 0 contributes neither loss nor gradient.

    "sum" adds every unmasked term (the objective SGD follows); "mean" averages per unmasked term.
    """
    terms = F.binary_cross_entropy_with_logits(logits, labels, weight=mask, reduction="none")
    total = terms.sum()
    return total if reduction == "sum" else total / mask.sum().clamp(min=1)
