import numpy as np
import pytest
import torch

from monitor.score.text_model import (
    DEFAULT_ARTEFACT,
    SentimentNet,
    TextModelConfig,
    TextSentimentModel,
    add_lora,
    load_base,
    load_merged,
    save_artefact,
)
from monitor.score.vader import compound_to_proba


@pytest.fixture(scope="module")
def model():
    if not TextSentimentModel.available(DEFAULT_ARTEFACT):
        pytest.skip("no shipped text artefact")
    return TextSentimentModel(device="cpu", batch_size=4)


def test_shipped_model_scores_obvious_texts(model):
    texts = ["Shares plunge after the company slashes guidance and misses EPS badly",
             "Absolutely love this phone, best purchase this year!",
             "$TSLA terrible quarter, I'm selling everything"]
    p = model.predict_proba(texts).numpy()
    assert p.shape == (3, 3) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert p.argmax(1).tolist() == [0, 2, 0]


def test_order_restored_after_length_sorting(model):
    texts = ["great", "a much longer neutral sentence about the scheduled shareholder meeting next week", "awful"]
    batch = model.predict_proba(texts).numpy()
    single = np.vstack([model.predict_proba([t]).numpy() for t in texts])
    assert np.allclose(batch, single, atol=1e-4)


def test_merged_lora_equals_training_graph(tmp_path):
    torch.manual_seed(0)
    enc, tok = load_base()
    cfg = TextModelConfig(lora_r=4, lora_alpha=8, lora_dropout=0.0, max_length=32)
    add_lora(enc, cfg)
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)  # make the deltas non-zero
    net = SentimentNet(enc, 384).eval()
    save_artefact(net, cfg, tmp_path)
    merged, tok2, _ = load_merged(tmp_path)
    batch = tok(["hello world", "stocks fall sharply"], padding=True, return_tensors="pt")
    with torch.no_grad():
        a = net(batch["input_ids"], batch["attention_mask"])
        b = merged(batch["input_ids"], batch["attention_mask"])
    assert torch.allclose(a, b, atol=2e-2), (a - b).abs().max()  # fp16 storage of the factors
    assert (tmp_path / "adapter.safetensors").stat().st_size < 2_000_000


def test_vader_mapping_monotone_and_neutral_band():
    p = compound_to_proba(np.array([-0.9, -0.02, 0.0, 0.02, 0.9]))
    assert p[:, 0].tolist() == sorted(p[:, 0].tolist(), reverse=True)
    assert p[:, 2].tolist() == sorted(p[:, 2].tolist())
    assert p[1:4].argmax(1).tolist() == [1, 1, 1]
