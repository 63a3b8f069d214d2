"""The learning pages: the default texts (Markdown files in ``community/learn/``), the
clinic's own versions, and the one way Markdown becomes HTML.

Rendering: markdown-it-py (CommonMark, raw HTML switched off, so ``<script>`` is text), then
nh3 (the Rust ``ammonia`` sanitiser) with a short list of tags and attributes and only
http, https and mailto links. Nothing the editor writes can run in the reader's browser; the
Content-Security-Policy is a second line.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nh3
from markdown_it import MarkdownIt

LEARN_DIR = Path(__file__).resolve().parent / "learn"

ALLOWED_TAGS = frozenset(
    {
        "a",
        "blockquote",
        "br",
        "code",
        "em",
        "h2",
        "h3",
        "h4",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "strong",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"align"}, "th": {"align"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


@dataclass(frozen=True)
class DefaultPage:
    slug: str
    title: str
    body_markdown: str
    order: int


@functools.cache
def default_pages() -> dict[str, DefaultPage]:
    """The default pages by slug, in the order of ``pages.toml``."""
    with (LEARN_DIR / "pages.toml").open("rb") as fh:
        index = tomllib.load(fh)
    pages: dict[str, DefaultPage] = {}
    for order, entry in enumerate(index["page"]):
        body = (LEARN_DIR / entry["file"]).read_text(encoding="utf-8")
        pages[entry["slug"]] = DefaultPage(entry["slug"], entry["title"], body, order)
    return pages


@functools.cache
def _markdown() -> MarkdownIt:
    # "js-default": CommonMark with raw HTML off and the link validator on; tables on.
    return MarkdownIt("js-default").enable("table")


def render_markdown(text: str) -> str:
    """Safe HTML of Markdown text: no raw HTML, no scripts, no event handlers, no
    ``javascript:`` links; external links get ``rel="noopener noreferrer nofollow"``."""
    html = _markdown().render(text)
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_plain(text: str) -> str:
    """A patient's own text (a story, a message) as HTML paragraphs: everything escaped."""
    from django.utils.html import linebreaks

    return linebreaks(text, autoescape=True)


def headings(body_markdown: str) -> list[str]:
    """The level-2 headings of a page (for the index)."""
    return [line[3:].strip() for line in body_markdown.splitlines() if line.startswith("## ")]


def as_dict(page: Any) -> dict[str, Any]:
    return {"slug": page.slug, "title": page.title, "body_markdown": page.body_markdown}
