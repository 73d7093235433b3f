import pytest
import torch

from agf_core.inputs.metadata import check_metadata, metadata_ids
from agf_core.models.metadata import MetadataConfig, MetadataEncoder


def test_missing_fields_become_unknown():
    assert check_metadata({"age": "Young"}) == {"age": "young", "gender": "unknown", "timbre": "unknown"}
    assert check_metadata(None) == {"age": "unknown", "gender": "unknown", "timbre": "unknown"}


@pytest.mark.parametrize("meta, match", [
    ({"age": "teen"}, "age='teen'.*child, young, middle-aged, elderly"),
    ({"gender": "x"}, "gender='x'"),
    ({"mood": "ok"}, "unknown metadata field"),
])
def test_bad_metadata_is_named(meta, match):
    with pytest.raises(ValueError, match=match):
        check_metadata(meta)


def test_encoder_gives_256_d_and_distinguishes_profiles():
    enc = MetadataEncoder(MetadataConfig()).eval()
    ids = metadata_ids([{"age": "child"}, {"age": "elderly"}, {}])
    assert ids.tolist()[2] == [4, 2, 3]
    m = enc(ids)
    assert m.shape == (3, 256)
    assert not torch.allclose(m[0], m[1])
