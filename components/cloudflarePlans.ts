/**
 * Which Cloudflare plan the zone needs for each zone-level feature the program uses. The program
 * can't check the zone's plan offline (and Cloudflare refuses a ruleset that uses a feature the
 * plan lacks), so the plan states what it needs: `npm run plan` lists, per ruleset, the features
 * and the lowest plan that has them.
 *
 * Source for every row: Cloudflare's plan matrix, cloudflare/cloudflare-docs
 * `src/content/plans/index.json` (the data behind the docs' "Availability" tables; same values at
 * commits 077e0a3 and 0188ca2): `security.waf_a_managed_rules` and `rules.origin_rules`.
 * Pure data and pure functions: the plan tool and the tests import it.
 */
import { MANAGED_RULESETS } from "./managedRulesets";
import { CLOUDFLARE_PHASE, CLOUDFLARE_RULE_ACTION } from "./providerValues";

/** Cloudflare's zone plans, cheapest first. */
export const CLOUDFLARE_PLANS = ["free", "pro", "business", "enterprise"] as const;
export type CloudflarePlan = (typeof CLOUDFLARE_PLANS)[number];

/** A zone-level feature and the lowest plan that offers it. */
export interface ZoneFeature {
    readonly title: string;
    readonly minimumPlan: CloudflarePlan;
    /** Where the requirement is written down. */
    readonly source: string;
}

const PLAN_MATRIX = "cloudflare/cloudflare-docs src/content/plans/index.json";

export const ZONE_FEATURES = {
    /** free: No, pro/biz/ent: Yes (`managed_ruleset_1`). */
    cloudflareManagedRuleset: {
        title: `WAF: Cloudflare Managed Ruleset (${MANAGED_RULESETS.cloudflareManaged})`,
        minimumPlan: "pro",
        source: `${PLAN_MATRIX} security.waf_a_managed_rules.managed_ruleset_1; https://developers.cloudflare.com/waf/managed-rules/#availability`,
    },
    /** free: No, pro/biz/ent: Yes (`managed_ruleset_2`). */
    owaspCoreRuleset: {
        title: `WAF: Cloudflare OWASP Core Ruleset (${MANAGED_RULESETS.owaspCore})`,
        minimumPlan: "pro",
        source: `${PLAN_MATRIX} security.waf_a_managed_rules.managed_ruleset_2; https://developers.cloudflare.com/waf/managed-rules/#availability`,
    },
    /** `action_parameters.origin.host` of a `route` rule: free/pro/biz: No, ent: Yes. */
    originDnsRecordOverride: {
        title: "Origin Rules: DNS record override (route action, origin.host)",
        minimumPlan: "enterprise",
        source: `${PLAN_MATRIX} rules.origin_rules.override_dns_record; https://developers.cloudflare.com/rules/origin-rules/features/#dns-record`,
    },
    /** `action_parameters.host_header` of a `route` rule: free/pro/biz: No, ent: Yes. */
    originHostHeaderOverride: {
        title: "Origin Rules: Host header override (route action, host_header)",
        minimumPlan: "enterprise",
        source: `${PLAN_MATRIX} rules.origin_rules.override_host_header`,
    },
    /** `action_parameters.sni` of a `route` rule: free/pro/biz: No, ent: Yes. */
    originSniOverride: {
        title: "Origin Rules: SNI override (route action, sni)",
        minimumPlan: "enterprise",
        source: `${PLAN_MATRIX} rules.origin_rules.override_sni`,
    },
    /** `action_parameters.origin.port` of a `route` rule: every plan. */
    originDestinationPort: {
        title: "Origin Rules: destination port override (route action, origin.port)",
        minimumPlan: "free",
        source: `${PLAN_MATRIX} rules.origin_rules.override_destination_port`,
    },
} as const satisfies Record<string, ZoneFeature>;

/** A feature one planned ruleset uses. */
export interface CloudflareRequirement {
    /** The ruleset's resource name. */
    readonly resource: string;
    readonly phase: string;
    readonly feature: string;
    readonly minimumPlan: CloudflarePlan;
    readonly source: string;
}

/** An entry-point ruleset the stack creates: Cloudflare allows one per zone and phase. */
export interface ZoneEntrypoint {
    readonly resource: string;
    readonly urn: string;
    readonly phase: string;
    /** How to adopt an existing one instead of failing on create. */
    readonly ifOneExists: string;
}

export interface CloudflareRequirements {
    /** The highest plan any feature needs (`free` when none needs more). */
    readonly minimumPlan: CloudflarePlan;
    readonly features: CloudflareRequirement[];
    readonly zoneEntrypoints: ZoneEntrypoint[];
}

type Props = Record<string, unknown>;
/** What the function needs of a planned resource. */
export interface PlannedRuleset { readonly urn: string; readonly type: string; readonly name: string; readonly inputs: Props }

const RULESET = "cloudflare:index/ruleset:Ruleset";
const ENTRYPOINT_PHASES: readonly string[] = Object.values(CLOUDFLARE_PHASE);

function featuresOf(rule: Props): ZoneFeature[] {
    const parameters = (rule.actionParameters ?? {}) as Props;
    if (rule.action === CLOUDFLARE_RULE_ACTION.execute) {
        if (parameters.id === MANAGED_RULESETS.owaspCore) return [ZONE_FEATURES.owaspCoreRuleset];
        if (parameters.id === MANAGED_RULESETS.cloudflareManaged) return [ZONE_FEATURES.cloudflareManagedRuleset];
        return [];
    }
    if (rule.action !== CLOUDFLARE_RULE_ACTION.route) return [];
    const origin = (parameters.origin ?? {}) as Props;
    const found: ZoneFeature[] = [];
    if (origin.host !== undefined) found.push(ZONE_FEATURES.originDnsRecordOverride);
    if (origin.port !== undefined) found.push(ZONE_FEATURES.originDestinationPort);
    if (parameters.hostHeader !== undefined) found.push(ZONE_FEATURES.originHostHeaderOverride);
    if (parameters.sni !== undefined) found.push(ZONE_FEATURES.originSniOverride);
    return found;
}

/** The zone-level features a plan's rulesets use, each once per ruleset, and the entry points it creates. */
export function cloudflareRequirements(resources: readonly PlannedRuleset[]): CloudflareRequirements {
    const features: CloudflareRequirement[] = [];
    const zoneEntrypoints: ZoneEntrypoint[] = [];
    for (const r of resources) {
        if (r.type !== RULESET) continue;
        const phase = String(r.inputs.phase);
        const seen = new Set<string>();
        for (const rule of (r.inputs.rules ?? []) as Props[]) {
            for (const f of featuresOf(rule)) {
                if (seen.has(f.title)) continue;
                seen.add(f.title);
                features.push({ resource: r.name, phase, feature: f.title, minimumPlan: f.minimumPlan, source: f.source });
            }
        }
        if (ENTRYPOINT_PHASES.includes(phase) && r.inputs.zoneId !== undefined) {
            zoneEntrypoints.push({
                resource: r.name, urn: r.urn, phase,
                ifOneExists: `import it: pulumi import ${RULESET} ${r.name} zones/<zone id>/<ruleset id> (docs/runbook.md, "First deploy into a zone that already has rulesets")`,
            });
        }
    }
    const rank = (p: CloudflarePlan) => CLOUDFLARE_PLANS.indexOf(p);
    const minimumPlan = features.reduce<CloudflarePlan>((max, f) => (rank(f.minimumPlan) > rank(max) ? f.minimumPlan : max), "free");
    return { minimumPlan, features, zoneEntrypoints };
}
