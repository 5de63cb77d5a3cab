/** Cloudflare: strict TLS to the origin, modern TLS at the edge, the managed WAF, proxied records. */
import { MANAGED_RULESETS } from "../components/managedRulesets";
import {
    CLOUDFLARE_DNS_RECORD_TYPE, CLOUDFLARE_PHASE, CLOUDFLARE_RULE_ACTION, CLOUDFLARE_TLS_VERSIONS, CLOUDFLARE_ZONE_SETTING,
} from "../components/providerValues";
import { ofType, Props, resourcePolicy, stackPolicy } from "./policyKit";

const ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting";
const RULESET = "cloudflare:index/ruleset:Ruleset";
const { ssl: SSL, minTlsVersion: MIN_TLS, alwaysUseHttps: ALWAYS_HTTPS } = CLOUDFLARE_ZONE_SETTING;
const MANAGED_PHASE = CLOUDFLARE_PHASE.firewallManaged;

function executes(resources: Parameters<typeof ofType>[0], id: string): boolean {
    return ofType(resources, RULESET).some((r) => r.props.phase === MANAGED_PHASE
        && (r.props.rules ?? []).some((rule: Props) => rule.action === CLOUDFLARE_RULE_ACTION.execute && rule.actionParameters?.id === id && rule.enabled !== false));
}

/** The zone-wide settings live in the stack that owns the zone; a stack without them is not checked. */
function ownsZone(resources: Parameters<typeof ofType>[0]): boolean {
    return ofType(resources, ZONE_SETTING).length > 0;
}

/** The stack owning the zone must execute this managed ruleset in the managed WAF phase. */
function managedRulesetPolicy(name: string, ruleset: string, id: string) {
    return stackPolicy({
        name,
        description: `Checks that the stack owning the zone executes the ${ruleset} in ${MANAGED_PHASE}.`,
        severity: "high",
        remediationSteps: `Add an execute rule for ${id} to the Ruleset in phase ${MANAGED_PHASE}.`,
        check: (resources) => (!ownsZone(resources) || executes(resources, id)) ? []
            : [{ message: `no ruleset executes the ${ruleset} (${id}); add it to the managed WAF phase.` }],
    });
}

export const cloudflarePolicies = [
    resourcePolicy({
        name: "cloudflare-zonesetting-enforce-ssl-strict",
        description: "Checks that the zone's SSL mode is Full (strict), so Cloudflare validates the origin's certificate.",
        severity: "critical",
        remediationSteps: `Set the ${SSL.id} zone setting to "${SSL.strict}" and install an Origin CA certificate on the origin.`,
        types: [ZONE_SETTING],
        check: (p) => (p.settingId === SSL.id && p.value !== SSL.strict ? `${SSL.id} is ${JSON.stringify(p.value)}; set it to "${SSL.strict}".` : undefined),
    }),
    resourcePolicy({
        name: "cloudflare-zonesetting-enforce-min-tls",
        description: "Checks that the zone's minimum TLS version is 1.2 or later.",
        severity: "high",
        remediationSteps: `Set the ${MIN_TLS.id} zone setting to "${MIN_TLS.tls12}".`,
        types: [ZONE_SETTING],
        check: (p) => (p.settingId === MIN_TLS.id && CLOUDFLARE_TLS_VERSIONS.indexOf(String(p.value)) < CLOUDFLARE_TLS_VERSIONS.indexOf(MIN_TLS.tls12)
            ? `${MIN_TLS.id} is ${JSON.stringify(p.value)}; set it to "${MIN_TLS.tls12}".` : undefined),
    }),
    stackPolicy({
        name: "cloudflare-zone-enable-always-https",
        description: "Checks that the stack owning the zone turns always_use_https on.",
        severity: "medium",
        remediationSteps: `Add the zone setting ${ALWAYS_HTTPS.id} = "${ALWAYS_HTTPS.on}".`,
        check: (resources) => (!ownsZone(resources) || ofType(resources, ZONE_SETTING).some((r) => r.props.settingId === ALWAYS_HTTPS.id && r.props.value === ALWAYS_HTTPS.on))
            ? [] : [{ message: `the zone's ${ALWAYS_HTTPS.id} is not on; add the zone setting ${ALWAYS_HTTPS.id} = "${ALWAYS_HTTPS.on}".` }],
    }),
    managedRulesetPolicy("cloudflare-ruleset-enable-owasp", "OWASP Core Ruleset", MANAGED_RULESETS.owaspCore),
    managedRulesetPolicy("cloudflare-ruleset-enable-managed", "Cloudflare Managed Ruleset", MANAGED_RULESETS.cloudflareManaged),
    resourcePolicy({
        name: "cloudflare-dnsrecord-enforce-proxied",
        description: "Checks that A, AAAA and CNAME records are proxied, so traffic goes through the WAF and the origin stays hidden.",
        severity: "high",
        remediationSteps: "Set proxied: true (and ttl: 1) on the record.",
        types: ["cloudflare:index/dnsRecord:DnsRecord"],
        check: (p) => ([CLOUDFLARE_DNS_RECORD_TYPE.a, "AAAA", CLOUDFLARE_DNS_RECORD_TYPE.cname].includes(p.type) && p.proxied !== true
            ? `${p.type} record ${p.name} is not proxied; set proxied: true.` : undefined),
    }),
];
