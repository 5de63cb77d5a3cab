/**
 * The load balancer in front of the backend fleet (components/loadBalancer.ts) and the fleet
 * itself: HTTPS only, a current TLS policy, invalid headers dropped, reachable from Cloudflare
 * only (so nothing gets around the WAF), and, in production, hosts in more than one zone.
 */
import { PolicyResource } from "@pulumi/policy";
import { AWS_LB } from "../components/providerValues";
import { CLOUDFLARE_RANGES, ingressRules, INGRESS_TYPES, SECURITY_GROUP_TYPES } from "./aws";
import { parseCidr, withinAny } from "./addresses";
import { nameOf, ofType, PreviewReads, Props, resourcePolicy, stackPolicy, UNKNOWN } from "./policyKit";

/** The provider's tokens for ELBv2 (`aws.lb`), and the same resources under their `aws.alb` alias tokens. */
export const LOAD_BALANCER_TYPES = ["aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"];
export const LISTENER_TYPES = ["aws:lb/listener:Listener", "aws:alb/listener:Listener"];
const INSTANCE = "aws:ec2/instance:Instance";

/**
 * The provider values the program uses (components/providerValues.ts, with their sources), and
 * what the provider does when one is left out (`@pulumi/aws` 7.48.0 docs, node_modules/@pulumi/aws
 * lb/loadBalancer.d.ts, lb/listener.d.ts, types/input.d.ts): `loadBalancerType` "The default value
 * is `application`"; `internal` "Defaults to `false`" (internet-facing); `dropInvalidHeaderFields`
 * "The default is false"; a listener's `protocol` "For Application Load Balancers ... a default of
 * `HTTP`"; `sslPolicy` "Default is `ELBSecurityPolicy-2016-08`"; a redirect's `protocol` "Defaults
 * to `#{protocol}`" (the request's own, so an HTTP listener redirects to HTTP). "TLS" is a
 * Network Load Balancer listener's encrypted protocol.
 */
const LB = {
    application: AWS_LB.loadBalancerType.application,
    https: AWS_LB.protocol.https,
    http: AWS_LB.protocol.http,
    tls: "TLS",
    redirect: AWS_LB.actionType.redirect,
} as const;

/** AWS's recommended policy for HTTPS listeners (the program's, components/loadBalancer.ts). */
export const RECOMMENDED_SSL_POLICY: string = AWS_LB.sslPolicy.tls13And12;

/**
 * The security policies an HTTPS listener may use: TLS 1.3 with TLS 1.2, or TLS 1.3 only, and
 * none of the cipher suites kept for legacy clients. From AWS's "Security policies for your
 * Application Load Balancer" (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html,
 * read 2026-11-27): `ELBSecurityPolicy-TLS13-1-2-2021-06` is the policy AWS recommends (TLS 1.3,
 * backwards compatible with TLS 1.2); `-Res-` restricts TLS 1.2 to forward-secret AEAD suites;
 * `TLS13-1-3` is TLS 1.3 only; the `-FIPS-2023-04` and post-quantum `-PQ-2025-09` policies are
 * the same protocol ranges with FIPS / hybrid post-quantum key exchange. Left out: every
 * `-Ext0/-Ext1/-Ext2-` policy (TLS 1.2 extended with older suites for legacy clients), the
 * `TLS13-1-0`/`TLS13-1-1` policies (TLS 1.0/1.1), and the pre-2021 policies, among them
 * `ELBSecurityPolicy-2016-08`, which AWS applies when a listener is created through the API
 * without a policy (same page: "Other methods ... The default security policy is ELBSecurityPolicy-2016-08").
 */
export const ALLOWED_SSL_POLICIES: readonly string[] = [
    RECOMMENDED_SSL_POLICY, "ELBSecurityPolicy-TLS13-1-2-Res-2021-06", "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09",
];

/** The tag the fleet's hosts carry (components/backendFleet.ts). */
export const FLEET_ROLE_TAG = { key: "Role", value: "backend" } as const;

/** Whether a load balancer is an application load balancer (the provider's default type). */
const isApplication = (p: Props) => (p.loadBalancerType ?? LB.application) === LB.application;

const listOf = (value: unknown): unknown[] => (Array.isArray(value) ? value : value === undefined || value === null ? [] : [value]);

/** A listener's protocol, as AWS reads it (HTTP when unset). */
const protocolOf = (p: Props): string => String(p.protocol ?? LB.http).toUpperCase();

/** Whether an HTTP listener only redirects to HTTPS: every default action a redirect whose protocol is HTTPS. */
function redirectsToHttps(p: Props): boolean {
    const actions = listOf(p.defaultActions) as Props[];
    return actions.length > 0 && actions.every((a) => a?.type === LB.redirect && String(a.redirect?.protocol ?? "").toUpperCase() === LB.https);
}

/**
 * The security groups of the stack a resource's input names: the engine's property
 * dependencies when it gives them (in previews too), else the ids the input holds, matched
 * against each group's `id`. {@link UNKNOWN} when neither tells (ids unknown in a preview).
 */
function groupsNamed(resource: PolicyResource, key: string, groups: readonly PolicyResource[], reads: PreviewReads): { tied: PolicyResource[]; untied: string[] } | typeof UNKNOWN {
    const dependencies = (resource.propertyDependencies?.[key] ?? []).filter((d) => SECURITY_GROUP_TYPES.includes(d.type));
    if (dependencies.length > 0) return { tied: groups.filter((g) => dependencies.some((d) => d.urn === g.urn)), untied: [] };
    const ids = reads.known(() => listOf(resource.props[key]).map(String));
    if (ids === UNKNOWN) return UNKNOWN;
    const idOf = (g: PolicyResource) => ("id" in g.props ? reads.known(() => g.props.id) : undefined);
    const tied = groups.filter((g) => ids.includes(String(idOf(g))));
    return { tied, untied: ids.filter((id) => !tied.some((g) => String(idOf(g)) === id)) };
}

/** Why each ingress rule of a group admits something other than Cloudflare's ranges. */
function nonCloudflareSources(type: string, props: Props, ranges: readonly string[]): { where: string; sources: string[] }[] {
    const rules = ingressRules(type, props);
    // Source security groups, by rule, read without touching their ids (unknown in a preview).
    const groupSources = (i: number): string[] => {
        const raw: Props = type === "aws:ec2/securityGroupRule:SecurityGroupRule" || type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" ? props : (props.ingress ?? [])[i] ?? {};
        const count = listOf(raw.securityGroups).length + ("sourceSecurityGroupId" in raw ? 1 : 0) + ("referencedSecurityGroupId" in raw ? 1 : 0);
        return [...(count > 0 ? [`${count} source security group${count > 1 ? "s" : ""}`] : []), ...(raw.self === true ? ["the group itself (self)"] : [])];
    };
    return rules.map((rule, i) => ({
        where: rule.where,
        sources: [
            ...rule.cidrs.filter((cidr) => {
                const parsed = parseCidr(cidr);
                return !parsed.ok || !withinAny(parsed.range, ranges);
            }),
            ...rule.prefixLists.map((id) => `prefix list ${id}`),
            ...groupSources(i),
        ],
    })).filter((r) => r.sources.length > 0);
}

export const loadBalancerPolicies = [
    resourcePolicy({
        name: "aws-lb-listener-enforce-https",
        description: "Checks that every load balancer listener serves HTTPS; an HTTP listener is allowed only when all its default actions redirect to HTTPS.",
        severity: "high",
        remediationSteps: "Set protocol \"HTTPS\" (port 443, a certificateArn and an sslPolicy) on the listener (components/loadBalancer.ts), "
            + "or make an HTTP listener's only default action { type: \"redirect\", redirect: { protocol: \"HTTPS\", port: \"443\", statusCode: \"HTTP_301\" } }.",
        types: LISTENER_TYPES,
        check: (p) => {
            const protocol = protocolOf(p);
            if (protocol === LB.https) return undefined;
            if (protocol === LB.http && redirectsToHttps(p)) return undefined;
            const actions = (listOf(p.defaultActions) as Props[]).map((a) => String(a?.type)).join(", ");
            return `protocol is ${p.protocol === undefined ? "unset (HTTP)" : JSON.stringify(p.protocol)} with default actions [${actions}]; `
                + "set protocol \"HTTPS\", or make an HTTP listener's only default action a redirect with protocol \"HTTPS\".";
        },
    }),
    resourcePolicy({
        name: "aws-lb-listener-configure-tls-policy",
        description: "Checks that every HTTPS (or TLS) listener uses a current TLS 1.3/1.2 security policy: ELBSecurityPolicy-TLS13-1-2-2021-06 (AWS's recommendation) or "
            + "another TLS13-1-2/TLS13-1-3 policy without legacy ciphers (no Ext, 1-0, 1-1 or pre-2021 policies; unset means ELBSecurityPolicy-2016-08).",
        severity: "high",
        remediationSteps: `Set sslPolicy to "${RECOMMENDED_SSL_POLICY}" (components/loadBalancer.ts); policy/loadBalancer.ts ALLOWED_SSL_POLICIES lists the others allowed, `
            + "from AWS's \"Security policies for your Application Load Balancer\".",
        types: LISTENER_TYPES,
        check: (p) => {
            if (![LB.https, LB.tls].includes(protocolOf(p) as typeof LB.https)) return undefined;
            if (ALLOWED_SSL_POLICIES.includes(p.sslPolicy)) return undefined;
            const shown = p.sslPolicy === undefined ? "unset (AWS then applies ELBSecurityPolicy-2016-08, which admits TLS 1.0 and 1.1)" : JSON.stringify(p.sslPolicy);
            return `sslPolicy is ${shown}, not a current TLS 1.3/1.2 policy; set it to "${RECOMMENDED_SSL_POLICY}" (AWS's recommended policy) or another of ALLOWED_SSL_POLICIES (policy/loadBalancer.ts).`;
        },
    }),
    resourcePolicy({
        name: "aws-lb-loadbalancer-enable-drop-invalid-headers",
        description: "Checks that every application load balancer drops HTTP headers with invalid names (dropInvalidHeaderFields true) instead of passing them to the hosts.",
        severity: "medium",
        remediationSteps: "Set dropInvalidHeaderFields: true on the load balancer (components/loadBalancer.ts).",
        types: LOAD_BALANCER_TYPES,
        check: (p) => (!isApplication(p) || p.dropInvalidHeaderFields === true ? undefined
            : `dropInvalidHeaderFields is ${JSON.stringify(p.dropInvalidHeaderFields)}; set it to true so requests with invalid header names are not passed to the hosts.`),
    }),
    stackPolicy<{ cloudflareRanges?: string[] }>({
        name: "aws-lb-loadbalancer-configure-cloudflare-only",
        description: "Checks that every security group of an internet-facing application load balancer admits ingress only from Cloudflare's published ranges "
            + "(no 0.0.0.0/0, no other address range, no prefix list, no source security group), so requests can't get around Cloudflare's WAF.",
        severity: "high",
        remediationSteps: "Give the load balancer its own security group whose only ingress is 443 from the ranges cloudflare.getIpRanges returns (components/loadBalancer.ts). "
            + "If Cloudflare published a new range, add it to CLOUDFLARE_RANGES in policy/aws.ts (https://www.cloudflare.com/ips-v4, https://www.cloudflare.com/ips-v6).",
        configSchema: { properties: { cloudflareRanges: { type: "array", items: { type: "string" }, default: [...CLOUDFLARE_RANGES] } } },
        check: (resources, config, _args, reads) => {
            const ranges = config.cloudflareRanges ?? CLOUDFLARE_RANGES;
            const groups = resources.filter((r) => SECURITY_GROUP_TYPES.includes(r.type));
            const separateRules = resources.filter((r) => INGRESS_TYPES.includes(r.type) && !SECURITY_GROUP_TYPES.includes(r.type));
            const fix = "admit only the ranges cloudflare.getIpRanges returns.";
            const violations: { message: string; urn: string }[] = [];
            for (const lb of resources.filter((r) => LOAD_BALANCER_TYPES.includes(r.type))) {
                const internetFacing = reads.known(() => isApplication(lb.props) && lb.props.internal !== true);
                if (internetFacing !== true) continue;
                const lbName = nameOf(lb.urn);
                if (reads.known(() => listOf(lb.props.securityGroups).length) === 0) {
                    violations.push({ urn: lb.urn, message: `load balancer ${lbName} has no securityGroups, so AWS gives it the VPC's default security group; give it a group of its own and ${fix}` });
                    continue;
                }
                const named = groupsNamed(lb, "securityGroups", groups, reads);
                if (named === UNKNOWN) continue;
                for (const id of named.untied) {
                    violations.push({ urn: lb.urn, message: `load balancer ${lbName} uses security group ${JSON.stringify(id)}, which is not a group of this stack, so what it admits can't be checked; use a group of the stack and ${fix}` });
                }
                for (const group of named.tied) {
                    const rules = [
                        ...nonCloudflareSources(group.type, group.props, ranges),
                        ...separateRules.flatMap((rule) => {
                            const target = groupsNamed(rule, "securityGroupId", groups, reads);
                            if (target === UNKNOWN || !target.tied.some((g) => g.urn === group.urn)) return [];
                            return nonCloudflareSources(rule.type, rule.props, ranges).map((r) => ({ ...r, where: `${r.where} (${nameOf(rule.urn)})` }));
                        }),
                    ];
                    for (const rule of rules) {
                        violations.push({ urn: group.urn, message: `security group ${nameOf(group.urn)} of internet-facing load balancer ${lbName}: ${rule.where} admits ${rule.sources.join(", ")}, `
                            + `outside Cloudflare's published ranges; ${fix}` });
                    }
                }
            }
            return violations;
        },
    }),
    stackPolicy<{ minimumHosts?: number; minimumZones?: number }>({
        name: "pakashop-fleet-configure-zone-spread",
        description: `Checks that the backend fleet (instances tagged ${FLEET_ROLE_TAG.key}=${FLEET_ROLE_TAG.value}) has at least minimumHosts hosts in at least minimumZones distinct `
            + "availability zones, so losing one host or one zone leaves the site up (production: 2 and 2, policy/production.json).",
        severity: "high",
        remediationSteps: "Set pakashop-infra:backendHosts to 2 or more and availabilityZoneCount to 2 or more in Pulumi.<stack>.yaml: host n goes in zone (n-1) mod "
            + "availabilityZoneCount and sets availabilityZone explicitly (components/backendFleet.ts).",
        configSchema: { properties: { minimumHosts: { type: "integer", default: 2 }, minimumZones: { type: "integer", default: 2 } } },
        check: (resources, config, _args, reads) => {
            const minimumHosts = config.minimumHosts ?? 2;
            const minimumZones = config.minimumZones ?? 2;
            const hosts = ofType(resources, INSTANCE).filter((r) => reads.known(() => r.props.tags?.[FLEET_ROLE_TAG.key]) === FLEET_ROLE_TAG.value);
            const tag = `${FLEET_ROLE_TAG.key}=${FLEET_ROLE_TAG.value}`;
            const violations: { message: string }[] = [];
            if (hosts.length < minimumHosts) {
                violations.push({ message: `the backend fleet has ${hosts.length} instance${hosts.length === 1 ? "" : "s"} tagged ${tag}${hosts.length ? ` (${hosts.map((h) => nameOf(h.urn)).join(", ")})` : ""}; `
                    + `this stack needs at least ${minimumHosts}: set pakashop-infra:backendHosts to ${minimumHosts} or more.` });
            }
            const zoneOf = hosts.map((h) => [nameOf(h.urn), reads.known(() => h.props.availabilityZone)] as const);
            if (zoneOf.some(([, zone]) => zone === UNKNOWN)) return violations;
            const zones = new Set(zoneOf.map(([, zone]) => zone).filter((zone) => typeof zone === "string" && zone !== ""));
            if (hosts.length > 0 && zones.size < minimumZones) {
                const where = zoneOf.map(([name, zone]) => `${name}: ${typeof zone === "string" && zone !== "" ? zone : "no availabilityZone"}`).join(", ");
                violations.push({ message: `the backend fleet spans ${zones.size} availability zone${zones.size === 1 ? "" : "s"} (${where}); this stack needs at least ${minimumZones}: `
                    + "set availabilityZoneCount to 2 or more and give every host its subnet's zone as availabilityZone (components/backendFleet.ts)." });
            }
            return violations;
        },
    }),
];
