"""Reply suggestions: for one item, the three best replies from the team's canned replies,
its knowledge base and its own past replies, ranked together, each with why it was chosen.

`service.suggest` is the entry point for the CLI and the dashboard; `rank` is pure (texts and
topic probabilities in, scored suggestions out), which the benchmark uses directly.
"""
