"""echoquant: echocardiography loops to trustworthy cardiac endpoints.

``from echoquant import score, Analyzer`` is the scoring API; the heavy imports
(torch, MONAI) happen on first use, so ``import echoquant`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Analyzer", "EchoResult", "__version__", "score", "score_study"]

if TYPE_CHECKING:
    from echoquant.api import Analyzer, EchoResult, score, score_study


def __getattr__(name: str) -> Any:
    if name in ("Analyzer", "EchoResult", "score", "score_study"):
        from echoquant import api

        return getattr(api, name)
    raise AttributeError(f"module 'echoquant' has no attribute {name!r}")
