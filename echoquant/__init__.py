"""echoquant: echocardiography loops to trustworthy cardiac endpoints.

``from echoquant import score, Analyzer`` is the scoring API; the heavy imports
(torch, MONAI) happen on first use, so ``import echoquant`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = ("Analyzer", "EchoResult", "MModeEchoResult", "score", "score_mmode", "score_study")
__all__ = [*_API, "__version__"]

if TYPE_CHECKING:
    from echoquant.api import Analyzer, EchoResult, MModeEchoResult, score, score_mmode, score_study


def __getattr__(name: str) -> Any:
    if name in _API:
        from echoquant import api

        return getattr(api, name)
    raise AttributeError(f"module 'echoquant' has no attribute {name!r}")
