"""The README is tested against the code, so what a new user copies from it works.

- Every ```toml block loads through the same settings loader `carewatch` uses.
- Every command in the command table exists, and every flag it shows is accepted.
- Every `CAREWATCH_*` variable in the environment table is one the settings read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from carewatch.cli import main
from carewatch.settings import Settings, load_settings

README = Path(__file__).resolve().parents[1] / "README.md"
_CODE_SPAN = re.compile(r"`([^`]+)`")
_FLAG = re.compile(r"(--[a-z][a-z-]*)")


def _tokens() -> list:
    return MarkdownIt("commonmark").enable("table").parse(README.read_text(encoding="utf-8"))


def _toml_blocks() -> list[str]:
    return [t.content for t in _tokens() if t.type == "fence" and t.info.strip() == "toml"]


def _table_first_cells(header: str) -> list[str]:
    """The first cell of every body row of the table whose first header cell is `header`."""
    tokens = _tokens()
    cells: list[str] = []
    in_table = in_body = False
    first_cell = False
    for i, token in enumerate(tokens):
        if token.type == "table_open":
            head = next(t for t in tokens[i:] if t.type == "inline")
            in_table = head.content.strip() == header
        elif token.type == "table_close":
            in_table = in_body = False
        elif in_table and token.type == "tbody_open":
            in_body = True
        elif in_body and token.type == "tr_open":
            first_cell = True
        elif in_body and first_cell and token.type == "inline":
            cells.append(token.content)
            first_cell = False
    return cells


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("CAREWATCH_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_readme_has_toml_examples() -> None:
    assert len(_toml_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(_toml_blocks())))
def test_readme_toml_loads(index: int, tmp_path: Path) -> None:
    path = tmp_path / "carewatch.toml"
    path.write_text(_toml_blocks()[index], encoding="utf-8")
    load_settings(path)  # raises ConfigError with the offending key on any drift


def test_readme_main_example_means_what_it_says(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "carewatch.toml"
    path.write_text(_toml_blocks()[0], encoding="utf-8")
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", "sqlite:///other.db")
    monkeypatch.setenv("CAREWATCH_X_BEARER_TOKEN", "secret-token")
    settings = load_settings(path)
    assert settings.database_url == "sqlite:///other.db"  # the environment wins
    assert [(s.platform.value, s.kind) for s in settings.sources] == [
        ("x", "search"), ("x", "mentions"), ("facebook", "page"), ("instagram", "media"),
        ("x", "dms"), ("facebook", "messenger"), ("instagram", "direct")]
    assert [s.every for s in settings.sources] == [60, 60, 120, 120, 60, 60, 60]
    assert [s.key for s in settings.sources[4:]] == [
        "x:dms:1500000000000000000", "facebook:messenger:100000000000001",
        "instagram:direct:17841400000000001"]
    assert not any(s.human_agent for s in settings.sources)
    assert [n.kind for n in settings.notify] == ["email", "webhook"]
    assert settings.notify[0].smtp_port == 8025
    assert "secret-token" not in repr(settings)


def _commands() -> list[tuple[list[str], set[str]]]:
    """(command words, flags shown) for every command the README's table lists."""
    found: list[tuple[list[str], set[str]]] = []
    for cell in _table_first_cells("command"):
        for span in _CODE_SPAN.findall(cell):
            words = span.replace("\\|", "|").split()
            assert words[0] == "carewatch", span
            command = []
            for word in words[1:]:
                if word.startswith(("-", "[")) or word.isupper() or "|" in word:
                    break
                command.append(word)
            found.append((command, set(_FLAG.findall(span))))
    return found


def test_readme_lists_commands() -> None:
    names = {" ".join(c) for c, _ in _commands()}
    assert {"init", "listen", "reply", "export mentions", "users add"} <= names


@pytest.mark.parametrize(("command", "flags"), _commands(),
                         ids=[" ".join(c) for c, _ in _commands()])
def test_readme_command_exists_with_its_flags(command: list[str], flags: set[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    shown = capsys.readouterr().out
    for flag in flags - {"--help"}:
        assert flag in shown, f"`carewatch {' '.join(command)}` does not accept {flag}"


def test_readme_environment_variables_are_read() -> None:
    variables = {v for cell in _table_first_cells("variable")
                 for v in re.findall(r"CAREWATCH_[A-Z_]+", cell)}
    assert "CAREWATCH_DATABASE_URL" in variables
    known = {f"CAREWATCH_{name.upper()}" for name in Settings.model_fields}
    assert variables <= known, sorted(variables - known)


def test_demo_configuration_matches_the_readme(tmp_path: Path) -> None:
    """`make demo` polls the same kinds of sources, with the same ids, as the README shows
    (only faster), so what a new user sees in the demo is what the README configures."""
    from carewatch.cli.demo_runner import DEMO_CONFIG

    readme, demo = tmp_path / "readme.toml", tmp_path / "demo.toml"
    readme.write_text(_toml_blocks()[0], encoding="utf-8")
    demo.write_text(DEMO_CONFIG, encoding="utf-8")

    def sources(path: Path) -> list[tuple[object, ...]]:
        return [(s.platform, s.kind, s.key) for s in load_settings(path).sources]

    assert sources(demo) == sources(readme)
