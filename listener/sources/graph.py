"""What every Graph API source shares (Facebook, Instagram, their conversations): the
facebook-sdk client on the configured base URL and paged edges under the retry policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import facebook

from carewatch.graph_paging import next_page_params
from carewatch.settings import Settings, SourceConfig
from listener.sources.base import BaseSource


class GraphPaging:
    """Paged Graph edges, one retried call per page (see carewatch.graph_paging)."""

    def __init__(self, source: BaseSource, graph: facebook.GraphAPI) -> None:
        self.source = source
        self.graph = graph

    def pages(self, object_id: str, edge: str, **args: Any) -> Iterator[list[dict[str, Any]]]:
        params = {k: v for k, v in args.items() if v is not None}
        while True:
            result = self.source.call(
                lambda p=dict(params): self.graph.get_connections(object_id, edge, **p))
            if not isinstance(result, dict):
                raise ValueError(f"unexpected Graph response for {edge}")
            yield list(result.get("data") or [])
            following = next_page_params(result, params)
            if following is None or self.source.should_stop():
                return
            params = following


class GraphSource(BaseSource):
    """A source on the Graph API (Facebook or Instagram): its client (`graph`) and paging."""

    def __init__(self, config: SourceConfig, settings: Settings, *,
                 graph: facebook.GraphAPI | None = None, **kwargs: Any) -> None:
        super().__init__(config, settings, client=graph, **kwargs)
        self.graph: facebook.GraphAPI = self.client
        self.paging = GraphPaging(self, self.graph)
