"""The SPRM head: layout, parameter count, save/load incl. the reference's key names."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from components.model.sprm_head import HEAD_KEYS, HeadFileError, SPRMHead, head_parameter_count


@pytest.mark.parametrize("h", [64, 128, 1536])
def test_parameter_count_hidden(h):
    head = SPRMHead(h, "hidden")
    assert sum(p.numel() for p in head.parameters()) == 2 * h * h + 4 * h + 1 == head_parameter_count(h)


def test_parameter_count_hidden_logprob():
    head = SPRMHead(64, "hidden+logprob")
    assert sum(p.numel() for p in head.parameters()) == head_parameter_count(64, "hidden+logprob")


def test_layout_and_keys():
    head = SPRMHead(8)
    assert tuple(head.state_dict()) == HEAD_KEYS
    assert isinstance(head[0], nn.Linear) and isinstance(head[1], nn.ReLU)
    assert isinstance(head[2], nn.Dropout) and head[2].p == 0.5 and head[3].out_features == 1
    assert head(torch.zeros(3, 8)).shape == (3,)


def test_safetensors_round_trip(tmp_path):
    torch.manual_seed(0)
    head = SPRMHead(16, "hidden+logprob").eval()
    head.save(tmp_path / "sprm_head.safetensors")
    loaded = SPRMHead.load(tmp_path / "sprm_head.safetensors", 16).eval()
    assert loaded.features == "hidden+logprob"
    x, lp = torch.randn(4, 16), torch.randn(4, 2)
    assert torch.equal(head(x, lp), loaded(x, lp))
    assert not list(tmp_path.glob("*.tmp"))


def test_reference_score_module_pt(tmp_path):
    """The reference saves a plain Sequential's state dict with torch.save."""
    torch.manual_seed(1)
    ref = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 1)).eval()
    torch.save(ref.state_dict(), tmp_path / "score_module.pt")
    head = SPRMHead.load(tmp_path / "score_module.pt", 16).eval()
    x = torch.randn(5, 16)
    assert head.features == "hidden"
    assert torch.allclose(head(x), ref(x).squeeze(-1))


def test_shape_mismatch_names_the_file(tmp_path):
    SPRMHead(16).save(tmp_path / "sprm_head.safetensors")
    with pytest.raises(HeadFileError, match=r"sprm_head.safetensors: 0.weight has shape"):
        SPRMHead.load(tmp_path / "sprm_head.safetensors", 32)


def test_corrupt_file_names_the_file(tmp_path):
    (tmp_path / "sprm_head.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(HeadFileError, match="sprm_head.safetensors"):
        SPRMHead.load(tmp_path / "sprm_head.safetensors", 16)


def test_entropy_head_reads_five_statistics_and_round_trips(tmp_path):
    torch.manual_seed(0)
    head = SPRMHead(16, "hidden+logprob+entropy").eval()
    assert sum(p.numel() for p in head.parameters()) == head_parameter_count(16, "hidden+logprob+entropy")
    head.save(tmp_path / "sprm_head.safetensors")
    loaded = SPRMHead.load(tmp_path / "sprm_head.safetensors", 16).eval()
    assert loaded.features == "hidden+logprob+entropy"
    x, stats = torch.randn(4, 16), torch.randn(4, 5)
    assert torch.equal(head(x, stats), loaded(x, stats))
    two = SPRMHead(16, "hidden+logprob").eval()
    assert torch.equal(two(x, stats), two(x, stats[:, :2]))      # a two-feature head reads the first two
