"""Domain-adaptive pre-training (#33.1): masking, the unlabelled pool's provenance, the encoder round trip."""

import pytest
import torch

from monitor.training.dapt import (
    DaptConfig,
    MlmHead,
    _heldout,
    _lr_factor,
    load_encoder_into,
    mask_tokens,
    save_encoder,
)


def test_masking_targets_only_real_tokens_at_the_configured_rate():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 2000, (400, 40))
    mask = torch.ones_like(ids)
    mask[:, 30:] = 0  # padding
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = True  # [CLS]
    corrupt, labels = mask_tokens(ids, mask, special, DaptConfig(), mask_id=103, vocab=30522, gen=gen)
    targets = labels != -100
    assert not targets[:, 30:].any() and not targets[:, 0].any()
    rate = targets[:, 1:30].float().mean().item()
    assert 0.13 < rate < 0.17, rate
    assert torch.equal(labels[targets], ids[targets])
    masked = (corrupt == 103) & targets
    assert 0.75 < masked.sum().item() / targets.sum().item() < 0.85  # 80 % [MASK]
    assert torch.equal(corrupt[~targets], ids[~targets])  # nothing else touched


def test_head_decoder_is_tied_to_the_word_embeddings():
    emb = torch.nn.Embedding(50, 8)
    head = MlmHead(emb)
    out = head(torch.randn(3, 8))
    assert out.shape == (3, 50)
    assert head.embeddings.weight is emb.weight  # one matrix: the decoder is the embedding table


def test_heldout_split_is_stable_and_near_its_fraction():
    texts = [f"post number {i}" for i in range(5000)]
    held = [t for t in texts if _heldout(t, 0.02, 13)]
    assert held == [t for t in texts if _heldout(t, 0.02, 13)]
    assert 60 < len(held) < 140


def test_schedule_warms_up_then_decays_to_zero_from_its_start():
    assert _lr_factor(200, 1200, 0.06, start=200) < 0.05
    assert _lr_factor(200 + 60, 1200, 0.06, start=200) == pytest.approx(1.0, abs=0.02)
    assert _lr_factor(1199, 1200, 0.06, start=200) < 0.01


def test_encoder_round_trip_skips_the_frozen_table_and_refuses_a_foreign_file(tmp_path):
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    torch.manual_seed(0)
    a, b = BertModel(cfg, add_pooling_layer=False), BertModel(cfg, add_pooling_layer=False)
    path = save_encoder(a, tmp_path)
    from safetensors.torch import load_file

    assert "embeddings.word_embeddings.weight" not in load_file(str(path))
    load_encoder_into(b, path)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        if name != "embeddings.word_embeddings.weight":
            assert torch.equal(pa, pb), name
    other = BertModel(BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=32), add_pooling_layer=False)
    with pytest.raises(ValueError, match="not an encoder of this base"):
        load_encoder_into(other, path)


def test_pool_never_holds_a_dev_text():
    from monitor.data import default_data_dir
    from monitor.training.dapt import unlabelled_pool
    from monitor.training.text_data import load_splits

    root = default_data_dir()
    if not (root / "text" / "tweets_sentiment_dev.tsv").is_file():
        pytest.skip("no ../shared/data")
    pool = unlabelled_pool(root)
    _, dev = load_splits(root)
    dev_texts = {e.text.strip() for exs in dev.values() for e in exs}
    texts = [t for v in pool.values() for t in v]
    assert len(texts) == len(set(texts)) > 50_000
    assert not dev_texts & set(texts)
    from monitor.training.fin_microblog import match_key, read_set

    chatter = {match_key(r["text"]) for r in read_set()}
    assert not chatter & {match_key(t) for t in pool["stocknet_dev_stream"]}  # re-spaced or retweeted copies too


def test_pseudo_labels_keep_confident_rows_balanced_most_confident_first():
    import numpy as np

    from monitor.training.self_train import select_confident

    probs = np.array([[0.95, 0.03, 0.02], [0.91, 0.05, 0.04], [0.5, 0.4, 0.1], [0.02, 0.97, 0.01],
                      [0.01, 0.92, 0.07], [0.0, 0.05, 0.95], [0.98, 0.01, 0.01]])
    picked = select_confident(probs, 0.9)
    assert picked == {0: [6], 1: [3], 2: [5]}  # one positive -> one per class, the most confident
    assert select_confident(probs, 0.9, cap=0)[0] == [6]
    with pytest.raises(ValueError, match="lower --min-confidence"):  # no confident positive: nothing to balance
        select_confident(probs[:5], 0.9)


def test_token_drop_keeps_the_special_tokens_and_at_least_one_word():
    import random

    from monitor.training.text_train import drop_tokens

    random.seed(0)
    seq = [101, *range(1000, 1040), 102]
    out = drop_tokens(seq, 0.1)
    assert out[0] == 101 and out[-1] == 102 and 30 < len(out) < 42
    assert drop_tokens(seq, 0.0) is seq
    assert len(drop_tokens(seq, 1.0)) == 3


def test_pretraining_batches_use_every_text_once_in_similar_lengths():
    import numpy as np

    from monitor.training.dapt import _batches

    seqs = [[0] * n for n in np.random.default_rng(0).integers(3, 60, 1000)]
    batches = _batches(seqs, 64, np.random.default_rng(1))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = np.mean([max(len(seqs[i]) for i in b) - min(len(seqs[i]) for i in b) for b in batches])
    assert spread < 15  # sorted within pools: random batches of 64 would span ~55 tokens
