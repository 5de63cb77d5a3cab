/** Cloudflare: strict TLS to the origin, modern TLS at the edge, the managed WAF, proxied records. */
import { MANAGED_RULESETS } from "../components/managedRulesets";
import { ofType, Props, resourcePolicy, stackPolicy } from "./policyKit";

const ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting";
const RULESET = "cloudflare:index/ruleset:Ruleset";
const TLS_VERSIONS = ["1.0", "1.1", "1.2", "1.3"];

function executes(resources: Parameters<typeof ofType>[0], id: string): boolean {
    return ofType(resources, RULESET).some((r) => r.props.phase === "http_request_firewall_managed"
        && (r.props.rules ?? []).some((rule: Props) => rule.action === "execute" && rule.actionParameters?.id === id && rule.enabled !== false));
}

/** The zone-wide settings live in the stack that owns the zone; a stack without them is not checked. */
function ownsZone(resources: Parameters<typeof ofType>[0]): boolean {
    return ofType(resources, ZONE_SETTING).length > 0;
}

/** The stack owning the zone must execute this managed ruleset in the managed WAF phase. */
function managedRulesetPolicy(name: string, ruleset: string, id: string) {
    return stackPolicy({
        name,
        description: `Checks that the stack owning the zone executes the ${ruleset} in http_request_firewall_managed.`,
        severity: "high",
        remediationSteps: `Add an execute rule for ${id} to the Ruleset in phase http_request_firewall_managed.`,
        check: (resources) => (!ownsZone(resources) || executes(resources, id)) ? []
            : [{ message: `no ruleset executes the ${ruleset} (${id}); add it to the managed WAF phase.` }],
    });
}

export const cloudflarePolicies = [
    resourcePolicy({
        name: "cloudflare-zonesetting-enforce-ssl-strict",
        description: "Checks that the zone's SSL mode is Full (strict), so Cloudflare validates the origin's certificate.",
        severity: "critical",
        remediationSteps: "Set the ssl zone setting to \"strict\" and install an Origin CA certificate on the origin.",
        types: [ZONE_SETTING],
        check: (p) => (p.settingId === "ssl" && p.value !== "strict" ? `ssl is ${JSON.stringify(p.value)}; set it to "strict".` : undefined),
    }),
    resourcePolicy({
        name: "cloudflare-zonesetting-enforce-min-tls",
        description: "Checks that the zone's minimum TLS version is 1.2 or later.",
        severity: "high",
        remediationSteps: "Set the min_tls_version zone setting to \"1.2\".",
        types: [ZONE_SETTING],
        check: (p) => (p.settingId === "min_tls_version" && TLS_VERSIONS.indexOf(String(p.value)) < TLS_VERSIONS.indexOf("1.2")
            ? `min_tls_version is ${JSON.stringify(p.value)}; set it to "1.2".` : undefined),
    }),
    stackPolicy({
        name: "cloudflare-zone-enable-always-https",
        description: "Checks that the stack owning the zone turns always_use_https on.",
        severity: "medium",
        remediationSteps: "Add the zone setting always_use_https = \"on\".",
        check: (resources) => (!ownsZone(resources) || ofType(resources, ZONE_SETTING).some((r) => r.props.settingId === "always_use_https" && r.props.value === "on"))
            ? [] : [{ message: "the zone's always_use_https is not on; add the zone setting always_use_https = \"on\"." }],
    }),
    managedRulesetPolicy("cloudflare-ruleset-enable-owasp", "OWASP Core Ruleset", MANAGED_RULESETS.owaspCore),
    managedRulesetPolicy("cloudflare-ruleset-enable-managed", "Cloudflare Managed Ruleset", MANAGED_RULESETS.cloudflareManaged),
    resourcePolicy({
        name: "cloudflare-dnsrecord-enforce-proxied",
        description: "Checks that A, AAAA and CNAME records are proxied, so traffic goes through the WAF and the origin stays hidden.",
        severity: "high",
        remediationSteps: "Set proxied: true (and ttl: 1) on the record.",
        types: ["cloudflare:index/dnsRecord:DnsRecord"],
        check: (p) => (["A", "AAAA", "CNAME"].includes(p.type) && p.proxied !== true
            ? `${p.type} record ${p.name} is not proxied; set proxied: true.` : undefined),
    }),
];
