"""Skip-gram with negative sampling: two embedding tables and a masked sigmoid cross-entropy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    # Where each operation costs a kernel launch (GPUs), fewer and larger operations pay; on a
    # CPU, operations on views that copy nothing do. The trainer sets this for its device;
    # SkipGram reads it (CBOW's context side is already one embedding bag).
    gather_contexts: bool = False
    # Where set, told the rows of every update before it is applied, as (table name, row ids):
    # several processes then sync only the rows that changed.
    before_update: Callable[[str, Tensor], None] | None = None

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
            for rows, update in zip(step.center_ids, step.center_update, strict=True):
                if self.before_update is not None:
                    self.before_update("center", rows)
                self.center.weight.index_add_(0, rows, update)

    @torch.no_grad()
    def apply_context(self, steps: Sequence[Gradients]) -> None:
        for step in steps:
            for rows, update in zip(step.context_ids, step.context_update, strict=True):
                if self.before_update is not None:
                    self.before_update("context", rows)
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
        without materialising the noise slots' [B, L, d] rows: their logits are one matrix
        product per group of centers. Context slots are shifted views of the batch's token
        stream, or, with `gather_contexts`, gathered rows.
        """
        center_w, context_w = self.center.weight, self.context.weight
        size, dim = batch.centers.shape[0], center_w.shape[1]
        groups = batch.noise.shape[0]
        v = center_w.index_select(0, batch.centers)  # [B, d]
        u_noise = context_w.index_select(0, batch.noise.reshape(-1)).view(groups, -1, dim)
        v_groups = v.view(groups, -1, dim)
        noise_logits = torch.bmm(v_groups, u_noise.transpose(1, 2)).view(size, -1)
        # d(BCE)/d(logit) is sigmoid(logit) - label; scaled by -lr here, once for all rows
        g_noise = torch.sigmoid(noise_logits).mul_(batch.noise_mask).mul_(-lr)
        g_noise_groups = g_noise.view(groups, -1, g_noise.shape[1])
        v_update = torch.bmm(g_noise_groups, u_noise).view(size, dim)
        u_noise_update = torch.bmm(g_noise_groups.transpose(1, 2), v_groups).view(-1, dim)

        context_side = self._gathered_contexts if self.gather_contexts else self._shifted_contexts
        context_logits, context_ids, context_update = context_side(batch, v, v_update, lr)
        loss = count = None
        if with_loss:
            loss = (F.softplus(-context_logits) * batch.context_mask).sum() + \
                (F.softplus(noise_logits) * batch.noise_mask).sum()
            count = batch.context_mask.sum() + batch.noise_mask.sum()
        return Gradients((batch.centers,), (v_update,), (context_ids, batch.noise.reshape(-1)),
                         (context_update, u_noise_update), loss, count)

    def _shifted_contexts(self, batch: Batch, v: Tensor, v_update: Tensor,
                          lr: float) -> tuple[Tensor, Tensor, Tensor]:
        """The context slots as shifted views of the stream's rows, which are read and updated
        once each: (logits [B, 2w], context rows, their updates); adds to v_update."""
        size, window = batch.centers.shape[0], batch.window
        u_stream = self.context.weight.index_select(0, batch.stream)  # [B + 2w, d]
        shifts = [window + offset for offset in context_offsets(window)]
        logits = torch.stack([(v * u_stream[s:s + size]).sum(1) for s in shifts], dim=1)
        g_context = (1 - torch.sigmoid(logits)).mul_(batch.context_mask).mul_(lr)
        u_stream_update = torch.zeros_like(u_stream)
        for j, s in enumerate(shifts):
            g = g_context[:, j:j + 1]
            v_update.addcmul_(g, u_stream[s:s + size])
            u_stream_update[s:s + size].addcmul_(g, v)
        return logits, batch.stream, u_stream_update

    def _gathered_contexts(self, batch: Batch, v: Tensor, v_update: Tensor,
                           lr: float) -> tuple[Tensor, Tensor, Tensor]:
        """The same as `_shifted_contexts` from a [B, 2w, d] copy of the context rows: more
        memory traffic, but a handful of operations instead of several per slot."""
        ids = batch.contexts()  # [B, 2w]
        u = self.context.weight.index_select(0, ids.reshape(-1)).view(*ids.shape, -1)
        logits = torch.bmm(u, v.unsqueeze(2)).squeeze(2)
        g_context = (1 - torch.sigmoid(logits)).mul_(batch.context_mask).mul_(lr)
        v_update.add_(torch.bmm(g_context.unsqueeze(1), u).squeeze(1))
        return logits, ids.reshape(-1), (g_context.unsqueeze(2) * v.unsqueeze(1)).view(-1, v.shape[1])


@dataclass
class Gradients:
    """SGD updates (-lr times the gradient) of table rows for one batch, and its summed loss."""

    center_ids: tuple[Tensor, ...]  # rows of the center table, in parts
    center_update: tuple[Tensor, ...]  # [rows, d] for each part
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
