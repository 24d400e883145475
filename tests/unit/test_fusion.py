"""Fusion model: token shapes, presence mask, missing modalities, contributions, learning, CPU/GPU parity."""

import numpy as np
import pytest
import torch

from monitor.score.fusion import MODALITIES, N_FEAT, FusionEnsemble, FusionModel, FusionNet, token_features
from monitor.training.fusion import fit, predict, tables

NEG, NEU, POS = [0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]


def test_token_features_shape_and_mask():
    x, mask = token_features({"text": NEU, "face": NEG}, {"face": {"aligned": [0.1, -0.2, 0.3], "quality": 0.5}})
    assert x.shape == (len(MODALITIES), N_FEAT) and mask.tolist() == [True, False, False, True, False]
    face = x[MODALITIES.index("face")]
    assert np.allclose(face[:3], NEG) and np.allclose(face[3:6], np.log(NEG), atol=1e-6)
    assert np.allclose(face[6:9], [0.1, -0.2, 0.3]) and face[9] == pytest.approx(0.5)
    assert not x[MODALITIES.index("voice")].any()  # absent modality: zeros, masked


def test_masked_tokens_do_not_change_the_output():
    torch.manual_seed(0)
    net = FusionNet(d=8).eval()
    x, mask = token_features({"text": NEU, "image_text": NEG}, {})
    xt, mt = torch.tensor(x)[None], torch.tensor(mask)[None]
    logits, w = net(xt, mt)
    noisy = xt.clone()
    noisy[0, ~mt[0]] = torch.randn(int((~mt[0]).sum()), N_FEAT)  # garbage in the absent slots
    logits2, w2 = net(noisy, mt)
    assert torch.allclose(logits, logits2) and torch.allclose(w, w2)
    assert w[0, ~mt[0]].abs().sum() == 0 and w[0].sum().item() == pytest.approx(1.0)


def test_row_without_tokens_gives_zero_weights_not_nan():
    net = FusionNet(d=8).eval()
    logits, w = net(torch.zeros(2, len(MODALITIES), N_FEAT), torch.zeros(2, len(MODALITIES), dtype=torch.bool))
    assert torch.isfinite(logits).all() and (w == 0).all()


def _rows(n: int, seed: int) -> list[dict]:
    """Neutral caption + an image whose OCR text carries the label: the fusion must learn to trust image_text."""
    rng = np.random.default_rng(seed)
    ev = {"negative": NEG, "neutral": NEU, "positive": POS}
    rows = []
    for i in range(n):
        label = ("negative", "neutral", "positive")[i % 3]
        noisy = (np.asarray(ev[label]) + rng.uniform(0, 0.3, 3)).tolist()
        rows.append({"kind": "image_text", "label": label, "media": True,
                     "by": {"text": NEU, "image_text": noisy}, "aux": {}})
    return rows


def test_fusion_learns_to_follow_the_informative_modality_and_survives_dropping_it():
    train, dev = _rows(90, 1), _rows(30, 2)
    net = fit(train, d=8, wd=1e-3, epochs=150)
    probs = predict(net, dev)
    assert tables(dev, probs)["macro_f1"] > 0.9
    _, w = net(*[torch.tensor(np.stack(a)) for a in zip(*[token_features(r["by"], r["aux"]) for r in dev],
                                                          strict=True)])
    assert (w[:, MODALITIES.index("image_text")] > w[:, MODALITIES.index("text")]).float().mean() > 0.9
    dropped = predict(net, dev, drop="image_text")  # the caption alone says neutral
    assert np.isfinite(dropped).all() and (dropped.argmax(1) == 1).mean() > 0.9


def test_seed_ensemble_averages_members_and_round_trips_through_the_artefact(tmp_path):
    import json

    from safetensors.torch import save_file

    nets = []
    for k in range(3):
        torch.manual_seed(k)
        nets.append(FusionNet(d=8).eval())
    ens = FusionEnsemble(nets).eval()
    x, mask = token_features({"text": NEU, "face": NEG, "voice": POS}, {})
    xt, mt = torch.tensor(x)[None], torch.tensor(mask)[None]
    with torch.inference_mode():
        logits, w = ens(xt, mt)
        parts = [n(xt, mt) for n in nets]
    assert torch.allclose(logits, sum(p[0] for p in parts) / 3, atol=1e-6)
    assert torch.allclose(w, sum(p[1] for p in parts) / 3, atol=1e-6) and w.sum().item() == pytest.approx(1.0)
    assert not torch.allclose(parts[0][0], parts[1][0])  # the members differ, so the mean is not a copy
    save_file({k: v.contiguous() for k, v in ens.state_dict().items()}, str(tmp_path / "model.safetensors"))
    (tmp_path / "meta.json").write_text(json.dumps({"d": 8, "temperature": 1.0, "members": 3}))
    probs, weights = FusionModel(tmp_path).fuse([({"text": NEU, "face": NEG, "voice": POS}, {})])
    assert np.allclose(probs[0], torch.softmax(logits[0], -1).numpy(), atol=1e-5)
    assert set(weights[0]) == {"text", "face", "voice"}
    # an older single-net artefact still loads
    save_file({k: v.contiguous() for k, v in nets[0].state_dict().items()}, str(tmp_path / "model.safetensors"))
    probs1, _ = FusionModel(tmp_path).fuse([({"text": NEU, "face": NEG, "voice": POS}, {})])
    assert np.allclose(probs1[0], torch.softmax(parts[0][0][0], -1).numpy(), atol=1e-5)


def test_shipped_artefact_loads_and_fuses_any_subset():
    if not FusionModel.available():
        pytest.skip("no fusion artefact (run `monitor train fusion`)")
    m = FusionModel()
    items = [({"text": NEU}, {}), ({"face": NEG}, {"face": {"aligned": [0.0, 0.0, 0.0], "quality": 0.25}}),
             ({"text": NEU, "image_text": NEG, "speech_text": NEG, "face": NEG, "voice": NEG}, {})]
    probs, weights = m.fuse(items)
    assert probs.shape == (3, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert [set(w) for w in weights] == [{"text"}, {"face"}, set(MODALITIES)]
    assert all(sum(w.values()) == pytest.approx(1.0, abs=1e-3) for w in weights)
    assert probs[2].argmax() == 0  # every modality negative -> negative


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine")
def test_cpu_gpu_parity():
    torch.manual_seed(0)
    net = FusionNet(d=16).eval()
    x = torch.randn(64, len(MODALITIES), N_FEAT)
    mask = torch.rand(64, len(MODALITIES)) > 0.4
    with torch.inference_mode():
        cpu, _ = net(x, mask)
        gpu, _ = net.cuda()(x.cuda(), mask.cuda())
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-4)
