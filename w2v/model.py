"""Skip-gram with negative sampling: two embedding tables and a masked sigmoid cross-entropy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from w2v.data.batcher import Batch, context_offsets


class NegativeSamplingModel(nn.Module):
    """A center-word table and a context-word table, trained by SGD on the row updates that
    `gradients` computes; the trainer applies the two tables' updates in parallel."""

    center: nn.Embedding | nn.EmbeddingBag
    context: nn.Embedding | nn.EmbeddingBag

    def word_vectors(self) -> Tensor:
        raise NotImplementedError

    def gradients(self, batch: Batch, lr: float = 1.0, with_loss: bool = True) -> Gradients:
        raise NotImplementedError

    def sgd_step(self, batch: Batch, lr: float,
                 with_loss: bool = True) -> tuple[Tensor | None, Tensor | None]:
        """One SGD step: lr times the gradient of the summed masked loss. Returns (loss, count)."""
        step = self.gradients(batch, lr, with_loss)
        self.apply([step])
        return step.loss, step.count

    def apply(self, steps: Sequence[Gradients]) -> None:
        self.apply_center(steps)
        self.apply_context(steps)

    @torch.no_grad()
    def apply_center(self, steps: Sequence[Gradients]) -> None:
        for step in steps:
            self.center.weight.index_add_(0, step.centers, step.center_update)

    @torch.no_grad()
    def apply_context(self, steps: Sequence[Gradients]) -> None:
        for step in steps:
            for rows, update in zip(step.context_ids, step.context_update, strict=True):
                self.context.weight.index_add_(0, rows, update)


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
    def gradients(self, batch: Batch, lr: float = 1.0, with_loss: bool = True) -> Gradients:
        """-lr times the gradient of the summed masked loss on a compact batch: the SGD update.

        Reads the tables only.

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

        # d(BCE)/d(logit) is sigmoid(logit) - label; scaled by -lr here, once for all rows
        g_context = (1 - torch.sigmoid(context_logits)).mul_(batch.context_mask).mul_(lr)
        g_noise = torch.sigmoid(noise_logits).mul_(batch.noise_mask).mul_(-lr)
        loss = count = None
        if with_loss:
            loss = (F.softplus(-context_logits) * batch.context_mask).sum() + \
                (F.softplus(noise_logits) * batch.noise_mask).sum()
            count = batch.context_mask.sum() + batch.noise_mask.sum()

        g_noise_groups = g_noise.view(groups, -1, g_noise.shape[1])
        v_update = torch.bmm(g_noise_groups, u_noise).view(size, dim)
        u_stream_update = torch.zeros_like(u_stream)
        for j, s in enumerate(shifts):
            g = g_context[:, j:j + 1]
            v_update.addcmul_(g, u_stream[s:s + size])
            u_stream_update[s:s + size].addcmul_(g, v)
        u_noise_update = torch.bmm(g_noise_groups.transpose(1, 2), v_groups).view(-1, dim)
        return Gradients(batch.centers, v_update, (batch.stream, batch.noise.reshape(-1)),
                         (u_stream_update, u_noise_update), loss, count)


@dataclass
class Gradients:
    """SGD updates (-lr times the gradient) of table rows for one batch, and its summed loss."""

    centers: Tensor  # [B] rows of the center table
    center_update: Tensor  # [B, d]
    context_ids: tuple[Tensor, ...]  # rows of the context table, in parts
    context_update: tuple[Tensor, ...]  # [rows, d] for each part
    loss: Tensor | None  # summed masked loss, when asked for
    count: Tensor | None  # unmasked slots, when asked for


def masked_bce(logits: Tensor, labels: Tensor, mask: Tensor, reduction: str = "mean") -> Tensor:
    """The seed's loss: sigmoid cross-entropy where mask is 0 contributes neither loss nor gradient.

    "sum" adds every unmasked term (the objective SGD follows); "mean" averages per unmasked term.
    """
    terms = F.binary_cross_entropy_with_logits(logits, labels, weight=mask, reduction="none")
    total = terms.sum()
    return total if reduction == "sum" else total / mask.sum().clamp(min=1)
