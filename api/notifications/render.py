"""Emails from Jinja2 templates: ``{language}/{kind}.txt`` (with a ``subject`` block) and
``{language}/{kind}.html``, autoescaped. A retailer's folder (``OMS_NOTIFY_TEMPLATES``) is
searched before the shipped templates, so any one file can be replaced; a language without a
template for a kind falls back to its primary language (``de`` for ``de-CH``), then English."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined, select_autoescape

KINDS = ("confirmed", "shipped", "delivered", "cancelled", "refunded")


@dataclass(frozen=True, slots=True)
class Email:
    subject: str
    text: str
    html: str
    language: str


class Renderer:
    def __init__(self, folder: Path | None = None) -> None:
        loaders: list[Any] = [FileSystemLoader(folder)] if folder is not None else []
        loaders.append(PackageLoader("api.notifications", "templates"))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
            undefined=StrictUndefined,  # a template naming what the context lacks fails loudly, not blank
            keep_trailing_newline=True,
        )

    def languages(self, language: str | None) -> list[str]:
        wanted = (language or "").lower()
        chain = [wanted, wanted.split("-", 1)[0], "en"] if wanted else ["en"]
        return list(dict.fromkeys(c for c in chain if c))

    def render(self, kind: str, language: str | None, context: Mapping[str, Any]) -> Email:
        text_template = self.env.select_template([f"{lang}/{kind}.txt" for lang in self.languages(language)])
        used = (text_template.name or "en/").split("/", 1)[0]
        subject = "".join(text_template.blocks["subject"](text_template.new_context(dict(context)))).strip()
        full = {**context, "subject": subject, "language": used}
        html = self.env.get_template(f"{used}/{kind}.html").render(full)
        return Email(subject, text_template.render(full).strip() + "\n", html, used)
