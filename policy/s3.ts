/**
 * S3 buckets: every bucket has, beside it (same parent component), a public access block,
 * versioning, default encryption, a TLS-only policy and lifecycle rules for its backup prefixes.
 * Stack policies, because those settings are resources of their own.
 */
import { PolicyResource } from "@pulumi/policy";
import { AWS_S3 } from "../components/providerValues";
import { nameOf, ofType, Props, stackPolicy, UNKNOWN } from "./policyKit";

const BUCKET = "aws:s3/bucket:Bucket";
const BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy";

/** Whether a bucket policy document has a statement denying requests without TLS. */
function deniesPlainHttp(document: unknown): boolean {
    const policy = typeof document === "string" ? JSON.parse(document) : document as Props | undefined;
    return (policy?.Statement ?? []).some((s: Props) => s.Effect === "Deny" && s.Condition?.Bool?.["aws:SecureTransport"] === "false");
}

/** For each bucket, the resources of `type` configured beside it. */
function besideEachBucket(resources: readonly PolicyResource[], type: string, ok: (props: Props) => boolean, problem: string) {
    return ofType(resources, BUCKET).flatMap((bucket) => {
        const siblings = ofType(resources, type).filter((r) => r.parent?.urn === bucket.parent?.urn);
        return siblings.some((r) => ok(r.props)) ? [] : [{ urn: bucket.urn, message: `bucket ${nameOf(bucket.urn)} ${problem}` }];
    });
}

export const s3Policies = [
    stackPolicy({
        name: "aws-s3-bucket-missing-public-access-block",
        description: "Checks that every S3 bucket has a public access block with all four settings on.",
        severity: "critical",
        remediationSteps: "Add an aws.s3.BucketPublicAccessBlock with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets true.",
        check: (resources) => besideEachBucket(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            (p) => p.blockPublicAcls === true && p.blockPublicPolicy === true && p.ignorePublicAcls === true && p.restrictPublicBuckets === true,
            "has no public access block with all four settings true; add one."),
    }),
    stackPolicy({
        name: "aws-s3-bucket-enable-versioning",
        description: "Checks that every S3 bucket has versioning enabled.",
        severity: "medium",
        remediationSteps: "Add an aws.s3.BucketVersioning with status Enabled.",
        check: (resources) => besideEachBucket(resources, "aws:s3/bucketVersioning:BucketVersioning",
            (p) => p.versioningConfiguration?.status === AWS_S3.versioningStatus.enabled, "has no versioning; enable it."),
    }),
    stackPolicy({
        name: "aws-s3-bucket-enable-encryption",
        description: "Checks that every S3 bucket encrypts objects by default (SSE-S3 or SSE-KMS).",
        severity: "high",
        remediationSteps: "Add an aws.s3.BucketServerSideEncryptionConfiguration with sseAlgorithm aws:kms.",
        check: (resources) => besideEachBucket(resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            (p) => (p.rules ?? []).some((r: Props) => (AWS_S3.sseAlgorithms as readonly string[]).includes(r.applyServerSideEncryptionByDefault?.sseAlgorithm)),
            "has no default encryption; add a server-side encryption configuration."),
    }),
    stackPolicy({
        name: "aws-s3-bucket-enforce-tls",
        description: "Checks that every S3 bucket's policy denies requests without TLS.",
        severity: "high",
        remediationSteps: "Add a bucket policy statement that denies s3:* when aws:SecureTransport is false.",
        // In a preview of a new stack the document is unknown (it names the bucket's ARN, which
        // AWS assigns on create): a bucket without any bucket policy beside it is still caught
        // then; the statement is judged wherever the document is known (a preview of an
        // existing stack, the end of `pulumi up`), and otherwise reported as not judged.
        check: (resources, _config, _args, reads) => ofType(resources, BUCKET).flatMap((bucket) => {
            const documents = ofType(resources, BUCKET_POLICY).filter((r) => r.parent?.urn === bucket.parent?.urn)
                .map((r) => reads.known(() => r.props.policy));
            const judged = documents.filter((d) => d !== UNKNOWN);
            if (judged.some(deniesPlainHttp) || judged.length < documents.length) return [];
            return [{ urn: bucket.urn, message: `bucket ${nameOf(bucket.urn)} has no policy denying requests without TLS; add one.` }];
        }),
    }),
    stackPolicy<{ prefixes?: string[] }>({
        name: "aws-s3-bucket-configure-lifecycle",
        description: "Checks that every backup bucket expires objects under each backup prefix by a lifecycle rule.",
        severity: "medium",
        remediationSteps: "Add enabled lifecycle rules with an expiration for daily/ and production/.",
        configSchema: { properties: { prefixes: { type: "array", items: { type: "string" }, default: ["daily/", "production/"] } } },
        check: (resources, config) => (config.prefixes ?? ["daily/", "production/"]).flatMap((prefix) => besideEachBucket(resources,
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            (p) => (p.rules ?? []).some((r: Props) => r.status === AWS_S3.lifecycleStatus.enabled && r.filter?.prefix === prefix && Number(r.expiration?.days) > 0),
            `has no enabled lifecycle rule expiring ${prefix}; add one.`)),
    }),
];
