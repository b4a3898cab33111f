"""A real, certified OpenID Connect provider for the sign-in tests: panva's `oidc-provider` from the npm
registry (tests/oidc/package.json, pinned by its lock file, installed on first use like axe-core), run by
node on a free loopback port with riskscore's client and custom claims. Its development login pages are a
real HTML form; `authorize` fills it in as a browser would (no part of the protocol is mocked)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from conftest import free_port

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
PROVIDER_JS = OIDC_DIR / "provider.mjs"
INSTALLED = OIDC_DIR / "node_modules" / "oidc-provider" / "package.json"
CLIENT_ID = "riskscore"
CLIENT_SECRET = "riskscore-test-client-secret-0123456789"
OTHER_CLIENT_ID = "other-app"  # another application at the same provider (for the audience test)
OTHER_CLIENT_SECRET = "other-app-test-client-secret-0123456789"


def ensure_installed() -> str:
    """node, with oidc-provider installed into tests/oidc (npm ci from the lock file when missing)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    required = os.environ.get("RISKSCORE_REQUIRE_BROWSER") == "1" or os.environ.get("CI") == "true"
    if node is None or npm is None:
        if required:
            pytest.fail("node/npm missing: cannot run the OpenID provider for the sign-in tests")
        pytest.skip("node/npm missing (needed to run the OpenID provider)")
    if not INSTALLED.is_file():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=OIDC_DIR, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0 and INSTALLED.is_file(), done.stderr[-2000:]
    return node


@dataclass(frozen=True)
class Provider:
    issuer: str
    log: Path

    @property
    def discovery(self) -> dict[str, Any]:
        return httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=5).json()


@contextlib.contextmanager
def running_provider(tmp: Path, *, redirect_uris: list[str], accounts: dict[str, dict[str, Any]]) -> Iterator[Provider]:
    """oidc-provider on a free loopback port, with riskscore's client (and another one) allowed to use
    these redirect URIs, and these accounts (login → claims). Stopped afterwards."""
    node = ensure_installed()
    port = free_port()
    config = tmp / "oidc-provider.json"
    config.write_text(json.dumps({"port": port, "accounts": accounts, "clients": [
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": redirect_uris},
        {"client_id": OTHER_CLIENT_ID, "client_secret": OTHER_CLIENT_SECRET, "redirect_uris": redirect_uris}]}))
    log = tmp / "oidc-provider.log"
    with log.open("w") as out:
        proc = subprocess.Popen([node, str(PROVIDER_JS), str(config)], stdout=out, stderr=subprocess.STDOUT,
                                cwd=OIDC_DIR)
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while "READY" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the OpenID provider did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield Provider(issuer=issuer, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def oidc_env(provider: Provider, *, redirect_uri: str = "", roles_from_claims: bool = False) -> dict[str, str]:
    """The RISKSCORE_OIDC_* settings for riskscore as a client of this provider."""
    env = {"RISKSCORE_OIDC_ISSUER": provider.issuer, "RISKSCORE_OIDC_CLIENT_ID": CLIENT_ID,
           "RISKSCORE_OIDC_CLIENT_SECRET": CLIENT_SECRET, "RISKSCORE_OIDC_SCOPES": "openid profile email riskscore",
           "RISKSCORE_OIDC_PROVIDER_NAME": "Testinstelling"}
    if redirect_uri:
        env["RISKSCORE_OIDC_REDIRECT_URI"] = redirect_uri
    if roles_from_claims:
        env["RISKSCORE_OIDC_ROLES_FROM_CLAIMS"] = "true"
    return env


def _form(html: str, base: str) -> tuple[str, dict[str, str]]:
    """The first form's absolute action and its named inputs with their values."""
    form = re.search(r"<form\b([^>]*)>(.*?)</form>", html, flags=re.S | re.I)
    assert form, f"no form on the provider's page: {html[:500]}"
    action = re.search(r'action="([^"]*)"', form.group(1))
    assert action
    fields = {}
    for tag in re.findall(r"<input\b[^>]*>", form.group(2), flags=re.I):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = unescape(value.group(1)) if value else ""
    return urljoin(base, unescape(action.group(1))), fields


def provider_login(idp: httpx.Client, authorize_url: str, login: str) -> str:
    """As a browser at the provider: open the authorization URL, fill in the login form, follow the
    redirects; returns the URL the provider sends the browser back to (riskscore's callback)."""
    url = authorize_url
    for _ in range(12):
        r = idp.get(url)
        if r.status_code in (302, 303):
            url = urljoin(url, r.headers["location"])
            if urlsplit(url).netloc != urlsplit(authorize_url).netloc:
                return url  # back to the client
            continue
        assert r.status_code == 200, (r.status_code, r.text[:500])
        action, fields = _form(r.text, url)
        assert "login" in fields and "password" in fields, fields
        fields.update(login=login, password="any password")
        r = idp.post(action, data=fields)
        assert r.status_code in (302, 303), (r.status_code, r.text[:500])
        url = urljoin(action, r.headers["location"])
    raise AssertionError("the provider never sent the browser back")


def start_flow(rs: Any, path: str = "/login/start") -> str:
    """riskscore's redirect to the provider (the authorization URL)."""
    r = rs.get(path, follow_redirects=False)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    return str(r.headers["location"])


def callback_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"
