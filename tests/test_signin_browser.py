"""Issue 21's done-when, in a real browser: a person signs in through the real OpenID provider's login
form (panva's oidc-provider, tests/oidc_support.py) in Debian's chromium, sees only their own school on
the worklist, signs out, and the old session cookie — put back into the browser — is refused."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import free_port, running_server
from oidc_support import oidc_env, running_provider
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.users import create_user
from riskscore.web.auth import SESSION_COOKIE
from test_api import build_bundle
from test_web import _seed

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SECRET = "browser-signin-session-secret-0123456789ab"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("signin-browser")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        _seed(session)  # pupils of schools 01AB, 01AC and 02CD
        create_user(session, display_name="Mentor Anne de Vries", email="anne@school.example", role="school",
                    scope_kind="school", scope_values=["01AB"])
    engine.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    accounts = {"anne": {"name": "Anne de Vries", "email": "anne@school.example", "email_verified": True}}
    with running_provider(home, redirect_uris=[f"{base}/login/callback"], accounts=accounts) as provider:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RISKSCORE_")}
        env.update(RISKSCORE_HOME=str(home), RISKSCORE_SESSION_SECRET=SECRET, **oidc_env(provider))
        bundle = build_bundle(home / "bundle")
        with running_server(["--bundle", str(bundle), "--database-url", url], env=env, log_path=home / "server.log",
                            port=port) as served_base:
            yield {"base": served_base, "provider": provider}


def test_a_person_signs_in_through_the_provider_sees_their_scope_and_signs_out(served: dict[str, Any],
                                                                            chromium: Any) -> None:
    from playwright.sync_api import expect

    base, provider = served["base"], served["provider"]
    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{base}/worklist")
    assert page.url.startswith(f"{base}/login")
    page.get_by_role("link", name="Aanmelden via Testinstelling").click()
    # the provider's own login form
    page.wait_for_url(f"{provider.issuer}/**")
    page.locator("input[name=login]").fill("anne")
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.wait_for_url(f"{base}/worklist")
    expect(page.get_by_role("heading", level=1)).to_have_text("Werklijst")
    expect(page.locator("header")).to_contain_text("Aangemeld als Mentor Anne de Vries")
    pupils = page.locator("table.worklist tbody tr").evaluate_all("rows => rows.map(r => r.dataset.student)")
    assert sorted(pupils) == ["W-A1", "W-A2"]  # school 01AB only: not 01AC's W-A3, not 02CD's W-B1
    cookie = next(c for c in context.cookies() if c["name"] == SESSION_COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["expires"] == -1  # ends with the browser
    assert not any(c["name"] == "riskscore_login" for c in context.cookies())
    assert page.goto(f"{base}/students/W-B1").status == 404  # another school's pupil does not exist for her
    page.goto(f"{base}/worklist")
    # sign out; then put the old cookie back: refused
    page.get_by_role("button", name="Afmelden").click()
    page.wait_for_url(f"{base}/login?logged_out=1")
    expect(page.get_by_role("status")).to_contain_text("U bent afgemeld")
    context.add_cookies([{**cookie, "sameSite": "Lax"}])
    page.goto(f"{base}/worklist")
    assert page.url.startswith(f"{base}/login")
    assert page.goto(f"{base}/students/W-A1").url.startswith(f"{base}/login")
    context.close()
