"""One language per console page: Russian, English as a switch; counts, times and names.

Strategy: every word a page shows comes from :data:`ivr.console.texts.TEXTS` in the
page's language, chosen once per request (:func:`page_language`: the ``ivr_lang``
cookie the language switch sets, else Russian).  Templates call ``t("key")`` and
``count(n, "key")``; the page embeds the same catalogue (:func:`catalogue`) for its
scripts, with the hotline's time zone, so the JavaScript formats in the same words and
the same zone.  Plural forms have one rule per language (:func:`plural`), Russian's
three forms included ("1 обратный звонок, 2 обратных звонка, 5 обратных звонков").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, current_app, redirect, request

from ivr.console.texts import TEXTS
from ivr.flow.words import plural_form

LANGUAGES = ("ru", "en")
DEFAULT = "ru"
COOKIE = "ivr_lang"

bp = Blueprint("language", __name__)


def plural(n: int, forms: tuple[str, ...] | list[str], language: str) -> str:
    """The form of a word that goes with ``n`` (the rule of :func:`ivr.flow.words.plural_form`,
    shared with the menu's announcements): Russian one/few/many, English one/other."""
    index = plural_form(n, language)
    return forms[0] if index == 0 else forms[min(index, len(forms) - 1)]


def text(key: str, language: str, **values: Any) -> str:
    entry = TEXTS[key]
    word = entry.get(language) or entry[DEFAULT]
    assert isinstance(word, str), f"{key} has plural forms: use count()"
    return word.format(**values) if values else word


def count(n: int, key: str, language: str) -> str:
    """``"5 обратных звонков"``: the number and the word in its right form."""
    entry = TEXTS[key]
    forms = entry.get(language) or entry[DEFAULT]
    assert not isinstance(forms, str), f"{key} has no plural forms"
    return f"{n} {plural(n, forms, language)}"


def page_language() -> str:
    chosen = request.cookies.get(COOKIE, DEFAULT)
    return chosen if chosen in LANGUAGES else DEFAULT


def hotline_zone() -> str:
    zone: str = current_app.extensions["ivr.console.zone"]
    return zone


def local_time(epoch: float | None, language: str, zone: str) -> str:
    if not epoch:
        return "—"
    moment = dt.datetime.fromtimestamp(epoch, ZoneInfo(zone))
    # As the pages' scripts write a time (toLocaleString ru-RU / en-GB): one format per language.
    return moment.strftime("%d.%m.%Y, %H:%M:%S" if language == "ru" else "%d/%m/%Y, %H:%M:%S")


def zone_label(zone: str, at: float | None = None) -> str:
    """The hotline's zone as people read it on either page: ``UTC+3``."""
    moment = dt.datetime.now(ZoneInfo(zone)) if at is None else dt.datetime.fromtimestamp(at, ZoneInfo(zone))
    offset = moment.utcoffset() or dt.timedelta()
    minutes = int(offset.total_seconds() // 60)
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def catalogue(language: str) -> dict[str, Any]:
    """What a page's scripts need: the texts in its language, the language, the zone."""
    queues: Mapping[str, Mapping[str, str]] = current_app.extensions["ivr.console.queue_names"]
    return {"language": language, "zone": hotline_zone(),
            "queues": {queue: names.get(language) or names[DEFAULT] for queue, names in queues.items()},
            "texts": {key: entry.get(language) or entry[DEFAULT] for key, entry in TEXTS.items()}}


def _safe_next(target: str | None) -> str:
    parts = urlsplit(target or "/")
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


@bp.post("/console/language")
def switch() -> Any:
    """The language switch: remembered in a cookie (a preference, nothing secret)."""
    chosen = request.form.get("language", DEFAULT)
    reply = redirect(_safe_next(request.form.get("next")))
    reply.set_cookie(COOKIE, chosen if chosen in LANGUAGES else DEFAULT, max_age=365 * 86400,
                     httponly=True, samesite="Lax", secure=request.is_secure)
    return reply


def init_i18n(app: Flask, *, zone: str, queue_names: Mapping[str, Mapping[str, str]]) -> None:
    """``queue_names``: {queue: {ru: name, en: name}}, the queues' names for the pages."""
    app.extensions["ivr.console.zone"] = zone
    app.extensions["ivr.console.queue_names"] = queue_names
    app.register_blueprint(bp)

    def t(key: str, **values: Any) -> str:
        return text(key, page_language(), **values)

    def counted(n: int, key: str) -> str:
        return count(n, key, page_language())

    def when(epoch: float | None) -> str:
        return local_time(epoch, page_language(), hotline_zone())

    app.jinja_env.globals.update(t=t, count=counted, when=when, page_language=page_language,
                                 zone_label=lambda: zone_label(hotline_zone()),
                                 languages=LANGUAGES, catalogue=lambda: catalogue(page_language()))


def labels_for(names: Mapping[str, Mapping[str, str]], language: str) -> dict[str, str]:
    return {node: (by_lang.get(language) or next(iter(by_lang.values()), node))
            for node, by_lang in names.items()}
