/**
 * The stack's deploy runner: an AWS CodeBuild project, in the VPC's private subnets, that
 * GitHub Actions uses as an ephemeral self-hosted runner for the jobs that must reach the
 * hosts (deploy, drift, database backup). It is the only place SSH to the hosts comes from
 * besides the EC2 Instance Connect Endpoint: no host admits port 22 from any address.
 *
 * What the runner itself may do is little: its role writes its logs, creates the network
 * interfaces CodeBuild needs in the VPC, and uses the GitHub connection. The jobs get their
 * AWS rights by assuming the stack's roles through GitHub OIDC, per GitHub environment
 * (components/githubAccess.ts), exactly as on GitHub-hosted runners.
 *
 * Who may start a build: the webhook admits a queued workflow job only when BOTH its workflow
 * is one of {@link RUNNER_WORKFLOWS} and the GitHub account that caused it (the event's
 * `sender`) is in the stack's `runnerGithubActorIds`. A workflow's name is chosen by whoever
 * writes the workflow file, so the name alone keeps only honest mistakes out; the actor list is
 * the boundary (the ACTOR_ACCOUNT_ID filter: "the webhook event triggers a build when a GitHub
 * account ID matches the regular expression pattern... in the id property of the sender
 * object", CodeBuild user guide, "GitHub webhook events"). Someone on the list can still run a
 * job of their own there, as they can already merge to the stack's branch; the runner's own
 * role can do nothing but write its logs, make its network interfaces and use the GitHub
 * connection, and the hosts, the database and the secrets want keys the runner doesn't hold.
 * A job whose sender is not listed is never picked up: it stays queued (GitHub cancels it after
 * 24 hours) with no error, the first thing to check when a job "waits for a runner".
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { AWS_CODEBUILD } from "./providerValues";
import { resourceTags } from "./tags";

/** The workflows whose jobs run on the in-VPC runner (`name:` of each workflow file). */
export const RUNNER_WORKFLOWS = ["Deploy staging", "Deploy production", "Drift", "Database Backup"] as const;

/** The CodeBuild project name: the jobs' `runs-on` label is `codebuild-<this>-<run id>-<attempt>`. */
export function runnerProjectName(stack: string): string {
    return `pakashop-${stack}-runner`;
}

/** The webhook's workflow-name filter: exactly the listed names, regex metacharacters escaped. */
export function workflowNamePattern(names: readonly string[]): string {
    return `^(${names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})$`;
}

/** The webhook's actor filter: exactly these numeric GitHub account ids. */
export function actorIdPattern(ids: readonly number[]): string {
    return `^(${[...new Set(ids)].sort((a, b) => a - b).join("|")})$`;
}

/** Arguments of {@link DeployRunner}. */
export interface DeployRunnerArgs {
    readonly stack: string;
    readonly vpcId: pulumi.Input<string>;
    /** The VPC's range: the runner's only destinations for SSH and PostgreSQL. */
    readonly vpcCidr: string;
    /** Private subnets (egress through NAT); CodeBuild places the runner's interface in one. */
    readonly subnetIds: pulumi.Input<string>[];
    /** owner/name of this repository: its workflows get the runner. */
    readonly workflowRepository: string;
    /** The CodeConnections connection to GitHub (setting `githubConnectionArn`). */
    readonly githubConnectionArn: string;
    /**
     * GitHub account ids whose runs may start a build (setting `runnerGithubActorIds`). No bot
     * is added: a run dispatched with a job's GITHUB_TOKEN has github-actions[bot] as sender,
     * and anyone with write access can make a branch whose workflow dispatches a modified
     * workflow from that branch; admitting the bot would admit them all. `[0]` (the committed
     * placeholder) admits nobody: GitHub account ids start at 1.
     */
    readonly allowedActorIds: readonly number[];
    /** What must exist before CodeBuild can use the subnets (the NAT gateways). */
    readonly dependsOn: pulumi.Resource[];
}

export class DeployRunner extends pulumi.ComponentResource {
    /** The runner's security group: the hosts admit SSH from it, the database PostgreSQL. */
    public readonly securityGroupId: pulumi.Output<string>;
    public readonly projectName: pulumi.Output<string>;

    constructor(name: string, args: DeployRunnerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:ci:DeployRunner", name, {}, opts);
        const tags = resourceTags(args.stack, "ci");
        const parent = { parent: this };
        const projectName = runnerProjectName(args.stack);

        // Nothing connects to a runner. It reaches GitHub, npm, the package mirrors and AWS's
        // APIs over HTTP(S) through NAT, and inside the VPC only SSH and PostgreSQL.
        const securityGroup = new aws.ec2.SecurityGroup(`${name}-sg`, {
            description: "Pakashop deploy runner (CodeBuild): no inbound; HTTP(S) out, SSH and PostgreSQL to the VPC",
            vpcId: args.vpcId,
            ingress: [],
            egress: [
                { description: "HTTPS: GitHub, npm, AWS APIs", protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] },
                { description: "HTTP: the image's package mirrors", protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: ["0.0.0.0/0"] },
                { description: "SSH to the hosts", protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: [args.vpcCidr] },
                { description: "PostgreSQL for the database dumps", protocol: "tcp", fromPort: 5432, toPort: 5432, cidrBlocks: [args.vpcCidr] },
            ],
            tags: { ...tags, Name: `pakashop-${args.stack}-runner` },
        }, parent);

        const logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, { name: `/aws/codebuild/${projectName}`, retentionInDays: 30, tags }, parent);
        const account = aws.getCallerIdentityOutput({}, parent).accountId;
        const role = new aws.iam.Role(`${name}-role`, {
            description: `CodeBuild service role of the ${args.stack} deploy runner`,
            // The confused-deputy guard AWS documents for service roles: only this account's
            // CodeBuild may assume it.
            assumeRolePolicy: pulumi.jsonStringify({
                Version: "2012-10-17",
                Statement: [{
                    Effect: "Allow",
                    Principal: { Service: "codebuild.amazonaws.com" },
                    Action: "sts:AssumeRole",
                    Condition: { StringEquals: { "aws:SourceAccount": account } },
                }],
            }),
            tags,
        }, parent);
        const region = aws.getRegionOutput({}, parent).region;
        // CodeBuild checks the VPC settings against the role when the project is created, so the
        // project waits for the policy, not just the role (aws/aws-cdk#2652: "Not authorized to
        // perform DescribeSecurityGroups" when it didn't).
        const policy = new aws.iam.RolePolicy(`${name}-policy`, {
            role: role.name,
            policy: pulumi.jsonStringify({
                Version: "2012-10-17",
                Statement: [
                    { Sid: "Logs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: pulumi.interpolate`${logGroup.arn}:*` },
                    {
                        // "Allow CodeBuild access to AWS services required to create a VPC network
                        // interface" (CodeBuild user guide, auth-and-access-control-iam-identity-based-access-control).
                        Sid: "VpcInterfaces",
                        Effect: "Allow",
                        Action: ["ec2:CreateNetworkInterface", "ec2:DescribeDhcpOptions", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
                            "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"],
                        Resource: "*",
                    },
                    {
                        Sid: "VpcInterfacePermission",
                        Effect: "Allow",
                        Action: "ec2:CreateNetworkInterfacePermission",
                        Resource: pulumi.interpolate`arn:aws:ec2:${region}:${account}:network-interface/*`,
                        Condition: {
                            StringEquals: { "ec2:AuthorizedService": "codebuild.amazonaws.com" },
                            ArnEquals: { "ec2:Subnet": args.subnetIds.map((id) => pulumi.interpolate`arn:aws:ec2:${region}:${account}:subnet/${id}`) },
                        },
                    },
                    {
                        Sid: "GithubConnection",
                        Effect: "Allow",
                        Action: ["codeconnections:GetConnectionToken", "codeconnections:GetConnection", "codeconnections:UseConnection",
                            "codestar-connections:GetConnectionToken", "codestar-connections:GetConnection", "codestar-connections:UseConnection"],
                        Resource: args.githubConnectionArn,
                    },
                ],
            }),
        }, parent);

        const project = new aws.codebuild.Project(`${name}-project`, {
            name: projectName,
            description: `GitHub Actions runner inside the ${args.stack} VPC (deploy, drift, backup jobs)`,
            serviceRole: role.arn,
            source: {
                type: AWS_CODEBUILD.sourceType,
                location: `https://github.com/${args.workflowRepository}.git`,
                auth: { type: AWS_CODEBUILD.sourceAuthType, resource: args.githubConnectionArn },
            },
            artifacts: { type: AWS_CODEBUILD.artifactsType },
            environment: {
                type: AWS_CODEBUILD.environmentType,
                computeType: AWS_CODEBUILD.computeType,
                image: AWS_CODEBUILD.image,
                // No Docker daemon: the jobs run Node, Pulumi, ssh and pg_dump, nothing privileged.
                privilegedMode: false,
            },
            vpcConfig: { vpcId: args.vpcId, subnets: args.subnetIds, securityGroupIds: [securityGroup.id] },
            logsConfig: { cloudwatchLogs: { groupName: logGroup.name, status: "ENABLED" } },
            // A deploy of 19 services waits on health gates; CodeBuild's default is 60 minutes.
            buildTimeout: 90,
            tags,
        }, { parent: this, dependsOn: [...args.dependsOn, policy] });

        new aws.codebuild.Webhook(`${name}-webhook`, {
            projectName: project.name,
            filterGroups: [{
                filters: [
                    { type: AWS_CODEBUILD.filterEvent, pattern: AWS_CODEBUILD.workflowJobQueued },
                    { type: AWS_CODEBUILD.filterWorkflowName, pattern: workflowNamePattern(RUNNER_WORKFLOWS) },
                    { type: AWS_CODEBUILD.filterActorAccountId, pattern: actorIdPattern(args.allowedActorIds) },
                ],
            }],
        }, parent);

        this.securityGroupId = securityGroup.id;
        this.projectName = project.name;
        this.registerOutputs({ securityGroupId: this.securityGroupId, projectName: this.projectName });
    }
}
