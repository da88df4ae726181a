"""Scoring: care-tuned sentiment, language and explainable urgency for one mention or many.

`Scorer` (in `listener.scoring.scorer`) is what the listener, the CLI and the dashboard call;
batch scoring of a CSV is `listener.scoring.batch`. This package only re-exports: no module
inside it imports the package itself, so there is no import cycle.
"""

from __future__ import annotations

from listener.scoring.scorer import Scorer
from listener.scoring.urgency import REASONS

__all__ = ["REASONS", "Scorer"]
