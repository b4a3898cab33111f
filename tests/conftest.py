"""Shared fixtures. PostgreSQL tests run when RISKSCORE_TEST_POSTGRES_URL is set (CI sets it, and
RISKSCORE_REQUIRE_POSTGRES=1 turns a missing server into a failure instead of a skip)."""

from __future__ import annotations

import os
import shutil

import pytest


def _require(flag: str) -> bool:
    return os.environ.get(flag, "") == "1"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("RISKSCORE_TEST_POSTGRES_URL", "")
    if not url:
        if _require("RISKSCORE_REQUIRE_POSTGRES"):
            pytest.fail("RISKSCORE_TEST_POSTGRES_URL is not set but RISKSCORE_REQUIRE_POSTGRES=1")
        pytest.skip("no PostgreSQL (set RISKSCORE_TEST_POSTGRES_URL; .ci/run does)")
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = "/usr/bin/chromium"
    if not shutil.which(path):
        if _require("RISKSCORE_REQUIRE_BROWSER"):
            pytest.fail("/usr/bin/chromium missing but RISKSCORE_REQUIRE_BROWSER=1")
        pytest.skip("Debian chromium not installed (make system-deps)")
    return path
