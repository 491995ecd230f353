"""Continuous bag of words with negative sampling: the mean of a window's words predicts its center.

As word2vec's CBOW with cbow_mean=1: the input vectors of a center's context words are
averaged, and the mean is scored against the output vectors of the center word (label 1) and
of `negatives` noise words (label 0) with the masked sigmoid cross-entropy. It trains on the
skip-gram batches: a center's window is its context slots, and its noise words are the first
`negatives` slots of its group's noise pool. A center without context words predicts nothing
and is masked. `w2v.models.reference` computes the same loss with autograd on dense rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from w2v.data.batcher import Batch, context_offsets
from w2v.models.base import NegativeSamplingModel, RowUpdates, Updates


class CBOW(NegativeSamplingModel):
    """The mean input vector of a window, scored against output vectors."""

    name = "cbow"

    @torch.no_grad()
    def updates(self, batch: Batch, lr: float, with_loss: bool = True) -> Updates:
        """A window's mean is a weighted sum of its context slots' input vectors, each weighted
        by 1 / (its contexts), whose update goes back to the batch's token stream in shifted
        views; the noise logits are one matrix product per group of centers."""
        output = self.output.weight
        size, window, dim = batch.centers.shape[0], batch.window, output.shape[1]
        groups, negatives = batch.noise.shape[0], batch.negatives
        shifts = [window + offset for offset in context_offsets(window)]
        context_mask = batch.context_mask.to(output.dtype)
        n_contexts = context_mask.sum(1, keepdim=True)
        shares = context_mask / n_contexts.clamp(min=1)  # [B, 2w] weight of each slot in its mean
        used = (n_contexts > 0).to(output.dtype)  # [B, 1]

        means = self.words.weighted_sums(batch.contexts(), shares)
        noise = batch.noise[:, :negatives].reshape(-1)
        u_center = output.index_select(0, batch.centers)  # [B, d]
        u_noise = output.index_select(0, noise).view(groups, negatives, dim)
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
        stream_update = torch.zeros(batch.stream.shape[0], dim, dtype=output.dtype,
                                    device=output.device)
        for j, s in enumerate(shifts):
            stream_update[s:s + size].addcmul_(shares[:, j:j + 1], means_update)
        return Updates(self.words.row_updates(batch.stream, stream_update),
                       RowUpdates((batch.centers, noise), (g_center * means, u_noise_update)),
                       loss, count)
