/** Policy violations as SARIF 2.1.0, for GitHub code scanning. */
import { loadPackConfig, policyLevels, Violation } from "./policyCheck";

const LEVEL = { mandatory: "error", advisory: "warning", remediate: "warning", disabled: "none" } as const;
/** GitHub's security-severity scale (0-10) for each policy severity. */
const SECURITY_SEVERITY = { critical: "9.5", high: "8.0", medium: "5.5", low: "3.0" } as const;

export function toSarif(stack: string, violations: readonly Violation[]): Record<string, unknown> {
    const rules = policyLevels(loadPackConfig(stack));
    return {
        $schema: "https://json.schemastore.org/sarif-2.1.0.json",
        version: "2.1.0",
        runs: [{
            tool: {
                driver: {
                    name: "pakashop-infra policy pack",
                    version: "0.1.0",
                    informationUri: "https://github.com/pakashop/pakashop-infra",
                    rules: rules.map((rule) => ({
                        id: rule.name,
                        shortDescription: { text: rule.description },
                        fullDescription: { text: rule.description },
                        help: { text: rule.remediationSteps || rule.description },
                        defaultConfiguration: { level: LEVEL[rule.enforcementLevel] },
                        properties: { "security-severity": SECURITY_SEVERITY[rule.severity], tags: ["security", "infrastructure"] },
                    })),
                },
            },
            results: violations.map((v) => ({
                ruleId: v.policy,
                ruleIndex: rules.findIndex((r) => r.name === v.policy),
                level: LEVEL[v.enforcementLevel],
                message: { text: v.message },
                // Resources live in Pulumi.<stack>.yaml's stack; the URN names the exact one.
                locations: [{
                    physicalLocation: { artifactLocation: { uri: `Pulumi.${stack}.yaml` } },
                    logicalLocations: [{ fullyQualifiedName: v.urn || `stack ${stack}`, kind: "resource" }],
                }],
            })),
        }],
    };
}
