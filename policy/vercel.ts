/** Vercel: the production project builds the production branch; previews need a login. */
import { VERCEL_DEPLOYMENT_TYPE, VERCEL_PREVIEW_PROTECTING_TYPES } from "../components/providerValues";
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
        remediationSteps: `Set vercelAuthentication.deploymentType to "${VERCEL_DEPLOYMENT_TYPE.standardProtectionNew}" (or "${VERCEL_DEPLOYMENT_TYPE.allDeployments}"); the provider takes these Terraform spellings only.`,
        types: [PROJECT],
        check: (p) => {
            // The provider's own values (components/providerValues.ts): a camelCase spelling from
            // the SDK's doc comments is rejected by the provider, so it protects nothing.
            const mode = p.vercelAuthentication?.deploymentType;
            return VERCEL_PREVIEW_PROTECTING_TYPES.includes(mode) ? undefined
                : `vercelAuthentication.deploymentType is ${JSON.stringify(mode)}; set it to "${VERCEL_DEPLOYMENT_TYPE.standardProtectionNew}".`;
        },
    }),
    resourcePolicy({
        name: "vercel-project-enable-fork-protection",
        description: "Checks that the project requires a team member's authorization before deploying a pull request from a fork (gitForkProtection true).",
        severity: "high",
        // Input `gitForkProtection` (@pulumiverse/vercel Project, project.d.ts), the Terraform
        // provider's `git_fork_protection`: schema.BoolAttribute{Optional, Computed, Default:
        // booldefault.StaticBool(true)} (vercel/terraform-provider-vercel, resource_project.go).
        // The policy asks for it explicitly: a default can change, and `false` turns it off.
        remediationSteps: "Set gitForkProtection: true on the vercel.Project (components/frontend.ts).",
        types: [PROJECT],
        check: (p) => (p.gitForkProtection === true ? undefined
            : `gitForkProtection is ${JSON.stringify(p.gitForkProtection)}; set it to true so fork pull requests with access to the project's environment variables need a team member's authorization.`),
    }),
];
