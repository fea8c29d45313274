"""CloudflareEdge: the zone, its TLS settings, cache rules on ADR-011's tiers, tiered cache, WAF,
rate limits and the caching Worker.

Config in (CloudflareEdgeArgs), resources out. The Cloudflare provider (API token) comes from the
stack's `cloudflare:apiToken` through the default provider or `opts`; this component builds none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from components.cdn.cache_rules import CacheRule, render_cache_rules
from components.cdn.worker_module import WORKER_MAIN_MODULE, worker_bindings, worker_source
from stackconfig.cloudflare_plans import capabilities
from stackconfig.config import CdnConfig, origin_in_zone

# Cloudflare's managed WAF rulesets (fixed ids, the same in every account).
CLOUDFLARE_MANAGED_RULESET_ID = "efb7b8c949ac4650a09736fc376e9aee"
OWASP_CORE_RULESET_ID = "4814384a9e5d4991b9815dcfc25d2f1f"
WORKER_COMPATIBILITY_DATE = "2025-09-01"

ZONE_SETTINGS: dict[str, str] = {
    "always_use_https": "on",
    "min_tls_version": "1.2",
    "tls_1_3": "on",
    "http3": "on",
    "early_hints": "on",
}
"""Zone settings the edge enforces (ADR-011: security and performance at the edge). Not `brotli`:
the setting is deprecated, Brotli is on by default (stackconfig/cloudflare_plans.py)."""


@dataclass(frozen=True)
class CloudflareEdgeArgs:
    """Inputs of CloudflareEdge."""

    settings: CdnConfig
    """The `cache-platform:cdn` config: zone, account, origin, tiers, paths, rate limits."""
    environment: str
    """Stack environment; names the Worker script so dev and prod never share one."""


def _cache_rule_args(rule: CacheRule) -> cloudflare.RulesetRuleArgs:
    if rule.tier is None or rule.zone_edge_ttl is None:
        # Bypass, or a tier under the plan's minimum edge TTL: the zone cache leaves it to the
        # Worker's Cache API, which holds the tier's TTL whatever the plan.
        parameters = cloudflare.RulesetRuleActionParametersArgs(cache=False)
    else:
        browser_ttl = (
            cloudflare.RulesetRuleActionParametersBrowserTtlArgs(
                mode="override_origin", default=rule.zone_browser_ttl
            )
            if rule.zone_browser_ttl is not None
            else cloudflare.RulesetRuleActionParametersBrowserTtlArgs(mode="respect_origin")
        )
        parameters = cloudflare.RulesetRuleActionParametersArgs(
            cache=True,
            edge_ttl=cloudflare.RulesetRuleActionParametersEdgeTtlArgs(
                mode="override_origin", default=rule.zone_edge_ttl
            ),
            browser_ttl=browser_ttl,
            # Serve the stale copy while one request refreshes it (origin shield under spikes).
            serve_stale=cloudflare.RulesetRuleActionParametersServeStaleArgs(
                disable_stale_while_updating=False
            ),
            cache_key=cloudflare.RulesetRuleActionParametersCacheKeyArgs(
                ignore_query_strings_order=True
            ),
        )
    return cloudflare.RulesetRuleArgs(
        ref=rule.name,
        description=rule.description,
        expression=rule.expression,
        action="set_cache_settings",
        action_parameters=parameters,
        enabled=True,
    )


def proxied_hostnames(settings: CdnConfig) -> tuple[str, ...]:
    """Every name the edge proxies: the apex, www and, when it lies in the zone, the origin."""
    assert settings.zone_name and settings.origin_host, "validated by the config loader"
    names = [settings.zone_name, f"www.{settings.zone_name}"]
    if origin_in_zone(settings) and settings.origin_host not in names:
        names.append(settings.origin_host)
    return tuple(names)


def _prefix_expression(paths: tuple[str, ...]) -> str:
    return " or ".join(f'starts_with(http.request.uri.path, "{path}")' for path in paths)


class CloudflareEdge(pulumi.ComponentResource):
    """The Cloudflare edge of the caching tier."""

    zone_id: pulumi.Output[str]
    """Id of the managed (or adopted) zone."""
    worker_script_name: pulumi.Output[str]
    """Name of the caching Worker script."""
    name_servers: pulumi.Output[Sequence[str]]
    """Name servers to delegate the domain to (empty when an existing zone was adopted)."""

    def __init__(
        self, name: str, args: CloudflareEdgeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cache-platform:cdn:CloudflareEdge", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        assert settings.zone_name and settings.account_id and settings.origin_host, (
            "validated by the config loader"
        )

        plan = capabilities(settings.plan.value)

        name_servers: pulumi.Output[Sequence[str]]
        if settings.zone_id is None:
            zone = cloudflare.Zone(
                f"{name}-zone",
                account=cloudflare.ZoneAccountArgs(id=settings.account_id),
                name=settings.zone_name,
                type="full",
                opts=pulumi.ResourceOptions(parent=self, protect=True),
            )
            zone_id: pulumi.Output[str] = zone.id
            name_servers = zone.name_servers
            if plan.zone_subscription:
                # A new zone starts on Free; Free has no core subscription to manage.
                cloudflare.ZoneSubscription(
                    f"{name}-plan",
                    zone_id=zone_id,
                    frequency="monthly",
                    rate_plan=cloudflare.ZoneSubscriptionRatePlanArgs(id=settings.plan.value),
                    opts=child,
                )
        else:
            zone_id = pulumi.Output.from_input(settings.zone_id)
            name_servers = pulumi.Output.from_input(list[str]())

        hostnames = proxied_hostnames(settings)
        if origin_in_zone(settings):
            assert settings.origin_address is not None, "validated by the config loader"
            cloudflare.DnsRecord(
                f"{name}-dns-origin",
                zone_id=zone_id,
                name=settings.origin_host,
                type="AAAA" if ":" in settings.origin_address else "A",
                content=settings.origin_address,
                # Proxied, so the origin's address is never published in DNS.
                proxied=True,
                ttl=1,
                comment="cache-platform: the origin the proxied names point to",
                opts=child,
            )
        for record, record_name in (
            ("apex", settings.zone_name),
            ("www", f"www.{settings.zone_name}"),
        ):
            cloudflare.DnsRecord(
                f"{name}-dns-{record}",
                zone_id=zone_id,
                name=record_name,
                type="CNAME",
                content=settings.origin_host,
                proxied=True,
                ttl=1,  # automatic: required for proxied records
                comment="cache-platform: proxied through the edge cache",
                opts=child,
            )

        for setting_id, value in ZONE_SETTINGS.items():
            cloudflare.ZoneSetting(
                f"{name}-{setting_id.replace('_', '-')}",
                zone_id=zone_id,
                setting_id=setting_id,
                value=value,
                opts=child,
            )

        def entry_point(phase: str) -> pulumi.ResourceOptions:
            # One entry-point ruleset per phase and zone: an adopted zone's is imported. The id
            # is `zones/<zone id>/<ruleset id>` in pulumi-cloudflare v6 (Terraform v5 schema;
            # v4 used `zone/...`).
            existing = settings.entry_point_rulesets.get(phase)
            if settings.zone_id is None or existing in (None, "none"):
                return child
            return pulumi.ResourceOptions(
                parent=self, import_=f"zones/{settings.zone_id}/{existing}"
            )

        rules = render_cache_rules(settings)
        cloudflare.Ruleset(
            f"{name}-cache-rules",
            zone_id=zone_id,
            name="cache-platform cache rules",
            description="ADR-011 TTL tiers (short/medium/long) and bypasses",
            kind="zone",
            phase="http_request_cache_settings",
            rules=[_cache_rule_args(rule) for rule in rules],
            opts=entry_point("http_request_cache_settings"),
        )

        # The ADR's origin shield: smart tiered cache sends misses through upper-tier data
        # centres, so the origin sees one request per upper tier instead of one per edge.
        cloudflare.TieredCache(f"{name}-tiered-cache", zone_id=zone_id, value="on", opts=child)
        cloudflare.ArgoTieredCaching(
            f"{name}-argo-tiered-caching", zone_id=zone_id, value="on", opts=child
        )

        if settings.managed_waf:
            cloudflare.Ruleset(
                f"{name}-waf",
                zone_id=zone_id,
                name="cache-platform managed WAF",
                description="Cloudflare Managed Ruleset and OWASP Core Ruleset",
                kind="zone",
                phase="http_request_firewall_managed",
                rules=[
                    cloudflare.RulesetRuleArgs(
                        ref="cloudflare-managed",
                        description="Cloudflare Managed Ruleset",
                        expression="true",
                        action="execute",
                        action_parameters=cloudflare.RulesetRuleActionParametersArgs(
                            id=CLOUDFLARE_MANAGED_RULESET_ID
                        ),
                        enabled=True,
                    ),
                    cloudflare.RulesetRuleArgs(
                        ref="owasp-core",
                        description="OWASP Core Ruleset",
                        expression="true",
                        action="execute",
                        action_parameters=cloudflare.RulesetRuleActionParametersArgs(
                            id=OWASP_CORE_RULESET_ID
                        ),
                        enabled=True,
                    ),
                ],
                opts=entry_point("http_request_firewall_managed"),
            )

        api_paths = tuple(
            path
            for path in (*settings.medium_paths, *settings.short_paths)
            if path.startswith("/api")
        ) or ("/api/",)
        rate_limits = (
            (
                "login",
                "Login attempts per IP",
                settings.login_paths,
                settings.login_requests_per_minute,
            ),
            ("api", "API requests per IP", api_paths, settings.api_requests_per_minute),
        )
        period = settings.rate_limit_period
        cloudflare.Ruleset(
            f"{name}-rate-limits",
            zone_id=zone_id,
            name="cache-platform rate limits",
            description="Per-IP limits on login and API paths",
            kind="zone",
            phase="http_ratelimit",
            rules=[
                cloudflare.RulesetRuleArgs(
                    ref=ref,
                    description=description,
                    expression=_prefix_expression(paths),
                    action="block",
                    ratelimit=cloudflare.RulesetRuleRatelimitArgs(
                        characteristics=["ip.src", "cf.colo.id"],
                        period=period,
                        requests_per_period=max(1, math.ceil(per_minute * period / 60)),
                        mitigation_timeout=settings.rate_limit_mitigation_timeout,
                    ),
                    enabled=True,
                )
                for ref, description, paths, per_minute in rate_limits
            ],
            opts=entry_point("http_ratelimit"),
        )

        script_name = f"cache-platform-edge-{args.environment}"
        script = cloudflare.WorkersScript(
            f"{name}-worker",
            account_id=settings.account_id,
            script_name=script_name,
            content=worker_source(),
            main_module=WORKER_MAIN_MODULE,
            compatibility_date=WORKER_COMPATIBILITY_DATE,
            bindings=[
                cloudflare.WorkersScriptBindingArgs(name=key, type="plain_text", text=value)
                for key, value in sorted(worker_bindings(settings).items())
            ],
            opts=child,
        )
        # Every proxied name runs the Worker, or that name would bypass the ADR's tiers.
        for hostname in hostnames:
            cloudflare.WorkersRoute(
                f"{name}-worker-route"
                if hostname == settings.zone_name
                else f"{name}-worker-route-{hostname.removesuffix('.' + settings.zone_name)}",
                zone_id=zone_id,
                pattern=f"{hostname}/*",
                script=script.script_name,
                opts=child,
            )

        self.zone_id = zone_id
        self.worker_script_name = script.script_name
        self.name_servers = name_servers
        self.register_outputs(
            {
                "zone_id": self.zone_id,
                "worker_script_name": self.worker_script_name,
                "name_servers": self.name_servers,
            }
        )
