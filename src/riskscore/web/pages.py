"""Rendering: the Jinja2 environment, the page context (language, user, CSRF token), security headers,
and WebRoute, which turns every failure of a web route into a page in the user's language instead of
the API's JSON — or a stack trace."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from riskscore.errors import ModelError, NotFoundError, RiskscoreError, StoreError
from riskscore.web import i18n
from riskscore.web.auth import (
    LANG_COOKIE,
    CsrfError,
    LoginRequired,
    WebForbidden,
    cookie_secure,
    web_session,
    write_session,
)

#: pages hold personal data: no caching, no framing, no referrer (URLs carry pseudonyms), no scripts
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self' data:; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("riskscore.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(percent=i18n.percent, number=i18n.number, when=i18n.when)
    return env


def lang_of(request: Request) -> str:
    """?lang= wins (and is remembered in a cookie), then the cookie, then Dutch."""
    return (i18n.pick_lang(request.query_params.get("lang")) or i18n.pick_lang(request.cookies.get(LANG_COOKIE))
            or i18n.DEFAULT_LANG)


def lang_switch_url(request: Request, lang: str) -> str:
    """The current page in the other language (other query parameters kept)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "saved")]
    params.append(("lang", "en" if lang == "nl" else "nl"))
    return f"{request.url.path}?{urlencode(params)}"


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page in the request's language with the layout's context filled in."""
    lang = lang_of(request)
    principal = getattr(request.state, "web_principal", None)

    def t(key: str, /, **params: Any) -> str:
        return i18n.translate(key, lang, **params)

    def word(prefix: str, value: str | None) -> str:
        return i18n.label(prefix, value, lang)

    base = {
        "lang": lang, "t": t, "word": word, "principal": principal, "csrf_token": web_session(request).csrf,
        "switch_url": lang_switch_url(request, lang), "other_lang": "en" if lang == "nl" else "nl",
        "path": request.url.path, "request_id": getattr(request.state, "request_id", None),
        "static": lambda name: f"/static/{name}",
        "when": lambda value: i18n.when(value, lang),
    }
    html = environment().get_template(template).render({**base, **context})
    return HTMLResponse(html, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    """See-other: after a POST the browser GETs the result page (post/redirect/get)."""
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status: int, title_key: str, message: str) -> HTMLResponse:
    try:
        return render(request, "error.html", status_code=status, title_key=title_key, message=message)
    except Exception:  # the error page itself must never fail into a stack trace
        return HTMLResponse(f"<!doctype html><title>{status}</title><p>{status}</p>", status_code=status)


def web_error(request: Request, status: int) -> Response:
    """An error page for a web path the routes do not know (the app's handlers call this): the
    same page, headers and language as any other web error, never the API's JSON."""
    lang = lang_of(request)
    if status in (404, 405):
        response: Response = error_page(request, 404, "error_404_title", i18n.translate("error_404", lang))
    else:
        response = error_page(request, 400, "error_title",
                              i18n.translate("error_400", lang, message=i18n.translate("error_400_detail", lang)))
    return _finish(request, response)


def _finish(request: Request, response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    write_session(request, response)
    chosen = i18n.pick_lang(request.query_params.get("lang"))
    if chosen is not None and chosen != request.cookies.get(LANG_COOKIE):
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 24 * 3600, path="/", httponly=True,
                            samesite="lax", secure=cookie_secure(request))
    return response


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    params = {"next": target}
    if getattr(request.state, "session_ended", False):
        params["expired"] = "1"
    return redirect(f"/login?{urlencode(params)}")


class WebRoute(APIRoute):
    """An APIRoute whose failures become HTML pages with the security headers and the session cookie."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            lang = lang_of(request)
            try:
                response = await original(request)
            except LoginRequired:
                response = _login_redirect(request)
            except CsrfError:
                response = error_page(request, 403, "error_csrf_title", i18n.translate("error_csrf", lang))
            except WebForbidden as exc:
                principal = getattr(request.state, "web_principal", None)
                role = i18n.label("role", principal.role if principal else None, lang)
                response = error_page(request, 403, "error_403_title",
                                      i18n.translate(exc.message_key, lang, role=role))
            except NotFoundError:
                response = error_page(request, 404, "error_404_title", i18n.translate("error_404", lang))
            except (StoreError, ModelError):
                response = error_page(request, 503, "error_title", i18n.translate("error_503", lang))
                response.headers["Retry-After"] = "5"
            except RequestValidationError:
                response = error_page(request, 400, "error_title",
                                      i18n.translate("error_400", lang, message=i18n.translate("error_400_detail", lang)))
            except RiskscoreError as exc:
                response = error_page(request, exc.http_status if 400 <= exc.http_status < 500 else 400,
                                      "error_title", i18n.translate("error_400", lang, message=str(exc)))
            except Exception as exc:
                from riskscore.service.logs import get_logger

                rid = getattr(request.state, "request_id", None) or "-"
                get_logger().error("web page failed", exc_info=exc,
                                   extra={"event": "web_unhandled", "request_id": rid})
                response = error_page(request, 500, "error_title", i18n.translate("error_500", lang, rid=rid))
            return _finish(request, response)

        return handler

