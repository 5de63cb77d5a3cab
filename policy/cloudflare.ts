/** Cloudflare: strict TLS to the origin, modern TLS at the edge, the managed WAF, proxied records. */
import { MANAGED_RULESETS } from "../components/managedRulesets";
import {
    CLOUDFLARE_DNS_RECORD_TYPE, CLOUDFLARE_PHASE, CLOUDFLARE_RULE_ACTION, CLOUDFLARE_TLS_VERSIONS, CLOUDFLARE_ZONE_SETTING,
} from "../components/providerValues";
import { PolicyResource } from "@pulumi/policy";
import { nameOf, ofType, Props, resourcePolicy, stackPolicy } from "./policyKit";

const ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting";
const RULESET = "cloudflare:index/ruleset:Ruleset";
const { ssl: SSL, minTlsVersion: MIN_TLS, alwaysUseHttps: ALWAYS_HTTPS } = CLOUDFLARE_ZONE_SETTING;
const MANAGED_PHASE = CLOUDFLARE_PHASE.firewallManaged;

/**
 * Which zone the stack owns, from the pack config (policy/<stack>.json): `zoneId` (the stack's
 * `cloudflareZoneId`) and `ownsZone` (whether this stack holds the zone-wide settings and WAF;
 * production does, staging shares production's zone). Without `ownsZone`, a stack with any
 * zone setting or ruleset is taken to own the zone.
 */
interface ZoneConfig { zoneId?: string; ownsZone?: boolean }
const ZONE_SCHEMA = { properties: { zoneId: { type: "string" }, ownsZone: { type: "boolean" } } } as const;

function ownsZone(resources: readonly PolicyResource[], config: ZoneConfig): boolean {
    return config.ownsZone ?? (ofType(resources, ZONE_SETTING).length + ofType(resources, RULESET).length > 0);
}

const inZone = (r: PolicyResource, config: ZoneConfig) => config.zoneId === undefined || r.props.zoneId === config.zoneId;

/** Override values that turn a managed rule off or down to logging. */
const WEAK_ACTIONS = ["log", "skip", "allow"];
const WEAK_SENSITIVITY = ["off", "eoff", "low"];

/**
 * The OWASP Core Ruleset's default score threshold ("Medium - 40 and higher"; the others are
 * "Low - 60 and higher" and "High - 25 and higher": Cloudflare docs, WAF > Managed rules >
 * Cloudflare OWASP Core Ruleset, https://developers.cloudflare.com/waf/managed-rules/reference/owasp-core-ruleset/).
 * An override `scoreThreshold` (cloudflare_ruleset rules[].action_parameters.overrides.rules[].score_threshold,
 * `RulesetRuleActionParametersOverridesRule.scoreThreshold` in @pulumi/cloudflare) above it lets
 * more attacks through; one at or below it is as strict or stricter.
 */
export const OWASP_DEFAULT_SCORE_THRESHOLD = 40;

/** Why an override of a managed ruleset weakens it, or nothing. */
function weakenings(overrides: Props | undefined): string[] {
    if (!overrides) return [];
    const problems: string[] = [];
    const judge = (o: Props, at: string) => {
        if (typeof o.action === "string" && WEAK_ACTIONS.includes(o.action.toLowerCase())) problems.push(`${at}action is ${JSON.stringify(o.action)}`);
        if (o.enabled === false) problems.push(`${at}enabled is false`);
        if (typeof o.sensitivityLevel === "string" && WEAK_SENSITIVITY.includes(o.sensitivityLevel.toLowerCase())) problems.push(`${at}sensitivityLevel is ${JSON.stringify(o.sensitivityLevel)}`);
        // The schema has scoreThreshold on rule overrides only; judged wherever it is written.
        if (o.scoreThreshold !== undefined && o.scoreThreshold !== null && !(typeof o.scoreThreshold === "number" && o.scoreThreshold <= OWASP_DEFAULT_SCORE_THRESHOLD)) {
            problems.push(`${at}scoreThreshold is ${JSON.stringify(o.scoreThreshold)}, weaker than the default ${OWASP_DEFAULT_SCORE_THRESHOLD}`);
        }
    };
    judge(overrides, "overrides.");
    (overrides.categories ?? []).forEach((c: Props, i: number) => judge(c, `overrides.categories[${i}] (${c.category}).`));
    (overrides.rules ?? []).forEach((r: Props, i: number) => judge(r, `overrides.rules[${i}] (${r.id}).`));
    return problems;
}

/** Why a ruleset rule executing managed ruleset `id` does not protect the zone, or nothing. */
function executionProblems(ruleset: PolicyResource, rule: Props, config: ZoneConfig): string[] {
    const problems: string[] = [];
    if (ruleset.props.phase !== MANAGED_PHASE) problems.push(`its ruleset's phase is ${JSON.stringify(ruleset.props.phase)}, not ${MANAGED_PHASE}`);
    if (!inZone(ruleset, config)) problems.push(`its ruleset targets zone ${JSON.stringify(ruleset.props.zoneId)}, not this stack's zone ${config.zoneId}`);
    if (rule.enabled === false) problems.push("the rule is disabled");
    if (typeof rule.expression !== "string" || rule.expression.trim() !== "true") problems.push(`its expression is ${JSON.stringify(rule.expression)}, not "true" (all traffic)`);
    problems.push(...weakenings(rule.actionParameters?.overrides));
    return problems;
}

const SKIP = "skip";

/**
 * Rules that skip managed ruleset `id` in the stack's zone: `skip` rules (enabled, any
 * expression) whose action parameters skip the rest of the managed phase's ruleset
 * (`ruleset: "current"` in that phase), the managed ruleset itself (`rulesets` or `rules`
 * naming `id`), or the whole managed phase (`phases`, from an earlier phase). A skip placed
 * after the execute rules in the same ruleset skips nothing of them; anywhere else (before
 * them, or in another ruleset, whose order against this one the plan does not fix) it counts.
 * Fields: cloudflare_ruleset rules[].action_parameters.ruleset, .rulesets, .rules, .phases
 * (`RulesetRuleActionParameters` in @pulumi/cloudflare).
 */
function skipsOf(resources: readonly PolicyResource[], config: ZoneConfig, id: string): { urn: string; message: string }[] {
    const found: { urn: string; message: string }[] = [];
    for (const ruleset of ofType(resources, RULESET).filter((r) => inZone(r, config))) {
        const rules: Props[] = Array.isArray(ruleset.props.rules) ? ruleset.props.rules : [];
        const lastExecute = rules.map((rule, i) => (typeof rule?.action === "string" && rule.action.toLowerCase() === CLOUDFLARE_RULE_ACTION.execute && rule.actionParameters?.id === id ? i : -1))
            .reduce((a, b) => Math.max(a, b), -1);
        rules.forEach((rule, i) => {
            if (typeof rule?.action !== "string" || rule.action.toLowerCase() !== SKIP || rule.enabled === false) return;
            if (lastExecute >= 0 && i > lastExecute) return;
            const p: Props = rule.actionParameters ?? {};
            const how: string[] = [];
            if (String(p.ruleset ?? "").toLowerCase() === "current" && ruleset.props.phase === MANAGED_PHASE) how.push(`ruleset "current" in ${MANAGED_PHASE}`);
            if ([p.rulesets].flat().includes(id)) how.push(`rulesets ${JSON.stringify(p.rulesets)}`);
            if (p.rules && typeof p.rules === "object" && id in p.rules) how.push(`rules of ${id}`);
            if ([p.phases].flat().includes(MANAGED_PHASE)) how.push(`phases ${JSON.stringify(p.phases)}`);
            if (how.length > 0) found.push({ urn: ruleset.urn, message: `ruleset ${nameOf(ruleset.urn)} rule ${i} (${JSON.stringify(rule.ref ?? rule.description ?? "")}) skips ${id} (${how.join("; ")}) for traffic matching ${JSON.stringify(rule.expression)}` });
        });
    }
    return found;
}

/**
 * The stack owning the zone must execute this managed ruleset in the managed WAF phase of its
 * zone, enabled, over all traffic, with no override that turns it off or down to logging.
 */
function managedRulesetPolicy(name: string, ruleset: string, id: string) {
    return stackPolicy<ZoneConfig>({
        name,
        description: `Checks that the stack owning the zone executes the ${ruleset} in ${MANAGED_PHASE} of its zone: enabled, expression "true", no override to log, skip or off nor a score threshold above the default, and no skip rule skipping it.`,
        severity: "high",
        remediationSteps: `Add an execute rule for ${id} with expression "true" and no weakening overrides to the zone's Ruleset in phase ${MANAGED_PHASE} (components/edge.ts).`,
        configSchema: ZONE_SCHEMA,
        check: (resources, config) => {
            const executions = ofType(resources, RULESET).flatMap((r) => (r.props.rules ?? [])
                .filter((rule: Props) => typeof rule.action === "string" && rule.action.toLowerCase() === CLOUDFLARE_RULE_ACTION.execute && rule.actionParameters?.id === id)
                .map((rule: Props) => ({ ruleset: r, problems: executionProblems(r, rule, config) })));
            const weak = executions.filter((e) => e.problems.length > 0).map((e) => ({ urn: e.ruleset.urn,
                message: `ruleset ${nameOf(e.ruleset.urn)} executes the ${ruleset} (${id}) but ${e.problems.join("; ")}; execute it enabled, with expression "true", in ${MANAGED_PHASE} of zone ${config.zoneId ?? "the stack's zone"}, without weakening overrides.` }));
            const skips = skipsOf(resources, config, id).map((v) => ({ urn: v.urn, message: `${v.message}, so the ${ruleset} never runs on it; remove the skip rule.` }));
            if (!ownsZone(resources, config) || executions.some((e) => e.problems.length === 0)) return [...weak, ...skips];
            return [...weak, ...skips, { message: `no ruleset executes the ${ruleset} (${id}) over all traffic of zone ${config.zoneId ?? "the stack's zone"}; add it to the managed WAF phase (components/edge.ts).` }];
        },
    });
}

/** A zone setting that must exist, in the stack's zone, with an acceptable value. */
function requiredSettingPolicy(name: string, settingId: string, good: (value: unknown) => boolean, want: string, description: string, severity: "critical" | "high" | "medium", remediationSteps: string) {
    return stackPolicy<ZoneConfig>({
        name, description, severity, remediationSteps, configSchema: ZONE_SCHEMA,
        check: (resources, config) => {
            const settings = ofType(resources, ZONE_SETTING).filter((r) => r.props.settingId === settingId);
            const bad = settings.filter((r) => !good(r.props.value) || !inZone(r, config)).map((r) => ({ urn: r.urn,
                message: inZone(r, config) ? `zone setting ${nameOf(r.urn)}: ${settingId} is ${JSON.stringify(r.props.value)}; set it to "${want}".`
                    : `zone setting ${nameOf(r.urn)} sets ${settingId} on zone ${JSON.stringify(r.props.zoneId)}, not this stack's zone ${config.zoneId}; target the stack's zone.` }));
            // Presence: a setting weakened is reported above; one deleted (none left in the zone) here.
            if (!ownsZone(resources, config) || settings.some((r) => inZone(r, config))) return bad;
            return [...bad, { message: `the zone ${config.zoneId ?? ""} has no ${settingId} setting of "${want}" in this stack; deleting it leaves Cloudflare's default. Add cloudflare.ZoneSetting ${settingId} = "${want}" (components/edge.ts).` }];
        },
    });
}

export const cloudflarePolicies = [
    requiredSettingPolicy("cloudflare-zonesetting-enforce-ssl-strict", SSL.id, (v) => v === SSL.strict, SSL.strict,
        "Checks that the zone's SSL mode exists in the stack owning the zone and is Full (strict), so Cloudflare validates the origin's certificate.", "critical",
        `Keep the ${SSL.id} zone setting, set to "${SSL.strict}", and an Origin CA certificate on the origin.`),
    requiredSettingPolicy("cloudflare-zonesetting-enforce-min-tls", MIN_TLS.id,
        (v) => CLOUDFLARE_TLS_VERSIONS.indexOf(String(v)) >= CLOUDFLARE_TLS_VERSIONS.indexOf(MIN_TLS.tls12), MIN_TLS.tls12,
        "Checks that the zone's minimum TLS version setting exists in the stack owning the zone and is 1.2 or later.", "high",
        `Keep the ${MIN_TLS.id} zone setting, set to "${MIN_TLS.tls12}".`),
    requiredSettingPolicy("cloudflare-zone-enable-always-https", ALWAYS_HTTPS.id, (v) => v === ALWAYS_HTTPS.on, ALWAYS_HTTPS.on,
        "Checks that the stack owning the zone turns always_use_https on.", "medium", `Add the zone setting ${ALWAYS_HTTPS.id} = "${ALWAYS_HTTPS.on}".`),
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
