"""The receiver for Meta webhooks (Messenger, Instagram Direct and comments, page feed).

`signature` checks `X-Hub-Signature-256`; `events` turns a delivery into the same domain
mentions a poll produces, grouped by the source they belong to; `app` is the Starlette
application that stores them through the ingestor; `server` runs it on uvicorn.
"""
