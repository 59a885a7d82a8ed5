"""Schemathesis hooks for the simulator runs: the real controller answers every server error
with an ApiCallRc list (`R/utils/ApiCallRcRestUtils.java`, `R/config/GrizzlyHttpService.java`
`LinstorMapper`), so a 5xx without one is a failure."""

import json

import schemathesis


@schemathesis.check
def apicallrc_on_5xx(ctx, response, case):
    if response.status_code < 500:
        return None
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        raise AssertionError(f"{response.status_code} without a JSON body")
    ok = isinstance(body, list) and body and all(
        isinstance(e, dict) and isinstance(e.get("ret_code"), int) and isinstance(e.get("message"), str)
        for e in body
    )
    if not ok:
        raise AssertionError(f"{response.status_code} without an ApiCallRc list: {str(body)[:200]}")
    return None
