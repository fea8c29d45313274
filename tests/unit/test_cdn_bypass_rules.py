"""The zone's bypass rule matches what the Worker bypasses, however the client spells it."""

from __future__ import annotations

import json

from components.cdn.cache_rules import bypass_expression, render_cache_rules
from components.cdn.worker_module import default_worker_bindings
from stackconfig.config import CdnConfig


def test_authorization_header_name_is_lower_cased_as_cloudflare_documents() -> None:
    # Header names keep the client's case in http.request.headers.names: `Authorization` would not
    # equal "authorization" without lower().
    expression = bypass_expression(CdnConfig())
    assert 'any(lower(http.request.headers.names[*])[*] == "authorization")' in expression
    assert 'any(http.request.headers.names[*] == "authorization")' not in expression


def test_bypass_prefixes_match_the_decoded_lower_cased_path() -> None:
    expression = bypass_expression(CdnConfig(bypass_paths=("/Cart",)))
    assert 'starts_with(lower(url_decode(http.request.uri.path)), "/cart")' in expression
    assert "starts_with(http.request.uri.path," not in expression


def test_auth_and_login_paths_are_bypassed_by_default_at_the_edge_and_in_the_worker() -> None:
    bypass_rule = next(rule for rule in render_cache_rules(CdnConfig()) if rule.tier is None)
    worker_bypass = json.loads(default_worker_bindings()["BYPASS_PATHS"])
    for path in ("/api/auth", "/login"):
        assert f'"{path}"' in bypass_rule.expression
        assert path in worker_bypass


def test_the_worker_knows_which_paths_are_public_and_api_as_a_whole_is_not() -> None:
    public = json.loads(default_worker_bindings()["PUBLIC_PATHS"])
    assert "/products" in public and "/api/prices" in public
    assert not any(prefix in ("/api", "/api/") for prefix in public)
