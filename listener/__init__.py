"""The listener: turns X, Facebook and Instagram into stored, scored mentions.

`listener.sources` talk to the platforms, `listener.ingest` stores pages exactly once,
`listener.schedule` runs it all on APScheduler. It depends on `storage` and
`carewatch.domain`, never on `responders` or `dashboard`.
"""
