"""A schemathesis check for the two-tenant fuzz run (tests/test_fuzz_tenants.py): a successful answer
to one tenant's caller never names a pupil or case of the other tenant. The other tenant's ids come from
the environment (RISKSCORE_FUZZ_FORBIDDEN, comma-separated), set per run by the test."""

from __future__ import annotations

import os
from typing import Any

import schemathesis


@schemathesis.check
def no_other_tenant_in_the_answer(ctx: Any, response: Any, case: Any) -> bool | None:
    if not 200 <= response.status_code < 300:
        return None
    text = response.text or ""
    leaked = [i for i in os.environ.get("RISKSCORE_FUZZ_FORBIDDEN", "").split(",") if i and i in text]
    if leaked:
        raise AssertionError(f"the answer names the other tenant's pupils {leaked}")
    return None
