"""Reputation-risk alerts: detectors (spike, high_reach, risk_words, sla_breach,
source_health), one alert per episode, and email/webhook notifiers.

Usage by the listener: `engine = AlertEngine(db, settings)`; `engine.on_new_mentions(ids)`
after each committed page; `engine.evaluate_periodic()` and `engine.notify_pending()` on a
schedule (every ~30 s) and once at the end of `listen --once`.
"""

from listener.alerts.engine import AlertEngine

__all__ = ["AlertEngine"]
