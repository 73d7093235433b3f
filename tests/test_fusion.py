import math

import pytest
import torch

from agf_core.models.fusion import AdaptiveGatedFusion, FusionConfig
from agf_core.inputs.metadata import metadata_ids
from agf_core.models.metadata import MetadataEncoder


def _inputs(b=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = {k: torch.randn(b, 256, generator=g) for k in ("text", "audio", "video")}
    return h, torch.randn(b, 256, generator=g)


@pytest.mark.parametrize("gate", ["sigmoid", "logit"])
def test_weights_sum_to_one_and_masked_get_zero(gate):
    torch.manual_seed(0)
    fusion = AdaptiveGatedFusion(FusionConfig(gate=gate)).eval()
    h, m = _inputs()
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 0], [0, 0, 1]], dtype=torch.bool)
    logits, a = fusion(h, mask, m)
    assert logits.shape == (4, 7) and a.shape == (4, 3)
    torch.testing.assert_close(a.sum(-1), torch.ones(4))
    assert (a[~mask] == 0).all() and (a[mask] > 0).all()


def test_masked_modality_input_does_not_change_output():
    torch.manual_seed(0)
    fusion = AdaptiveGatedFusion().eval()
    h, m = _inputs(2)
    mask = torch.tensor([[1, 0, 1], [1, 0, 1]], dtype=torch.bool)
    out1 = fusion(h, mask, m)
    h["audio"] = h["audio"] * 100 + 7
    out2 = fusion(h, mask, m)
    torch.testing.assert_close(out1[0], out2[0])
    torch.testing.assert_close(out1[1], out2[1])


def test_batch_equals_items_alone():
    torch.manual_seed(0)
    fusion = AdaptiveGatedFusion().eval()
    h, m = _inputs(3)
    mask = torch.tensor([[1, 1, 0], [0, 1, 1], [1, 1, 1]], dtype=torch.bool)
    logits, a = fusion(h, mask, m)
    for i in range(3):
        li, ai = fusion({k: v[i:i + 1] for k, v in h.items()}, mask[i:i + 1], m[i:i + 1])
        torch.testing.assert_close(li[0], logits[i], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ai[0], a[i], rtol=1e-5, atol=1e-5)


def test_sigmoid_gates_cannot_exceed_e_ratio_but_logit_gates_can():
    torch.manual_seed(0)
    h, m = _inputs(1)
    mask = torch.ones(1, 3, dtype=torch.bool)
    for gate, bounded in (("sigmoid", True), ("logit", False)):
        fusion = AdaptiveGatedFusion(FusionConfig(gate=gate)).eval()
        with torch.no_grad():
            fusion.gates["text"].bias.fill_(50.0)      # push the text gate to its extreme
            fusion.gates["audio"].bias.fill_(-50.0)
        _, a = fusion(h, mask, m)
        ratio = (a[0, 0] / a[0, 1]).item()
        assert (ratio <= math.e + 1e-4) if bounded else ratio > 1e6


def test_metadata_changes_the_gates():
    torch.manual_seed(0)
    fusion, meta = AdaptiveGatedFusion().eval(), MetadataEncoder().eval()
    h, _ = _inputs(1)
    mask = torch.ones(1, 3, dtype=torch.bool)
    ids = metadata_ids([{"age": "child", "gender": "female", "timbre": "high"},
                        {"age": "elderly", "gender": "male", "timbre": "low"}])
    m = meta(ids)                                                  # (2, 256)
    _, a1 = fusion(h, mask, m[:1])
    _, a2 = fusion(h, mask, m[1:])
    assert not torch.allclose(a1, a2)


def test_no_metadata_variant_and_errors():
    fusion = AdaptiveGatedFusion(FusionConfig(meta_dim=0)).eval()
    h, _ = _inputs(2)
    logits, a = fusion(h, torch.ones(2, 3, dtype=torch.bool))
    assert logits.shape == (2, 7)
    with pytest.raises(ValueError, match="at least one True"):
        fusion(h, torch.tensor([[1, 0, 0], [0, 0, 0]], dtype=torch.bool))
    with pytest.raises(ValueError, match="metadata"):
        AdaptiveGatedFusion()(h, torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="'tanh'"):
        AdaptiveGatedFusion(FusionConfig(gate="tanh"))
    with pytest.raises(ValueError, match="smell"):
        AdaptiveGatedFusion(FusionConfig(dims={"smell": 3}))
