"""scripts/compare_camus_models.py: an ensemble's output is the mean of its members'
class probabilities, and members that expect different inputs are refused."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from echoquant.segment.bundle import save_bundle
from echoquant.segment.networks import build_network

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture(scope="module")
def script():
    sys.path.insert(0, str(SCRIPTS))  # the script imports its sibling _report
    try:
        spec = importlib.util.spec_from_file_location("compare_camus_models", SCRIPTS / "compare_camus_models.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(SCRIPTS))


def _bundle(folder: Path, seed: int, image_size: int = 64) -> Path:
    torch.manual_seed(seed)
    kwargs = {"channels": [8, 16, 32], "num_res_units": 1}
    return save_bundle(build_network("unet", **kwargs), folder, network={"name": "unet", "kwargs": kwargs},
                       image_size=image_size, half=False)


def test_ensemble_output_is_the_mean_probability(script, tmp_path):
    a, b = _bundle(tmp_path / "a", 0), _bundle(tmp_path / "b", 1)
    bundle, tta = script.load_model(f"{a},{b}+tta")
    assert tta
    members = bundle.net.nets
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        expected = 0.5 * (torch.softmax(members[0](x), 1) + torch.softmax(members[1](x), 1))
        got = torch.softmax(bundle.net(x), 1)
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(torch.softmax(members[0](x), 1), expected, atol=1e-3)  # the members differ


def test_ensemble_refuses_members_with_other_inputs(script, tmp_path):
    a, b = _bundle(tmp_path / "a", 0), _bundle(tmp_path / "b", 1, image_size=96)
    with pytest.raises(ValueError, match="share input size"):
        script.load_model(f"{a},{b}")
    single, tta = script.load_model(str(a))
    assert not tta and single.image_size == 64
