import pytest
import torch

from agf_core import checkpoint
from agf_core.models.video import FaceNet, FaceNetConfig


def _save(tmp_path):
    net = FaceNet(FaceNetConfig(channels=(4, 8), embed_dim=8))
    path = checkpoint.save(tmp_path / "face.pt", "face", {"channels": [4, 8], "embed_dim": 8},
                           net.state_dict(), {"note": "tiny"})
    (tmp_path / checkpoint.MANIFEST).write_text(f"{checkpoint.sha256(path)}  face.pt\n")
    return path, net


def test_round_trip_keeps_config_and_weights(tmp_path):
    path, net = _save(tmp_path)
    ck = checkpoint.load(path, "face")
    assert ck["config"]["embed_dim"] == 8 and ck["meta"]["note"] == "tiny"
    for k, v in net.state_dict().items():
        torch.testing.assert_close(ck["state_dict"][k], v)


def test_missing_file_names_it_and_how_to_restore(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.pt is missing; restore it"):
        checkpoint.load(tmp_path / "nothing.pt")


def test_corrupted_file_is_refused_by_hash(tmp_path):
    path, _ = _save(tmp_path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"face\.pt is corrupted"):
        checkpoint.load(path)


def test_unreadable_and_wrong_kind(tmp_path):
    path, _ = _save(tmp_path)
    with pytest.raises(ValueError, match="holds a 'face' model, expected 'text'"):
        checkpoint.load(path, "text")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt cannot be read"):
        checkpoint.load(junk)


def test_shipped_files_match_their_manifest():
    listed = checkpoint.read_manifest(checkpoint.WEIGHTS)
    assert "face_landmarker.task" in listed
    for name, digest in listed.items():
        assert checkpoint.sha256(checkpoint.WEIGHTS / name) == digest, name


def test_a_malformed_manifest_line_is_named(tmp_path):
    (tmp_path / checkpoint.MANIFEST).write_text("abc123 text.pt extra\n")
    with pytest.raises(ValueError, match="line 1 .* is not '<sha256 hex>  <file name>'"):
        checkpoint.read_manifest(tmp_path)
