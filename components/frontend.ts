/**
 * The frontend on Vercel: one project for both stacks, linked to the monorepo's `frontend/`
 * folder. Production owns the project (production branch `production`, domain pakashop.store,
 * the production API URL, previews protected by Vercel Authentication and built only for
 * `feature/*` and `hotfix/*` branches); staging adds its own domain bound to branch `main` and
 * the staging API URL for that branch. DNS for the domains is the Edge component's.
 */
import * as pulumi from "@pulumi/pulumi";
import * as vercel from "@pulumiverse/vercel";
import { VERCEL_DEPLOYMENT_TYPE, VERCEL_ENV_TARGET, VERCEL_FRAMEWORK, VERCEL_GIT_PROVIDER } from "./providerValues";
import { ZoneRoute } from "./zoneRoutes";

/** The environment variable the frontend reads its API base URL from. */
export const API_URL_VARIABLE = "NEXT_PUBLIC_API_URL";
/**
 * Vercel's "Ignored Build Step": exit 0 skips the build, 1 builds. Production and main deploy;
 * of the other branches only feature/* and hotfix/* get previews (seed section 1).
 */
export const PREVIEW_BRANCH_FILTER = `[[ "$VERCEL_GIT_COMMIT_REF" =~ ^(production|main|feature/.+|hotfix/.+)$ ]] && exit 1 || exit 0`;

/** The API base URL a frontend host uses: same origin, `/api/v1` routed to the gateway. */
export function apiUrl(frontendHostname: string): string {
    return `https://${frontendHostname}/api/v1`;
}

/** Arguments of {@link Frontend}. */
export interface FrontendArgs {
    readonly stack: string;
    readonly projectName: string;
    /** owner/name of the monorepo on GitHub. */
    readonly githubRepository: string;
    /** The git branch this stack deploys (`production` or `main`). */
    readonly branch: string;
    readonly frontendHostname: string;
    /** Production owns the project; other stacks attach to it. */
    readonly ownsProject: boolean;
    /** Every stack's hostnames: previews use the staging stack's API origin. */
    readonly routes: readonly ZoneRoute[];
}

export class Frontend extends pulumi.ComponentResource {
    public readonly projectId: pulumi.Output<string>;
    public readonly url: string;

    constructor(name: string, args: FrontendArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:frontend:Frontend", name, {}, opts);
        const parent = { parent: this };
        if (args.ownsProject) {
            const project = new vercel.Project(`${name}-project`, {
                name: args.projectName,
                framework: VERCEL_FRAMEWORK.nextjs,
                rootDirectory: "frontend",
                gitRepository: { type: VERCEL_GIT_PROVIDER.github, repo: args.githubRepository, productionBranch: args.branch },
                ignoreCommand: PREVIEW_BRANCH_FILTER,
                // Standard Protection: every deployment but the production domains needs a Vercel login.
                // The provider takes the Terraform spelling (see providerValues.ts), not the .d.ts's camelCase.
                vercelAuthentication: { deploymentType: VERCEL_DEPLOYMENT_TYPE.standardProtectionNew },
                gitForkProtection: true,
                autoAssignCustomDomains: true,
            }, parent);
            this.projectId = project.id;
            new vercel.ProjectDomain(`${name}-domain`, { projectId: project.id, domain: args.frontendHostname }, parent);
            new vercel.ProjectEnvironmentVariable(`${name}-api-url`, {
                projectId: project.id, key: API_URL_VARIABLE, value: apiUrl(args.frontendHostname), targets: [VERCEL_ENV_TARGET.production], sensitive: false,
            }, parent);
            // Previews (feature/*, hotfix/*) live on *.vercel.app, outside the zone: they call the
            // staging API origin directly.
            const staging = args.routes.find((r) => r.stack === "staging");
            if (staging) {
                new vercel.ProjectEnvironmentVariable(`${name}-preview-api-url`, {
                    projectId: project.id, key: API_URL_VARIABLE, value: `https://${staging.apiHostname}/api/v1`, targets: [VERCEL_ENV_TARGET.preview], sensitive: false,
                }, parent);
            }
        } else {
            this.projectId = vercel.getProjectOutput({ name: args.projectName }, parent).id;
            new vercel.ProjectDomain(`${name}-domain`, { projectId: this.projectId, domain: args.frontendHostname, gitBranch: args.branch }, parent);
            new vercel.ProjectEnvironmentVariable(`${name}-api-url`, {
                projectId: this.projectId, key: API_URL_VARIABLE, value: apiUrl(args.frontendHostname), targets: [VERCEL_ENV_TARGET.preview], gitBranch: args.branch, sensitive: false,
            }, parent);
        }
        this.url = `https://${args.frontendHostname}`;
        this.registerOutputs({ projectId: this.projectId });
    }
}
