"""Topics: a small, local, deterministic text classifier (foundation: numpy only).

`train` builds a `TopicModel` from configured `[[topics]]` and labelled examples; the model
predicts a `TopicGuess` (best topic or none, its confidence, every topic ranked) and
round-trips through plain JSON for the database.
"""

from carewatch.topics.cues import has_complaint_cue
from carewatch.topics.learn import config_digest, train, training_set
from carewatch.topics.model import TopicGuess, TopicModel

__all__ = ["TopicGuess", "TopicModel", "config_digest", "has_complaint_cue", "train",
           "training_set"]
