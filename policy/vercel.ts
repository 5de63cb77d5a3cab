/** Vercel: the production project builds the production branch; previews need a login. */
import { resourcePolicy } from "./policyKit";

const PROJECT = "vercel:index/project:Project";

export const vercelPolicies = [
    resourcePolicy<{ productionBranch?: string }>({
        name: "vercel-project-configure-production-branch",
        description: "Checks that the frontend project's production branch is the configured one (production, seed section 1).",
        severity: "high",
        remediationSteps: "Set gitRepository.productionBranch to \"production\".",
        configSchema: { properties: { productionBranch: { type: "string", default: "production" } } },
        types: [PROJECT],
        check: (p, c) => {
            const want = c.productionBranch ?? "production";
            return p.gitRepository?.productionBranch === want ? undefined
                : `gitRepository.productionBranch is ${JSON.stringify(p.gitRepository?.productionBranch)}; set it to "${want}".`;
        },
    }),
    resourcePolicy({
        name: "vercel-project-enable-preview-protection",
        description: "Checks that preview deployments require Vercel Authentication.",
        severity: "medium",
        remediationSteps: "Set vercelAuthentication.deploymentType to \"standardProtectionNew\" (or a stricter mode).",
        types: [PROJECT],
        check: (p) => {
            const mode = p.vercelAuthentication?.deploymentType;
            return ["standardProtectionNew", "standardProtection", "allDeployments", "onlyPreviewDeployments"].includes(mode) ? undefined
                : `vercelAuthentication.deploymentType is ${JSON.stringify(mode)}; set it to "standardProtectionNew".`;
        },
    }),
];
