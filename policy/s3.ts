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

const list = (value: unknown): unknown[] => (value === undefined || value === null ? [] : [value].flat());

/** Whether an IAM pattern (wildcards `*` and `?`) matches `value`. */
function matches(pattern: unknown, value: string, ignoreCase = false): boolean {
    const source = `^${String(pattern).replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`;
    return new RegExp(source, ignoreCase ? "i" : "").test(value);
}

/** A bucket policy document read, or why it can't be. */
function readDocument(document: unknown): { ok: true; policy: Props | undefined } | { ok: false } {
    if (typeof document !== "string") return { ok: true, policy: document as Props | undefined };
    try {
        return { ok: true, policy: JSON.parse(document) };
    } catch {
        return { ok: false };
    }
}

/**
 * The bucket's names as far as they are known: its `bucket`/`id` (the same for S3) or the name
 * in its `arn`; else, where only the inputs are known (the offline plan), its `bucketPrefix`.
 * {@link UNKNOWN} when a name is unknown in a preview.
 */
function namesOf(bucket: PolicyResource, reads: PreviewReads): { names: string[]; prefix?: string } | typeof UNKNOWN {
    const read = ["bucket", "id", "arn"].filter((k) => k in bucket.props).map((k) => [k, reads.known(() => bucket.props[k])] as const);
    if (read.some(([, v]) => v === UNKNOWN)) return UNKNOWN;
    const names = read.filter(([, v]) => typeof v === "string" && v !== "").map(([k, v]) => (k === "arn" ? String(v).replace(/^arn:aws[a-z-]*:s3:::/, "") : String(v)));
    if (names.length > 0) return { names };
    const prefix = reads.known(() => bucket.props.bucketPrefix);
    if (prefix === UNKNOWN) return UNKNOWN;
    return { names: [], prefix: typeof prefix === "string" ? prefix : undefined };
}

/**
 * Whether a bucket policy document has a statement denying every action, to everyone, on the
 * bucket and its objects, when the request is not over TLS: Effect Deny, Principal "*",
 * Action s3:* (or *), Resource covering arn:aws:s3:::<bucket> and arn:aws:s3:::<bucket>/*,
 * Condition Bool aws:SecureTransport false. A Deny narrower in any of these leaves some
 * plain-HTTP request allowed.
 */
function deniesPlainHttp(policy: Props | undefined, bucket: { names: string[]; prefix?: string } | typeof UNKNOWN): boolean {
    return list(policy?.Statement).some((entry) => {
        const s = entry as Props;
        if (s?.Effect !== "Deny" || "NotAction" in s || "NotPrincipal" in s || "NotResource" in s) return false;
        const principal = s.Principal;
        const everyone = principal === "*" || (typeof principal === "object" && principal !== null && Object.keys(principal).length === 1
            && list(principal.AWS).length > 0 && list(principal.AWS).every((p) => p === "*"));
        if (!everyone) return false;
        if (!list(s.Action).some((a) => a === "*" || String(a).toLowerCase() === "s3:*")) return false;
        const secure = s.Condition?.Bool?.["aws:SecureTransport"];
        if (!(secure === "false" || secure === false) || Object.keys(s.Condition ?? {}).length !== 1 || Object.keys(s.Condition.Bool).length !== 1) return false;
        if (bucket === UNKNOWN) return true;
        const resources = list(s.Resource).map(String);
        const covered = (arn: string) => resources.some((r) => matches(r, arn));
        const covers = (name: string) => covered(`arn:aws:s3:::${name}`) && covered(`arn:aws:s3:::${name}/*`);
        if (bucket.names.length > 0) return bucket.names.every(covers);
        // Named from a prefix (offline plan): the statement's own bucket ARNs must carry the prefix.
        if (bucket.prefix === undefined) return false;
        return resources.map((r) => /^arn:aws:s3:::([^/*?]+)$/.exec(r)?.[1]).some((name) => name !== undefined && name.startsWith(bucket.prefix as string) && covers(name));
    });
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
        // Every setting tied to the bucket must be ok: a second, weaker one may be the one applied last.
        if ((tied.length > 0 && tied.every((r) => ok(r.props))) || maybe) return [];
        const weak = tied.filter((r) => !ok(r.props)).map((r) => nameOf(r.urn));
        const conflicting = weak.length < tied.length ? ` (${weak.join(", ")} is tied to it too and is not configured so; every one tied to the bucket must be)` : "";
        return [{ urn: bucket.urn, message: `bucket ${nameOf(bucket.urn)} ${problem}${conflicting}` }];
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
        description: "Checks that every S3 bucket's policy denies requests without TLS: a statement with Effect Deny, Principal \"*\", Action s3:*, Resource covering the bucket and its objects, Condition aws:SecureTransport false.",
        severity: "high",
        remediationSteps: "Add a bucket policy statement that denies s3:* to Principal \"*\" on arn:aws:s3:::<bucket> and arn:aws:s3:::<bucket>/* when aws:SecureTransport is false.",
        // In a preview of a new stack the document is unknown (it names the bucket's ARN, which
        // AWS assigns on create): a bucket without any bucket policy beside it is still caught
        // then; the statement is judged wherever the document is known (a preview of an
        // existing stack, the end of `pulumi up`), and otherwise reported as not judged.
        check: (resources, _config, _args, reads) => ofType(resources, BUCKET).flatMap((bucket) => {
            const { tied, maybe } = settingsOf(resources, bucket, BUCKET_POLICY, reads);
            const documents = tied.map((r) => [r, reads.known(() => r.props.policy)] as const);
            const judged = documents.filter(([, d]) => d !== UNKNOWN).map(([r, d]) => [r, readDocument(d)] as const);
            const unreadable = judged.filter(([, d]) => !d.ok).map(([r]) => ({ urn: r.urn,
                message: `bucket policy ${nameOf(r.urn)} (of bucket ${nameOf(bucket.urn)}) is not valid JSON, so it can't be judged (and AWS refuses it); write it with JSON.stringify.` }));
            const names = namesOf(bucket, reads);
            if (judged.some(([, d]) => d.ok && deniesPlainHttp(d.policy, names)) || judged.length < documents.length || maybe) return unreadable;
            return [...unreadable, { urn: bucket.urn, message: `bucket ${nameOf(bucket.urn)} has no policy denying requests without TLS; add one.` }];
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
