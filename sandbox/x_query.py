"""The X search query language, compiled to a predicate over tweets.

Covers what carewatch's rules use and X documents for recent search: words, "phrases",
@mentions, #hashtags, ``-`` negation, parentheses, ``OR`` (binding looser than the implicit
AND) and the operators ``from: to: conversation_id: is: lang: has: retweets_of: url:``.
Mistakes answer with X's own 400 messages, so a bad rule fails here as it would on X.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sandbox.errors import x_invalid
from sandbox.records import Tweet
from sandbox.world import World

_TOKEN_RE = re.compile(r'\s*(-?"[^"]*"|-?\(|\)|[^\s()]+)')
_KNOWN_OPS = {"from", "to", "conversation_id", "is", "lang", "has", "retweets_of", "url"}

Pred = Callable[[Tweet, World], bool]


def word_re(word: str) -> re.Pattern[str]:
    """A whole word, case-insensitive; ``@`` and ``#`` belong to the word they start."""
    prefix = r"(?<![\w@#])" if word[:1].isalnum() or word[:1] in "@#_" else ""
    suffix = r"(?!\w)" if word[-1:].isalnum() or word[-1:] == "_" else ""
    return re.compile(prefix + re.escape(word) + suffix, re.IGNORECASE)


def _term(token: str) -> Pred:
    """One search term (operator, phrase, mention, hashtag or word) as a predicate."""
    if token.startswith('"'):
        phrase = token.strip('"').lower()
        return lambda t, w: phrase in t.text.lower()
    if ":" in token and not token.startswith(("@", "#")) and re.match(r"^[a-z_]+:", token):
        op, _, value = token.partition(":")
        if op not in _KNOWN_OPS:
            raise x_invalid("query", token, f"There were errors processing your request: "
                                            f"Reference to invalid operator '{op}'")
        low = value.lower().lstrip("@")
        if op == "from":
            return lambda t, w: (t.author_id == value
                                 or w.x_users[t.author_id].username.lower() == low)
        if op == "to":
            def to_pred(t: Tweet, w: World) -> bool:
                if t.in_reply_to_user_id is None:
                    return False
                user = w.x_users.get(t.in_reply_to_user_id)
                return t.in_reply_to_user_id == value or bool(user and user.username.lower()
                                                               == low)
            return to_pred
        if op == "conversation_id":
            return lambda t, w: str(t.conversation_id) == value
        if op == "lang":
            return lambda t, w: t.lang == low
        if op == "retweets_of":
            return lambda t, w: t.is_retweet and t.text.lower().startswith(f"rt @{low}:")
        if op == "url":
            return lambda t, w: low in t.text.lower()
        if op == "is":
            checks: dict[str, Pred] = {
                "retweet": lambda t, w: t.is_retweet,
                "reply": lambda t, w: t.in_reply_to_tweet_id is not None,
                "quote": lambda t, w: t.quoted_id is not None,
                "verified": lambda t, w: w.x_users[t.author_id].followers >= 100_000,
            }
            if low not in checks:
                raise x_invalid("query", token, f"Reference to invalid operator 'is:{value}'")
            return checks[low]
        if op == "has":
            has: dict[str, Pred] = {
                "links": lambda t, w: "http://" in t.text or "https://" in t.text,
                "mentions": lambda t, w: bool(re.search(r"@\w", t.text)),
                "hashtags": lambda t, w: bool(re.search(r"#\w", t.text)),
                "media": lambda t, w: False,
            }
            if low not in has:
                raise x_invalid("query", token, f"Reference to invalid operator 'has:{value}'")
            return has[low]
    pattern = word_re(token)
    return lambda t, w: bool(pattern.search(t.text))


class _QueryParser:
    """Recursive descent: OR binds looser than the implicit AND, ``-`` negates a term/group."""

    def __init__(self, query: str) -> None:
        self.tokens = [m.group(1) for m in _TOKEN_RE.finditer(query) if m.group(1).strip()]
        self.pos = 0

    def parse(self) -> Pred:
        if not self.tokens:
            raise x_invalid("query", "", "The `query` query parameter can not be empty")
        pred = self._or()
        if self.pos != len(self.tokens):
            raise x_invalid("query", " ".join(self.tokens), "There were errors processing your "
                            "request: unbalanced parentheses")
        return pred

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self) -> Pred:
        parts = [self._and()]
        while self._peek() == "OR":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda t, w: any(p(t, w) for p in parts))

    def _and(self) -> Pred:
        parts: list[Pred] = []
        while (tok := self._peek()) is not None and tok not in (")", "OR"):
            parts.append(self._unary())
        if not parts:
            raise x_invalid("query", " ".join(self.tokens), "There were errors processing "
                            "your request: empty group or dangling OR")
        return parts[0] if len(parts) == 1 else (lambda t, w: all(p(t, w) for p in parts))

    def _unary(self) -> Pred:
        tok = self.tokens[self.pos]
        self.pos += 1
        if tok in ("(", "-("):
            inner = self._or()
            if self._peek() != ")":
                raise x_invalid("query", " ".join(self.tokens), "There were errors processing "
                                "your request: unbalanced parentheses")
            self.pos += 1
            return (lambda t, w: not inner(t, w)) if tok == "-(" else inner
        if tok.startswith("-") and len(tok) > 1:
            inner_term = _term(tok[1:])
            return lambda t, w: not inner_term(t, w)
        return _term(tok)


def compile_query(query: str) -> Pred:
    """Compile an X search query into a predicate over tweets."""
    return _QueryParser(query).parse()
