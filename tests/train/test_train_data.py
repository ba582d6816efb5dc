"""Training samples from real binidx files: pad / only / get, the qa and se masks on real World tokens,
and the split of an epoch over ranks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rwkv_simple_gui.data.binidx import read_binidx, write_binidx
from rwkv_simple_gui.data.tokenizer import get_tokenizer
from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.train.data import EpochSampler, build_source, data_info, make_plan
from rwkv_simple_gui.train.loss import weighted_loss_sum

CHAT = ("System: You are a pirate.\n\nUser: Hello, who are you?\n\nAssistant: Arr, a pirate I be!\n\n"
        "User: Where is the gold?\n\nAssistant: Buried on the island.")


def test_qa_mask_learns_only_assistant_turns(tmp_path):
    tok = get_tokenizer("world")
    doc = tok.encode(CHAT) + [0]
    write_binidx(tmp_path / "chat", [doc])
    cfg = TrainConfig(ctx_len=len(doc) + 16 - len(doc) % 16, loss_mask="qa", dataload="pad")
    batch = build_source(cfg, read_binidx(tmp_path / "chat"), "world").batch([0])
    w, y = batch.w[0].numpy(), batch.y[0].numpy()
    learned = tok.decode([int(t) for t, wt in zip(y, w) if wt > 0])
    ignored = tok.decode([int(t) for t, wt in zip(y[: len(doc) - 1], w) if wt == 0])
    # each weighted target is inside an Assistant turn (markers included), nothing of a User turn is
    assert learned == "Assistant: Arr, a pirate I be!\n\nAssistant: Buried on the island."
    assert "Hello" in ignored and "gold" in ignored and "pirate." in ignored and "User:" in ignored
    assert w[len(doc) - 2] == 1 and y[len(doc) - 2] == 0  # the closing EOF is learned: the model learns to stop
    assert not w[len(doc) - 1:].any()  # padding never counts


def test_se_mask_uses_its_own_markers(tmp_path):
    tok = get_tokenizer("world")
    doc = tok.encode("Q: two plus two\nA: four\nQ: and three?\nA: seven") + [0]
    write_binidx(tmp_path / "se", [doc])
    cfg = TrainConfig(ctx_len=64, loss_mask="se", mask0="Q:", mask1="A:")
    batch = build_source(cfg, read_binidx(tmp_path / "se"), "world").batch([0])
    learned = tok.decode([int(t) for t, wt in zip(batch.y[0], batch.w[0]) if wt > 0])
    assert learned == "A: four\nA: seven"


def test_pad_and_only_batches(tmp_path):
    docs = [[5] * 10 + [0], [6] * 40 + [0], [7] * 3 + [0]]
    write_binidx(tmp_path / "d", docs)
    ds = read_binidx(tmp_path / "d")
    pad = build_source(TrainConfig(ctx_len=32, loss_mask="pad", dataload="pad"), ds).batch([0, 1, 2])
    assert pad.x.shape == (3, 32)
    assert pad.w.sum(1).tolist() == [10, 32, 3]  # the long one is cut at ctx_len
    assert pad.tokens == 10 + 32 + 3
    assert pad.y[0, 9] == 0 and pad.w[0, 9] == 1 and pad.w[0, 10] == 0
    only = build_source(TrainConfig(ctx_len=64, loss_mask="none", dataload="only"), ds).batch([0, 2])
    assert only.x.shape == (2, 16)  # the longest document of the batch, rounded up to 16
    info = data_info(tmp_path / "d")
    assert (info.n_docs, info.num_tokens, info.max_doc_len) == (3, 11 + 41 + 4, 41)


def test_get_slices_are_contiguous_windows(tmp_path):
    tokens = np.arange(1, 301) % 60000
    write_binidx(tmp_path / "g", [tokens[:100], tokens[100:]])
    cfg = TrainConfig(ctx_len=32, dataload="get", loss_mask="none", epoch_steps=5, micro_bsz=2)
    ds = read_binidx(tmp_path / "g")
    sampler = EpochSampler(cfg, build_source(cfg, ds), make_plan(cfg, len(ds), 1), 0, seed=1)
    b = sampler.batch(0, 0)
    assert b.x.shape == (2, 32) and torch.equal(b.y[:, :-1], b.x[:, 1:])
    assert torch.all(b.x[:, 1:] - b.x[:, :-1] == 1)  # windows across the document boundary, no gap


def test_two_ranks_see_what_one_process_with_double_batch_sees(tmp_path):
    docs = [[i + 1] * (i + 2) + [0] for i in range(12)]
    write_binidx(tmp_path / "d", docs)
    ds = read_binidx(tmp_path / "d")
    one = TrainConfig(ctx_len=16, loss_mask="none", micro_bsz=2, mini_bsz=2)
    two = one.replace(micro_bsz=1)
    p1, p2 = make_plan(one, len(ds), 1), make_plan(two, len(ds), 2)
    assert p1.steps_per_epoch == p2.steps_per_epoch == 3
    s1 = EpochSampler(one, build_source(one, ds), p1, 0, seed=5)
    ranks = [EpochSampler(two, build_source(two, ds), p2, r, seed=5) for r in range(2)]
    for epoch in range(2):
        for micro in range(p1.micro_steps):
            together = s1.batch(epoch, micro).x
            split = torch.cat([r.batch(epoch, micro).x for r in ranks])
            assert torch.equal(together, split)
    # every document once per epoch, in a new order each epoch
    firsts = [[int(s1.batch(e, m).x[i, 0]) for m in range(p1.micro_steps) for i in range(2)] for e in range(2)]
    assert sorted(firsts[0]) == list(range(1, 13)) and firsts[0] != firsts[1]


def test_token_weighted_loss_matches_cross_entropy_and_l2wrap_gradient():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11, requires_grad=True)
    y = torch.randint(0, 11, (2, 5))
    w = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.float32)
    total = weighted_loss_sum(logits, y, w)
    ce = torch.nn.functional.cross_entropy(logits[w > 0], y[w > 0], reduction="sum")
    assert float(total.detach()) == pytest.approx(float(ce.detach()), rel=1e-6)
    (total / 4).backward()  # as the loop does: divided by the step's token weight
    ref = logits.detach().clone().requires_grad_(True)
    (torch.nn.functional.cross_entropy(ref[w > 0], y[w > 0], reduction="sum") / 4).backward()
    extra = logits.grad - ref.grad  # L2Wrap: + 1e-4 * max / (learned positions) at each learned position's max
    mx, idx = logits.detach().max(-1)
    expected = torch.zeros_like(extra).scatter_(-1, idx[..., None], (mx * 1e-4 / 4 * w)[..., None])
    torch.testing.assert_close(extra, expected)
