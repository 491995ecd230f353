"""Continuous bag of words with negative sampling: the mean of a window's words predicts its center.

As word2vec's CBOW with cbow_mean=1: the context-word table (its syn0, the word vectors users get)
is averaged over each center's window; the mean is scored against the center-word table (syn1neg)
for the center word (label 1) and `negatives` noise words (label 0) with the masked sigmoid
cross-entropy of `w2v.model`. It trains on the skip-gram batches: a center's window is its context
slots, and its noise words are the first `negatives` slots of its group's noise pool. A center
without context words predicts nothing and is masked.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from w2v.data.batcher import Batch, context_offsets
from w2v.model import Gradients, NegativeSamplingModel, squared_norms
from w2v.row_limit import RowGains, curvatures


class CBOW(NegativeSamplingModel):
    """A context-word table averaged over each window, and a center-word table scored against it."""

    def __init__(self, vocab_size: int, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.context = nn.EmbeddingBag(vocab_size, dim, mode="mean")
        self.center = nn.Embedding(vocab_size, dim)
        with torch.no_grad():
            # word2vec's start: input vectors uniform in [-0.5/dim, 0.5/dim), output vectors zero
            start = (torch.rand(vocab_size, dim, generator=generator) - 0.5) / dim
            self.context.weight.copy_(start)
            self.center.weight.zero_()

    def word_vectors(self) -> Tensor:
        """The table users get as the word vectors: the context-word table, as word2vec's syn0."""
        return self.context.weight

    def forward(self, contexts: Tensor, offsets: Tensor, targets: Tensor) -> Tensor:
        """Logits [B, T]: the mean of each bag of context words against each of its targets.

        contexts holds the bags one after another, bag n starting at offsets[n]; an empty bag's
        mean is zero. targets [B, T] are the words each mean is scored against.
        """
        means = self.context(contexts, offsets)  # [B, d]
        return torch.bmm(self.center(targets), means.unsqueeze(2)).squeeze(2)

    @torch.no_grad()
    def gradients(self, batch: Batch, lr: float = 1.0, with_loss: bool = True) -> Gradients:
        """-lr times the gradient of the summed masked loss on a compact batch: the SGD update.
        Reads the tables only.

        Computes what `masked_bce(self(*dense_layout(batch)[:3]), *dense_layout(batch)[3:], "sum")`
        and autograd would: a window's mean is an embedding bag over its context slots weighted by
        1 / (its contexts), whose gradient goes back to the batch's token stream in shifted views;
        the noise logits are one matrix product per group of centers.
        """
        context_w, center_w = self.context.weight, self.center.weight
        size, window, dim = batch.centers.shape[0], batch.window, context_w.shape[1]
        groups, negatives = batch.noise.shape[0], batch.negatives
        shifts = [window + offset for offset in context_offsets(window)]
        context_mask = batch.context_mask.to(context_w.dtype)
        n_contexts = context_mask.sum(1, keepdim=True)
        shares = context_mask / n_contexts.clamp(min=1)  # [B, 2w] weight of each slot in its mean
        used = (n_contexts > 0).to(context_w.dtype)  # [B, 1]

        means = F.embedding_bag(batch.contexts(), context_w, per_sample_weights=shares, mode="sum")
        noise = batch.noise[:, :negatives].reshape(-1)
        u_center = center_w.index_select(0, batch.centers)  # [B, d]
        u_noise = center_w.index_select(0, noise).view(groups, negatives, dim)
        mean_groups = means.view(groups, -1, dim)
        center_logits = (means * u_center).sum(1, keepdim=True)  # [B, 1]
        noise_logits = torch.bmm(mean_groups, u_noise.transpose(1, 2)).view(size, negatives)

        # d(BCE)/d(logit) is sigmoid(logit) - label; scaled by -lr here, once for all rows
        g_center = (1 - torch.sigmoid(center_logits)) * used * lr
        g_noise = torch.sigmoid(noise_logits) * used * -lr
        loss = count = None
        if with_loss:
            loss = (F.softplus(-center_logits) * used).sum() + \
                (F.softplus(noise_logits) * used).sum()
            count = used.sum() * (1 + negatives)

        g_noise_groups = g_noise.view(groups, -1, negatives)
        means_update = torch.bmm(g_noise_groups, u_noise).view(size, dim).addcmul_(g_center, u_center)
        u_noise_update = torch.bmm(g_noise_groups.transpose(1, 2), mean_groups).view(-1, dim)
        stream_update = torch.zeros(batch.stream.shape[0], dim, dtype=context_w.dtype,
                                  device=context_w.device)
        for j, s in enumerate(shifts):
            stream_update[s:s + size].addcmul_(shares[:, j:j + 1], means_update)
        step = Gradients((batch.centers, noise), (g_center * means, u_noise_update),
                         (batch.stream,), (stream_update,), loss, count)
        if self.step_limit:
            step.center_gains, step.context_gains = _gains(
                batch, g_center.squeeze(1), g_noise.neg(), lr, means, u_center, u_noise, shares)
        return step


def _gains(batch: Batch, g_center: Tensor, g_noise_abs: Tensor, lr: float, means: Tensor,
           u_center: Tensor, u_noise: Tensor, shares: Tensor) -> tuple[RowGains, RowGains]:
    """The gains (w2v.row_limit) of the batch's terms at the rows they touch: (center table,
    context table). A context word's row reaches a logit through its share a of the mean: its
    coupling there is a |l'| and its curvature a^2 l'' |u|^2."""
    negatives = g_noise_abs.shape[1]
    groups = u_noise.shape[0]
    center_curv, noise_curv = curvatures(g_center, lr), curvatures(g_noise_abs, lr)
    mean_sq = squared_norms(means)
    centers = torch.addcmul(g_center, center_curv, mean_sq)
    noise = torch.addcmul(g_noise_abs, noise_curv, mean_sq.unsqueeze(1))
    noise = noise.view(groups, -1, negatives).sum(1)
    coupling = g_center + g_noise_abs.sum(1)
    curvature = (noise_curv.view(groups, -1, negatives) * squared_norms(u_noise).unsqueeze(1))
    curvature = torch.addcmul(curvature.sum(2).view(-1), center_curv, squared_norms(u_center))
    slots = torch.addcmul(shares * coupling.unsqueeze(1), shares * shares, curvature.unsqueeze(1))
    return (((batch.centers, centers), (batch.noise[:, :negatives].reshape(-1), noise.view(-1))),
            ((batch.contexts().view(-1), slots.view(-1)),))


def dense_layout(batch: Batch) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """CBOW's reading of a batch: (contexts, offsets, targets) for `CBOW.forward`, then
    (labels, mask) for `masked_bce`. Row n's targets are its center, then its noise words."""
    centers, contexts_negatives, slot_mask, _ = batch.dense()
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
