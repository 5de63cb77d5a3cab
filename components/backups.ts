/**
 * The bucket of database backups: public access blocked, versioned, encrypted, TLS only, and
 * retention by lifecycle rules instead of the seed's `aws s3 ls | sort | head -n -30 | xargs rm`:
 * `daily/` expires after 30 days, `production/` pre-deploy dumps after a configured number of
 * days. The backup job (GitHub Actions, OIDC) may only add objects under those two prefixes.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { githubEnvironmentSubject, GithubOidcProvider, githubTrustPolicy, trustingRoleOptions } from "./githubAccess";
import { DAILY_BACKUP_RETENTION_DAYS } from "./platformSettings";
import { resourceTags } from "./tags";

/** Prefixes the backup jobs write to (seed sections 4.3 and 4.5). */
export const BACKUP_PREFIXES = { daily: "daily/", preDeploy: "production/" } as const;
/** Overwritten or deleted backups stay this long as noncurrent versions, then go. */
export const NONCURRENT_VERSION_DAYS = 7;

/** Arguments of {@link Backups}. */
export interface BackupsArgs {
    readonly stack: string;
    /** Days `production/` pre-deploy dumps are kept. */
    readonly preDeployRetentionDays: number;
    /** owner/name of the repository whose workflows may assume the backup role. */
    readonly workflowRepository: string;
    /**
     * The account's GitHub OIDC provider (`GithubAccess.oidcProvider`, components/githubAccess.ts): the role's
     * trust policy names its ARN, and the role is created after it in the stack that creates it.
     */
    readonly githubOidcProvider: GithubOidcProvider;
    /**
     * The stack's read-only role (drift, approved pull-request previews). AWS's ReadOnlyAccess
     * grants `s3:Get*`; the bucket policy denies it the dumps explicitly (an explicit Deny
     * beats any Allow, IAM policy evaluation logic).
     */
    readonly readOnlyRoleArn: pulumi.Input<string>;
}

export class Backups extends pulumi.ComponentResource {
    public readonly bucketName: pulumi.Output<string>;
    /** The role the backup workflows assume through GitHub's OIDC provider. */
    public readonly writerRoleArn: pulumi.Output<string>;

    constructor(name: string, args: BackupsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:backups:Backups", name, {}, opts);
        const tags = resourceTags(args.stack, "backups");
        const parent = { parent: this };
        const bucket = new aws.s3.Bucket(`${name}-bucket`, { bucketPrefix: `pakashop-${args.stack}-backups-`, forceDestroy: false, tags }, parent);
        const publicAccess = new aws.s3.BucketPublicAccessBlock(`${name}-public-access`, {
            bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
        }, parent);
        new aws.s3.BucketVersioning(`${name}-versioning`, { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } }, parent);
        new aws.s3.BucketServerSideEncryptionConfiguration(`${name}-encryption`, {
            bucket: bucket.id,
            rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" }, bucketKeyEnabled: true }],
        }, parent);
        const expire = (id: string, prefix: string, days: number) => ({
            id, status: "Enabled", filter: { prefix },
            expiration: { days },
            noncurrentVersionExpiration: { noncurrentDays: NONCURRENT_VERSION_DAYS },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
        });
        new aws.s3.BucketLifecycleConfiguration(`${name}-lifecycle`, {
            bucket: bucket.id,
            rules: [
                expire("expire-daily", BACKUP_PREFIXES.daily, DAILY_BACKUP_RETENTION_DAYS),
                expire("expire-pre-deploy", BACKUP_PREFIXES.preDeploy, args.preDeployRetentionDays),
            ],
        }, parent);
        new aws.s3.BucketPolicy(`${name}-tls-only`, {
            bucket: bucket.id,
            policy: pulumi.jsonStringify({
                Version: "2012-10-17",
                Statement: [{
                    Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*",
                    Resource: [bucket.arn, pulumi.interpolate`${bucket.arn}/*`],
                    Condition: { Bool: { "aws:SecureTransport": "false" } },
                }, {
                    Sid: "DenyDumpsToReadOnly", Effect: "Deny", Principal: { AWS: args.readOnlyRoleArn }, Action: "s3:GetObject*",
                    Resource: pulumi.interpolate`${bucket.arn}/*`,
                }],
            }),
        }, { parent: this, dependsOn: [publicAccess] });

        const role = new aws.iam.Role(`${name}-writer`, {
            description: `Pakashop ${args.stack}: database backup jobs (GitHub Actions OIDC) write dumps`,
            maxSessionDuration: 3600,
            // Only workflow jobs running in this stack's backup environment (`<stack>-backup`, no
            // reviewers: the nightly dump runs unattended; it can write dumps and nothing else).
            // IAM refuses a trust
            // policy naming a provider that does not exist yet: the ARN is the provider's own
            // output (or the lookup's), never an ARN built from the account id.
            assumeRolePolicy: githubTrustPolicy(args.githubOidcProvider.arn, [githubEnvironmentSubject(args.workflowRepository, `${args.stack}-backup`)]),
            tags,
        }, trustingRoleOptions(args.githubOidcProvider, this));
        new aws.iam.RolePolicy(`${name}-writer`, {
            role: role.id,
            policy: pulumi.jsonStringify({
                Version: "2012-10-17",
                Statement: [{
                    Sid: "WriteDumpsOnly",
                    Effect: "Allow",
                    Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
                    Resource: Object.values(BACKUP_PREFIXES).map((prefix) => pulumi.interpolate`${bucket.arn}/${prefix}*`),
                }],
            }),
        }, parent);

        this.bucketName = bucket.bucket;
        this.writerRoleArn = role.arn;
        this.registerOutputs({ bucketName: this.bucketName, writerRoleArn: this.writerRoleArn });
    }
}
