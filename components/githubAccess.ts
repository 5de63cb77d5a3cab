/**
 * How the GitHub workflows reach AWS: OpenID Connect, no long-lived keys. Each stack (in its
 * own AWS account) has a deploy role (jobs in the stack's GitHub environment only) and a
 * read-only role (drift and approved pull-request previews); the backup role
 * (components/backups.ts) trusts the same provider. Every trust policy names the exact
 * repository and environment.
 *
 * The provider itself is an account-wide singleton: IAM keeps one OIDC provider per URL per
 * account (a second CreateOpenIDConnectProvider for the URL fails with EntityAlreadyExists),
 * and it refuses a trust policy whose federated principal does not exist yet
 * (MalformedPolicyDocument: Invalid principal in policy). So exactly one stack creates it and
 * every role that trusts it is created after it:
 * - the stack whose `createGithubOidcProvider` is true (production in the committed stack
 *   files) declares the provider, and its roles take the provider resource's `arn` output and
 *   an explicit `dependsOn` on it (the engine orders them, and the offline plan shows the edge);
 * - every other stack looks the provider up by URL; if it does not exist yet the lookup fails
 *   at preview with a message that says which stack to deploy first or which setting to flip.
 * Whichever stack a fresh account gets first therefore comes up, once the setting is true in
 * that stack (README, "Running it for real"). The choice is an explicit setting rather than
 * "create it if the lookup finds nothing": a stack that silently adopts or creates a shared
 * resource would make its ownership depend on deploy order.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { full } from "./configReaders";
import { resourceTags } from "./tags";

export const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";
export const GITHUB_OIDC_URL = `https://${GITHUB_OIDC_HOST}`;
/** The audience GitHub's token carries for AWS (aws-actions/configure-aws-credentials). */
export const GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com";
/** The provider function a non-owning stack uses to find the provider. */
export const GET_OIDC_PROVIDER_TOKEN = "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider";

/** The deploy role's longest session (`maxSessionDuration`). */
export const DEPLOY_SESSION_SECONDS = 7200;

/** The account's GitHub OIDC provider, as the roles that trust it need it. */
export interface GithubOidcProvider {
    /** ARN for the roles' trust policies: the resource's output, or the lookup's result. */
    readonly arn: pulumi.Output<string>;
    /** The provider resource, in the stack that creates it; roles trusting it depend on it. */
    readonly resource?: aws.iam.OpenIdConnectProvider;
}

/** Arguments of {@link GithubAccess}. */
export interface GithubAccessArgs {
    readonly stack: string;
    /** owner/name of the repository whose workflows assume the roles. */
    readonly githubRepository: string;
    /** Whether this stack creates the account's GitHub OIDC provider (setting `createGithubOidcProvider`). */
    readonly createOidcProvider: boolean;
}

/**
 * The `sub` claim of a job that runs in a GitHub environment: `repo:<owner>/<name>:environment:<env>`
 * (GitHub docs, "About security hardening with OpenID Connect", example subject claims).
 */
export function githubEnvironmentSubject(repository: string, environment: string): string {
    return `repo:${repository}:environment:${environment}`;
}

/**
 * A trust policy for GitHub's OIDC tokens whose subject is exactly one of `subjects`
 * (`StringEquals`, no wildcards: each subject names one repository and one environment).
 */
export function githubTrustPolicy(providerArn: pulumi.Input<string>, subjects: string[]): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [{
            Effect: "Allow",
            Action: "sts:AssumeRoleWithWebIdentity",
            Principal: { Federated: providerArn },
            Condition: {
                StringEquals: { [`${GITHUB_OIDC_HOST}:aud`]: GITHUB_OIDC_AUDIENCE, [`${GITHUB_OIDC_HOST}:sub`]: subjects },
            },
        }],
    });
}

/** Options for a role that trusts the provider: a child of `parent`, created after the provider. */
export function trustingRoleOptions(provider: GithubOidcProvider, parent: pulumi.Resource): pulumi.CustomResourceOptions {
    return { parent, dependsOn: provider.resource ? [provider.resource] : [] };
}

/** What a stack that does not create the provider says when the account has none yet. */
export function missingProviderMessage(stack: string, cause: unknown): string {
    const reason = (cause instanceof Error ? cause.message : String(cause)).split("\n")[0].trim();
    return `GitHub's OIDC provider ${GITHUB_OIDC_URL} was not found in this AWS account${reason ? ` (${reason})` : ""}. `
        + `Stack ${stack} trusts it but does not create it (${full("createGithubOidcProvider")} is false), and IAM refuses a trust policy `
        + `whose federated principal does not exist. Fix: deploy the stack that creates it first (the one with ${full("createGithubOidcProvider")}: true), `
        + `or, if ${stack} is the first stack in this account, set it true here and false in the other stack file (README, "Running it for real").`;
}

export class GithubAccess extends pulumi.ComponentResource {
    public readonly deployRoleArn: pulumi.Output<string>;
    public readonly readOnlyRoleArn: pulumi.Output<string>;
    /** The provider every GitHub-trusting role of the stack uses (the backup role too). */
    public readonly oidcProvider: GithubOidcProvider;

    constructor(name: string, args: GithubAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:ci:GithubAccess", name, {}, opts);
        const tags = resourceTags(args.stack, "ci");
        if (args.createOidcProvider) {
            const resource = new aws.iam.OpenIdConnectProvider(`${name}-oidc`, { url: GITHUB_OIDC_URL, clientIdLists: [GITHUB_OIDC_AUDIENCE], tags }, { parent: this });
            this.oidcProvider = { arn: resource.arn, resource };
        } else {
            // The promise form, so a missing provider fails with a message that names the fix
            // (the provider's own error is "couldn't find resource").
            const found = aws.iam.getOpenIdConnectProvider({ url: GITHUB_OIDC_URL }, { parent: this })
                .then((provider) => provider.arn, (error: unknown) => {
                    throw new Error(missingProviderMessage(args.stack, error));
                });
            this.oidcProvider = { arn: pulumi.output(found) };
        }
        const repo = args.githubRepository;
        const roleOptions = trustingRoleOptions(this.oidcProvider, this);

        // Deploying creates and changes IAM roles, VPCs, RDS, EC2 and S3: administrator rights,
        // but only for jobs in the stack's GitHub environment (protected for production).
        const deploy = new aws.iam.Role(`${name}-deploy`, {
            description: `pulumi up -s ${args.stack} from GitHub Actions (environment ${args.stack})`,
            assumeRolePolicy: githubTrustPolicy(this.oidcProvider.arn, [githubEnvironmentSubject(repo, args.stack)]),
            // Two hours: a deploy may run up to the runner's 90-minute build timeout
            // (components/deployRunner.ts), and its credentials must not expire in the middle;
            // the deploy jobs ask for 5400 s (role-duration-seconds). IAM allows up to 12 hours.
            maxSessionDuration: DEPLOY_SESSION_SECONDS,
            tags,
        }, roleOptions);
        new aws.iam.RolePolicyAttachment(`${name}-deploy`, { role: deploy.name, policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" }, { parent: this });

        // Drift checks (`<stack>-read`) and approved cloud previews of pull requests
        // (`<stack>-preview`, which has required reviewers): reading is all they need. A pull
        // request job outside those environments has subject `repo:...:pull_request` and gets
        // nothing. What ReadOnlyAccess would show that must stay hidden is denied elsewhere: the
        // dumps by the backup bucket's policy (components/backups.ts); no host key is anywhere
        // in AWS (components/hostKey.ts).
        const readOnly = new aws.iam.Role(`${name}-read-only`, {
            description: `pulumi preview / drift of ${args.stack} from GitHub Actions`,
            assumeRolePolicy: githubTrustPolicy(this.oidcProvider.arn, [githubEnvironmentSubject(repo, `${args.stack}-read`), githubEnvironmentSubject(repo, `${args.stack}-preview`)]),
            maxSessionDuration: 3600,
            tags,
        }, roleOptions);
        new aws.iam.RolePolicyAttachment(`${name}-read-only`, { role: readOnly.name, policyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess" }, { parent: this });

        this.deployRoleArn = deploy.arn;
        this.readOnlyRoleArn = readOnly.arn;
        this.registerOutputs({ deployRoleArn: this.deployRoleArn, readOnlyRoleArn: this.readOnlyRoleArn });
    }
}
