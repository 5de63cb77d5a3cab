/**
 * How the GitHub workflows reach AWS: OpenID Connect, no long-lived keys. Production owns the
 * account's GitHub OIDC provider; each stack has a deploy role (only jobs running in the
 * stack's GitHub environment may assume it) and a read-only role for previews of pull requests
 * from this repository and for drift detection.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { resourceTags } from "./tags";

export const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";

/** Arguments of {@link GithubAccess}. */
export interface GithubAccessArgs {
    readonly stack: string;
    /** owner/name of the repository whose workflows assume the roles. */
    readonly githubRepository: string;
    /** Whether this stack creates the account's OIDC provider (production does). */
    readonly ownsProvider: boolean;
}

/** A trust policy for GitHub's OIDC tokens whose subject matches one of `subjects`. */
export function githubTrustPolicy(providerArn: pulumi.Input<string>, subjects: string[]): pulumi.Output<string> {
    return pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [{
            Effect: "Allow",
            Action: "sts:AssumeRoleWithWebIdentity",
            Principal: { Federated: providerArn },
            Condition: {
                StringEquals: { [`${GITHUB_OIDC_HOST}:aud`]: "sts.amazonaws.com" },
                StringLike: { [`${GITHUB_OIDC_HOST}:sub`]: subjects },
            },
        }],
    });
}

export class GithubAccess extends pulumi.ComponentResource {
    public readonly deployRoleArn: pulumi.Output<string>;
    public readonly readOnlyRoleArn: pulumi.Output<string>;

    constructor(name: string, args: GithubAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:ci:GithubAccess", name, {}, opts);
        const parent = { parent: this };
        const tags = resourceTags(args.stack, "ci");
        const account = aws.getCallerIdentityOutput({}, parent);
        const providerArn = args.ownsProvider
            ? new aws.iam.OpenIdConnectProvider(`${name}-oidc`, { url: `https://${GITHUB_OIDC_HOST}`, clientIdLists: ["sts.amazonaws.com"], tags }, parent).arn
            : pulumi.interpolate`arn:aws:iam::${account.accountId}:oidc-provider/${GITHUB_OIDC_HOST}`;
        const repo = args.githubRepository;

        // Deploying creates and changes IAM roles, VPCs, RDS, EC2 and S3: administrator rights,
        // but only for jobs in the stack's GitHub environment (protected for production).
        const deploy = new aws.iam.Role(`${name}-deploy`, {
            description: `pulumi up -s ${args.stack} from GitHub Actions (environment ${args.stack})`,
            assumeRolePolicy: githubTrustPolicy(providerArn, [`repo:${repo}:environment:${args.stack}`]),
            maxSessionDuration: 3600,
            tags,
        }, parent);
        new aws.iam.RolePolicyAttachment(`${name}-deploy`, { role: deploy.name, policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" }, parent);

        // Previews of pull requests from this repository (forks get no token) and drift checks:
        // reading is all they need.
        const readOnly = new aws.iam.Role(`${name}-read-only`, {
            description: `pulumi preview / drift of ${args.stack} from GitHub Actions`,
            assumeRolePolicy: githubTrustPolicy(providerArn, [`repo:${repo}:pull_request`, `repo:${repo}:ref:refs/heads/main`, `repo:${repo}:environment:${args.stack}-read`]),
            maxSessionDuration: 3600,
            tags,
        }, parent);
        new aws.iam.RolePolicyAttachment(`${name}-read-only`, { role: readOnly.name, policyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess" }, parent);

        this.deployRoleArn = deploy.arn;
        this.readOnlyRoleArn = readOnly.arn;
        this.registerOutputs({ deployRoleArn: this.deployRoleArn, readOnlyRoleArn: this.readOnlyRoleArn });
    }
}
