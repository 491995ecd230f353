"""Skip-gram with negative sampling: a center word's input vector predicts its context words.

Each center is scored against the output vectors of the words in its context slots (label 1)
and of its noise words (label 0), with the masked sigmoid cross-entropy. The updates are that
loss's gradient, computed by hand on the compact batch (`w2v.data.batcher.Batch`): the noise
slots' logits are one matrix product per group of centers, and the context slots are read as
shifted views of the batch's token stream or, with `gather_contexts`, as gathered rows.
`w2v.models.reference` computes the same loss with autograd on dense rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from w2v.data.batcher import Batch, context_offsets
from w2v.models.base import (
    NegativeSamplingModel,
    RowStiffness,
    RowUpdates,
    Updates,
    curvatures,
    squared_norms,
)


class SkipGram(NegativeSamplingModel):
    """The score of a (center, word) pair is the dot product of their input and output vectors."""

    name = "skipgram"

    @torch.no_grad()
    def updates(self, batch: Batch, lr: float | Tensor, with_loss: bool = True,
                with_stiffness: bool = False) -> Updates:
        output = self.output.weight
        size, dim = batch.centers.shape[0], output.shape[1]
        groups = batch.noise.shape[0]
        v = self.words.vectors(batch.centers)  # [B, d]
        u_noise = output.index_select(0, batch.noise.reshape(-1)).view(groups, -1, dim)
        v_groups = v.view(groups, -1, dim)
        noise_logits = torch.bmm(v_groups, u_noise.transpose(1, 2)).view(size, -1)
        # d(BCE)/d(logit) is sigmoid(logit) - label; scaled by -lr here, once for all rows
        slopes = torch.sigmoid(noise_logits).mul_(batch.noise_mask)  # |d(BCE)/d(logit)|
        g_noise = slopes * -lr
        g_noise_groups = g_noise.view(groups, -1, g_noise.shape[1])
        v_update = torch.bmm(g_noise_groups, u_noise).view(size, dim)
        u_noise_update = torch.bmm(g_noise_groups.transpose(1, 2), v_groups).view(-1, dim)

        context_side = self._gathered_contexts if self.gather_contexts else self._shifted_contexts
        context_logits, context_slopes, context_ids, context_update, context_sq = \
            context_side(batch, v, v_update, lr, with_stiffness)
        loss = count = None
        if with_loss:
            loss = (F.softplus(-context_logits) * batch.context_mask).sum() + \
                (F.softplus(noise_logits) * batch.noise_mask).sum()
            count = batch.context_mask.sum() + batch.noise_mask.sum()
        input_stiffness = output_stiffness = ()
        if with_stiffness:
            words = context_ids if self.gather_contexts else batch.contexts().view(-1)
            input_stiffness, output_stiffness = _stiffness(
                batch, v, slopes.view_as(g_noise_groups), u_noise, words, context_slopes,
                context_sq)
        return Updates(self.words.row_updates(batch.centers, v_update, input_stiffness),
                       RowUpdates((context_ids, batch.noise.reshape(-1)),
                                  (context_update, u_noise_update), output_stiffness),
                       loss, count)

    def _shifted_contexts(self, batch: Batch, v: Tensor, v_update: Tensor, lr: float | Tensor,
                          with_norms: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        """The context slots as shifted views of the stream's output rows, which are read and
        updated once each: (logits [B, 2w], their |d(BCE)/d(logit)|, output rows, their
        updates, and with_norms the squared norms of the slots' rows [B, 2w]); adds to
        v_update."""
        size, window = batch.centers.shape[0], batch.window
        u_stream = self.output.weight.index_select(0, batch.stream)  # [B + 2w, d]
        shifts = [window + offset for offset in context_offsets(window)]
        logits = torch.stack([(v * u_stream[s:s + size]).sum(1) for s in shifts], dim=1)
        slopes = (1 - torch.sigmoid(logits)).mul_(batch.context_mask)
        g_context = slopes * lr
        u_stream_update = torch.zeros_like(u_stream)
        for j, s in enumerate(shifts):
            g = g_context[:, j:j + 1]
            v_update.addcmul_(g, u_stream[s:s + size])
            u_stream_update[s:s + size].addcmul_(g, v)
        u_sq = batch.at_slots(squared_norms(u_stream)) if with_norms else None
        return logits, slopes, batch.stream, u_stream_update, u_sq

    def _gathered_contexts(self, batch: Batch, v: Tensor, v_update: Tensor, lr: float | Tensor,
                           with_norms: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        """The same as `_shifted_contexts` from a [B, 2w, d] copy of the output rows: more
        memory traffic, but a handful of operations instead of several per slot."""
        ids = batch.contexts()  # [B, 2w]
        u = self.output.weight.index_select(0, ids.reshape(-1)).view(*ids.shape, -1)
        logits = torch.bmm(u, v.unsqueeze(2)).squeeze(2)
        slopes = (1 - torch.sigmoid(logits)).mul_(batch.context_mask)
        g_context = slopes * lr
        v_update.add_(torch.bmm(g_context.unsqueeze(1), u).squeeze(1))
        u_update = (g_context.unsqueeze(2) * v.unsqueeze(1)).view(-1, v.shape[1])
        return logits, slopes, ids.reshape(-1), u_update, squared_norms(u) if with_norms else None


def _stiffness(batch: Batch, v: Tensor, noise_slopes: Tensor, u_noise: Tensor,
               context_words: Tensor, context_slopes: Tensor,
               context_sq: Tensor) -> tuple[RowStiffness, RowStiffness]:
    """The stiffness (`w2v.models.base`) of the batch's terms at the rows they touch: (input
    vectors, output rows). noise_slopes [groups, g, S] and context_slopes [B, 2w] are the
    terms' |d(BCE)/d(logit)|, context_sq [B, 2w] the squared norms of the context slots' rows,
    context_words [B * 2w] their words."""
    noise_curv, context_curv = curvatures(noise_slopes), curvatures(context_slopes)
    v_sq = squared_norms(v)
    centers = torch.addcmul(noise_slopes, noise_curv, squared_norms(u_noise).unsqueeze(1)).sum(2)
    centers = centers.view(-1) + torch.addcmul(context_slopes, context_curv, context_sq).sum(1)
    contexts = torch.addcmul(context_slopes, context_curv, v_sq.unsqueeze(1))
    noise = torch.addcmul(noise_slopes, noise_curv, v_sq.view(*noise_slopes.shape[:2], 1)).sum(1)
    return (((batch.centers, centers),),
            ((context_words, contexts.view(-1)), (batch.noise.view(-1), noise.view(-1))))
