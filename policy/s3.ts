/**
 * S3 buckets: every bucket has a public access block, versioning, default encryption, a
 * TLS-only policy and lifecycle rules for its backup prefixes, each tied to it by its `bucket`
 * input (not by sharing a parent component). Stack policies, because those settings are
 * resources of their own and must exist: deleting one fails.
 */
import { PolicyResource } from "@pulumi/policy";
import { AWS_S3 } from "../components/providerValues";
import { nameOf, ofType, PreviewReads, Props, stackPolicy, UNKNOWN } from "./policyKit";

const BUCKET = "aws:s3/bucket:Bucket";
const BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy";

/** Whether a bucket policy document has a statement denying requests without TLS. */
function deniesPlainHttp(document: unknown): boolean {
    const policy = typeof document === "string" ? JSON.parse(document) : document as Props | undefined;
    return (policy?.Statement ?? []).some((s: Props) => s.Effect === "Deny" && s.Condition?.Bool?.["aws:SecureTransport"] === "false");
}

/**
 * Whether a bucket setting (a resource with a `bucket` input) applies to this bucket: the
 * engine's property dependencies say so when it gives them; else the `bucket` value names the
 * bucket (its `bucket` or `id`, the same for S3; or, where only the inputs are known, as in the
 * offline plan, a name the provider makes from the bucket's `bucketPrefix`). {@link UNKNOWN}
 * when the value is unknown in a preview (the bucket's name is drawn on create).
 */
function appliesTo(setting: PolicyResource, bucket: PolicyResource, buckets: readonly PolicyResource[], reads: PreviewReads): boolean | typeof UNKNOWN {
    const dependencies = setting.propertyDependencies?.bucket;
    if (dependencies && dependencies.length > 0) return dependencies.some((d) => d.urn === bucket.urn);
    const named = reads.known(() => setting.props.bucket);
    if (named === UNKNOWN) return UNKNOWN;
    if (typeof named !== "string" || named === "") return false;
    const identities = ["bucket", "id"].filter((k) => k in bucket.props).map((k) => reads.known(() => bucket.props[k])).filter((v) => typeof v === "string" && v !== "");
    if (identities.length > 0) return identities.includes(named);
    // Named from a prefix: the longest prefix that fits wins, so "a-" never claims "a-b-"'s settings.
    const prefixOf = (b: PolicyResource) => ("bucket" in b.props || "id" in b.props || typeof b.props.bucketPrefix !== "string" ? undefined : String(b.props.bucketPrefix));
    const fitting = buckets.filter((b) => prefixOf(b) && named.startsWith(prefixOf(b) as string)).sort((x, y) => (prefixOf(y) as string).length - (prefixOf(x) as string).length);
    return fitting[0]?.urn === bucket.urn;
}

/** The resources of `type` that apply to `bucket`, and whether some may (unknown in a preview). */
function settingsOf(resources: readonly PolicyResource[], bucket: PolicyResource, type: string, reads: PreviewReads) {
    const buckets = ofType(resources, BUCKET);
    const verdicts = ofType(resources, type).map((r) => [r, appliesTo(r, bucket, buckets, reads)] as const);
    return { tied: verdicts.filter(([, v]) => v === true).map(([r]) => r), maybe: verdicts.some(([, v]) => v === UNKNOWN) };
}

/** For each bucket, whether a resource of `type` applying to it (by its `bucket`) is configured as `ok`. */
function besideEachBucket(resources: readonly PolicyResource[], reads: PreviewReads, type: string, ok: (props: Props) => boolean, problem: string) {
    return ofType(resources, BUCKET).flatMap((bucket) => {
        const { tied, maybe } = settingsOf(resources, bucket, type, reads);
        // A setting whose bucket is unknown may be this one: the unknown is reported (advisory).
        if (tied.some((r) => ok(r.props)) || maybe) return [];
        return [{ urn: bucket.urn, message: `bucket ${nameOf(bucket.urn)} ${problem}` }];
    });
}

export const s3Policies = [
    stackPolicy({
        name: "aws-s3-bucket-missing-public-access-block",
        description: "Checks that every S3 bucket has a public access block with all four settings on.",
        severity: "critical",
        remediationSteps: "Add an aws.s3.BucketPublicAccessBlock with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets true.",
        check: (resources, _config, _args, reads) => besideEachBucket(resources, reads, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            (p) => p.blockPublicAcls === true && p.blockPublicPolicy === true && p.ignorePublicAcls === true && p.restrictPublicBuckets === true,
            "has no public access block with all four settings true; add one."),
    }),
    stackPolicy({
        name: "aws-s3-bucket-enable-versioning",
        description: "Checks that every S3 bucket has versioning enabled.",
        severity: "medium",
        remediationSteps: "Add an aws.s3.BucketVersioning with status Enabled.",
        check: (resources, _config, _args, reads) => besideEachBucket(resources, reads, "aws:s3/bucketVersioning:BucketVersioning",
            (p) => p.versioningConfiguration?.status === AWS_S3.versioningStatus.enabled, "has no versioning; enable it."),
    }),
    stackPolicy({
        name: "aws-s3-bucket-enable-encryption",
        description: "Checks that every S3 bucket encrypts objects by default (SSE-S3 or SSE-KMS).",
        severity: "high",
        remediationSteps: "Add an aws.s3.BucketServerSideEncryptionConfiguration with sseAlgorithm aws:kms.",
        check: (resources, _config, _args, reads) => besideEachBucket(resources, reads, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
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
            const { tied, maybe } = settingsOf(resources, bucket, BUCKET_POLICY, reads);
            const documents = tied.map((r) => reads.known(() => r.props.policy));
            const judged = documents.filter((d) => d !== UNKNOWN);
            if (judged.some(deniesPlainHttp) || judged.length < documents.length || maybe) return [];
            return [{ urn: bucket.urn, message: `bucket ${nameOf(bucket.urn)} has no policy denying requests without TLS; add one.` }];
        }),
    }),
    stackPolicy<{ prefixes?: string[] }>({
        name: "aws-s3-bucket-configure-lifecycle",
        description: "Checks that every backup bucket expires objects under each backup prefix by a lifecycle rule.",
        severity: "medium",
        remediationSteps: "Add enabled lifecycle rules with an expiration for daily/ and production/.",
        configSchema: { properties: { prefixes: { type: "array", items: { type: "string" }, default: ["daily/", "production/"] } } },
        check: (resources, config, _args, reads) => (config.prefixes ?? ["daily/", "production/"]).flatMap((prefix) => besideEachBucket(resources, reads,
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            (p) => (p.rules ?? []).some((r: Props) => r.status === AWS_S3.lifecycleStatus.enabled && r.filter?.prefix === prefix && Number(r.expiration?.days) > 0),
            `has no enabled lifecycle rule expiring ${prefix}; add one.`)),
    }),
];
