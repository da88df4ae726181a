"""`plain()` makes other people's text inert in any markdown element, and the cell/mask
helpers keep formulas and secrets out of the page."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from dashboard.safe import cell, mask_secret, mask_url, one_line, plain

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "![img](http://evil.example/p.png)",
    "**bold** _it_ ~~strike~~ `code`",
    '=HYPERLINK("http://evil.example","click")',
    "$e=mc^2$ and $$x$$",
    ":smile: :red[alarm] :material/warning:",
    "<script>alert(2)</script>",
    "visit https://evil.example or www.evil.example <https://evil.example>",
    "# heading\n    indented code\n> quote\n- item\n| a | b |\n|---|---|",
    "a &lt; b &amp; &#x3C;img&#x3E;",
]

_md = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _visible(rendered: str) -> str:
    text = re.sub(r"<br\s*/?>\n?", "\n", rendered)
    text = re.sub(r"</?p>", "", text).strip()
    return html.unescape(text).replace("\u200b", "").replace("\u00a0", " ")


@pytest.mark.parametrize("text", HOSTILE)
def test_plain_renders_as_the_same_characters_and_no_markup(text: str) -> None:
    rendered = _md.render(plain(text))
    for tag in ("<img", "<a ", "<script", "<strong", "<em", "<code", "<h1", "<blockquote",
                "<li", "<table", "<pre", "<del"):
        assert tag not in rendered, (tag, rendered)
    assert _visible(rendered) == text.replace("\n", "\n")


def test_plain_breaks_streamlit_shortcodes_and_autolinks() -> None:
    escaped = plain(":smile: :red[x] https://evil.example www.evil.example")
    assert ":smile:" not in escaped
    assert ":red[" not in escaped
    assert "https://" not in escaped
    assert "www." not in escaped


def test_plain_handles_none_control_chars_and_length() -> None:
    assert plain(None) == ""
    assert "\x07" not in plain("bell\x07")
    assert plain("x" * 50, max_len=10).endswith("…")


def test_cell_neutralises_formulas_and_keeps_text() -> None:
    assert cell('=HYPERLINK("http://e","x")') == "'=HYPERLINK(\"http://e\",\"x\")"
    assert cell("+cmd|' /C calc'!A0(") .startswith("'")
    assert cell("@SUM(1+1)") == "'@SUM(1+1)"
    assert cell("@acmeair help") == "@acmeair help"
    assert cell("- just a dash") == "- just a dash"
    assert cell("plain <b>text</b>") == "plain <b>text</b>"
    assert one_line("a\n\n b\tc") == "a b c"


def test_secrets_are_masked() -> None:
    from pydantic import SecretStr

    assert "tok" not in mask_secret(SecretStr("tok-123456"))
    assert mask_secret(None) == "(not set)"
    assert "hunter2" not in mask_url("postgresql://u:hunter2@db/x")
    assert "abc" not in mask_url("http://hook.example/x?token=abc")
