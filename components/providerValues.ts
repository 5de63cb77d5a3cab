/**
 * Every enum-like or fixed-format value the program passes to a provider, checked against that
 * provider's own validation (not against the generated `.d.ts` comments, which for bridged
 * providers show camelCase spellings the provider rejects). One place: the components use these
 * constants, the policies check against them, and `tests/providerValues.spec.ts` checks the
 * planned resources against the providers' accepted sets copied into the test by hand.
 *
 * Sources, at the versions checked (the installed SDKs bridge these providers):
 * - Vercel: `@pulumiverse/vercel` 5.4.1 -> vercel/terraform-provider-vercel
 *   (`vercel/resource_project.go`, `vercel/resource_project_environment_variable.go`; the
 *   validators are identical in tags v3.16.0, v4.0.0, v5.0.0 and v5.10.0, commit c8a6711).
 * - Cloudflare: `@pulumi/cloudflare` 6.22.1 -> cloudflare/terraform-provider-cloudflare v5
 *   (`internal/services/{ruleset,dns_record,origin_ca_certificate,zone_setting}/`, v5.22.0,
 *   commit a2efdc5); zone setting values are not validated by the provider (`value` is a dynamic
 *   attribute) but by the API, whose schema is generated into cloudflare/cloudflare-typescript
 *   `src/resources/zones/settings.ts` (commit faaaf89).
 * - AWS: `@pulumi/aws` 7.48.0 -> hashicorp/terraform-provider-aws (`internal/service/rds/`) and
 *   the AWS API references linked below.
 *
 * Pure data: nothing here imports a provider, so the policy pack can import it.
 */

/**
 * `vercel_project.vercel_authentication.deployment_type`:
 * `stringvalidator.OneOf("standard_protection_new", "standard_protection", "all_deployments",
 * "only_preview_deployments", "none")` (vercel/terraform-provider-vercel
 * vercel/resource_project.go, the `vercel_authentication` attribute).
 */
export const VERCEL_DEPLOYMENT_TYPE = {
    /** "Standard Protection": every deployment but the production domains needs a Vercel login. */
    standardProtectionNew: "standard_protection_new",
    /** "Legacy Standard Protection". */
    standardProtection: "standard_protection",
    allDeployments: "all_deployments",
    onlyPreviewDeployments: "only_preview_deployments",
    none: "none",
} as const;

/** The deployment types that put preview deployments behind a Vercel login (all but `none`). */
export const VERCEL_PREVIEW_PROTECTING_TYPES: readonly string[] = [
    VERCEL_DEPLOYMENT_TYPE.standardProtectionNew,
    VERCEL_DEPLOYMENT_TYPE.standardProtection,
    VERCEL_DEPLOYMENT_TYPE.allDeployments,
    VERCEL_DEPLOYMENT_TYPE.onlyPreviewDeployments,
];

/**
 * `vercel_project.framework`: validated against the live list at https://api-frameworks.zeit.sh/
 * (vercel/terraform-provider-vercel vercel/validator_framework.go); Next.js's slug is `nextjs`
 * (vercel/vercel packages/frameworks/src/frameworks.ts, `slug: 'nextjs'`).
 */
export const VERCEL_FRAMEWORK = { nextjs: "nextjs" } as const;

/**
 * `vercel_project.git_repository.type`: `stringvalidator.OneOf("github", "gitlab", "bitbucket")`
 * (vercel/terraform-provider-vercel vercel/resource_project.go).
 */
export const VERCEL_GIT_PROVIDER = { github: "github" } as const;

/**
 * `vercel_project_environment_variable.target`: each element
 * `stringvalidator.OneOf("production", "preview", "development")`
 * (vercel/terraform-provider-vercel vercel/resource_project_environment_variable.go).
 */
export const VERCEL_ENV_TARGET = { production: "production", preview: "preview", development: "development" } as const;

/**
 * Zone settings the stack owning the zone sets (`cloudflare.ZoneSetting`, `settingId`/`value`).
 * The provider passes `value` through to `PATCH /zones/{zone_id}/settings/{setting_id}`
 * (terraform-provider-cloudflare internal/services/zone_setting/resource.go, `Create` calls
 * `Zones.Settings.Edit`); the API's accepted values (cloudflare-typescript
 * src/resources/zones/settings.ts): `ssl` one of off, flexible, full, strict, origin_pull;
 * `min_tls_version` one of 1.0, 1.1, 1.2, 1.3; `always_use_https` on or off.
 */
export const CLOUDFLARE_ZONE_SETTING = {
    ssl: { id: "ssl", strict: "strict" },
    minTlsVersion: { id: "min_tls_version", tls12: "1.2" },
    alwaysUseHttps: { id: "always_use_https", on: "on" },
} as const;

/** `min_tls_version`'s values, oldest first (cloudflare-typescript src/resources/zones/settings.ts, `MinTLSVersion`). */
export const CLOUDFLARE_TLS_VERSIONS: readonly string[] = ["1.0", "1.1", "1.2", "1.3"];

/**
 * `cloudflare_ruleset.kind`: `OneOfCaseInsensitive("managed", "custom", "root", "zone")`
 * (terraform-provider-cloudflare internal/services/ruleset/schema.go). A zone's phase entry
 * point ruleset has kind `zone`.
 */
export const CLOUDFLARE_RULESET_KIND = { zone: "zone" } as const;

/**
 * `cloudflare_ruleset.phase` (same file, `OneOfCaseInsensitive(...)`, 24 phases). Both phases
 * used here are entry-point phases: a zone has at most one entry point ruleset per phase
 * (https://developers.cloudflare.com/ruleset-engine/about/rulesets/), so the ruleset is a
 * singleton per zone (see docs/runbook.md, "First deploy into a zone that already has rulesets").
 */
export const CLOUDFLARE_PHASE = {
    firewallManaged: "http_request_firewall_managed",
    origin: "http_request_origin",
} as const;

/** `cloudflare_ruleset.rules[].action`: `OneOfCaseInsensitive("block", ..., "execute", ..., "route", ...)` (same file). */
export const CLOUDFLARE_RULE_ACTION = { execute: "execute", route: "route" } as const;

/**
 * `cloudflare_dns_record.type`: `OneOfCaseInsensitive("A", "AAAA", "CNAME", ...)`; `ttl`: "Setting to
 * 1 means 'automatic'. Value must be between 60 and 86400" (terraform-provider-cloudflare
 * internal/services/dns_record/schema.go).
 */
export const CLOUDFLARE_DNS_RECORD_TYPE = { a: "A", cname: "CNAME" } as const;
/** Cloudflare's "automatic" TTL, the one proxied records get. */
export const CLOUDFLARE_AUTOMATIC_TTL = 1;

/**
 * `cloudflare_origin_ca_certificate.request_type`: `OneOfCaseInsensitive("origin-rsa", "origin-ecc",
 * "keyless-certificate")`; `requested_validity` (days): `float64validator.OneOf(7, 30, 90, 365,
 * 730, 1095, 5475)` (terraform-provider-cloudflare internal/services/origin_ca_certificate/schema.go).
 */
export const CLOUDFLARE_ORIGIN_CA = {
    requestType: { ecc: "origin-ecc" },
    /** 15 years, the longest Cloudflare issues; renewal is a `pulumi up` away. */
    validityDays: 5475,
} as const;

/**
 * RDS PostgreSQL. `engine`: one of the provider's instance engines, `postgres` among them
 * (hashicorp/terraform-provider-aws internal/service/rds/consts.go, `InstanceEnginePostgres`).
 * `engineVersion`: a major version prefix is accepted with auto minor upgrades on; the actual
 * version is `engineVersionActual` (provider docs in node_modules/@pulumi/aws/rds/instance.d.ts).
 * `storageType`: `StringInSlice(StorageType_Values())` = standard, gp2, gp3, io1, io2,
 * aurora-iopt1 (same consts.go). Parameter group `family`: not validated by the provider; the
 * API's family for PostgreSQL 16 is `postgres16` (`aws rds describe-db-engine-versions --engine
 * postgres --query 'DBEngineVersions[].DBParameterGroupFamily'`). Parameter `applyMethod`:
 * `immediate` or `pending-reboot` (`types.ApplyMethod`, internal/service/rds/parameter_group.go).
 */
export const AWS_RDS = {
    engine: "postgres",
    engineVersion: "16",
    parameterGroupFamily: "postgres16",
    storageType: "gp3",
    applyMethod: { pendingReboot: "pending-reboot" },
} as const;

/**
 * Limits on RDS names, as the API states them and the provider validates them.
 * DB instance identifier: 1 to 63 letters, digits or hyphens, first a letter, no trailing hyphen,
 * no two consecutive hyphens (CreateDBInstance/RestoreDBInstanceFromDBSnapshot
 * `DBInstanceIdentifier`, https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html);
 * the provider further demands lowercase (`validIdentifier`, internal/service/rds/validate.go).
 * Final snapshot identifier: 1 to 255 letters, digits or hyphens, first a letter, no trailing
 * hyphen, no two consecutive hyphens (DeleteDBInstance `FinalDBSnapshotIdentifier`,
 * https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html; the
 * provider's `final_snapshot_identifier` validator in internal/service/rds/instance.go).
 */
export const AWS_RDS_NAME_LIMITS = {
    instanceIdentifierMaxLength: 63,
    instanceIdentifierPattern: /^[a-z](?:[a-z0-9]|-(?!-))*(?<!-)$/,
    snapshotIdentifierMaxLength: 255,
    snapshotIdentifierPattern: /^[A-Za-z](?:[A-Za-z0-9]|-(?!-))*(?<!-)$/,
} as const;

/**
 * EC2. `metadata_options.http_tokens`: `optional` or `required`; `http_endpoint`: `enabled` or
 * `disabled`; EBS `volume_type`: standard, gp2, gp3, io1, io2, sc1, st1; `aws_eip.domain`: `vpc`
 * or `standard` (provider docs in node_modules/@pulumi/aws/types/input.d.ts and ec2/eip.d.ts,
 * from hashicorp/terraform-provider-aws internal/service/ec2). Used by components/ec2Host.ts,
 * components/dataHost.ts, components/backendHost.ts and components/network.ts.
 */
export const AWS_EC2 = {
    httpTokens: { required: "required" },
    httpEndpoint: { enabled: "enabled" },
    volumeType: { gp3: "gp3" },
    eipDomain: { vpc: "vpc" },
} as const;

/**
 * S3. Default encryption `sse_algorithm`: AES256, aws:kms or aws:kms:dsse (S3 `ServerSideEncryption`,
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_ServerSideEncryptionByDefault.html);
 * versioning `status`: Enabled, Suspended (or Disabled, for import only); lifecycle rule `status`:
 * Enabled or Disabled (provider docs in node_modules/@pulumi/aws/types/input.d.ts). Used by
 * components/backups.ts and policy/s3.ts.
 */
export const AWS_S3 = {
    sseAlgorithms: ["AES256", "aws:kms", "aws:kms:dsse"],
    sseAlgorithm: { kms: "aws:kms" },
    versioningStatus: { enabled: "Enabled" },
    lifecycleStatus: { enabled: "Enabled" },
} as const;

/**
 * TLS private keys (`@pulumi/tls` -> hashicorp/terraform-provider-tls `tls_private_key`):
 * `algorithm` one of RSA, ECDSA, ED25519; `ecdsa_curve` one of P224, P256, P384, P521 (provider
 * docs in node_modules/@pulumi/tls/privateKey.d.ts). Cloudflare's Origin CA signs ECDSA P-256
 * CSRs for `origin-ecc`; host keys are Ed25519 (components/ec2Host.ts).
 */
export const TLS_PRIVATE_KEY = {
    ecdsa: { algorithm: "ECDSA", curve: "P256" },
    ed25519: { algorithm: "ED25519" },
} as const;

/**
 * The in-VPC deploy runner: a CodeBuild project that GitHub Actions uses as a self-hosted
 * runner (components/deployRunner.ts).
 * - `source.type` GITHUB and `source.auth.type` CODECONNECTIONS, `artifacts.type` NO_ARTIFACTS,
 *   `environment.type` LINUX_CONTAINER, `computeType` BUILD_GENERAL1_MEDIUM: the enums of
 *   hashicorp/terraform-provider-aws internal/service/codebuild/project.go (validated with
 *   `enum.Validate[types.SourceType]()` etc. from aws-sdk-go-v2 service/codebuild/types/enums.go).
 * - `aws/codebuild/standard:7.0`: CodeBuild's curated Ubuntu 22.04 image ("Docker images
 *   provided by CodeBuild", https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-available.html).
 * - Webhook filter `EVENT` = `WORKFLOW_JOB_QUEUED`, `WORKFLOW_NAME` and `ACTOR_ACCOUNT_ID`: the filter types the
 *   provider documents for `aws_codebuild_webhook` (`EVENT`, `BASE_REF`, `HEAD_REF`,
 *   `ACTOR_ACCOUNT_ID`, `FILE_PATH`, `COMMIT_MESSAGE`, `WORKFLOW_NAME`, ...) and the runner
 *   tutorial ("Tutorial: Configure a CodeBuild-hosted GitHub Actions runner",
 *   https://docs.aws.amazon.com/codebuild/latest/userguide/action-runner.html).
 * - Jobs select the runner with the label `codebuild-<project-name>-${{ github.run_id }}-${{ github.run_attempt }}`
 *   ("Label overrides supported with the CodeBuild-hosted GitHub Actions runner").
 */
export const AWS_CODEBUILD = {
    sourceType: "GITHUB",
    sourceAuthType: "CODECONNECTIONS",
    artifactsType: "NO_ARTIFACTS",
    environmentType: "LINUX_CONTAINER",
    computeType: "BUILD_GENERAL1_MEDIUM",
    image: "aws/codebuild/standard:7.0",
    filterEvent: "EVENT",
    workflowJobQueued: "WORKFLOW_JOB_QUEUED",
    filterWorkflowName: "WORKFLOW_NAME",
    filterActorAccountId: "ACTOR_ACCOUNT_ID",
} as const;

/**
 * `aws_lb.xff_header_processing_mode`: `validation.StringInSlice(httpXFFHeaderProcessingMode_Values(),
 * false)` = `append`, `preserve`, `remove`, default `append` (hashicorp/terraform-provider-aws
 * internal/service/elbv2/load_balancer.go and consts.go). What each does ("HTTP headers and
 * Application Load Balancers", X-Forwarded-For,
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/application/x-forwarded-headers.html):
 * the attribute `routing.http.xff_header_processing.mode` "enables you to modify, preserve, or
 * remove the X-Forwarded-For header in the HTTP request before the Application Load Balancer
 * sends the request to the target. The possible values for this attribute are append, preserve,
 * and remove. The default value for this attribute is append." With `append` the load balancer
 * creates the header when the client sent none, and appends the client's address otherwise, so
 * every request it forwards carries one; with `remove` none would.
 */
const AWS_LB_XFF_MODE = { append: "append", preserve: "preserve", remove: "remove" } as const;

/**
 * A listener rule's `fixed-response` action (`aws_lb_listener_rule.action.fixed_response`):
 * `content_type` `validation.StringInSlice("text/plain", "text/css", "text/html",
 * "application/javascript", "application/json")`, `status_code`
 * `validation.StringMatch(^[245]\d\d$)`, `message_body` at most 1024 characters
 * (hashicorp/terraform-provider-aws internal/service/elbv2/listener_rule.go). `priority`: 1 to
 * 50000, "A listener can't have multiple rules with the same priority" (provider docs in
 * node_modules/@pulumi/aws/lb/listenerRule.d.ts).
 */
const AWS_LB_FIXED_RESPONSE = {
    contentType: { textPlain: "text/plain" },
    statusCode: { notFound: "404" },
} as const;

/**
 * Elastic Load Balancing v2 (components/loadBalancer.ts, components/backendFleet.ts). Checked at
 * `@pulumi/aws` 7.48.0 against hashicorp/terraform-provider-aws internal/service/elbv2/ and
 * the AWS docs linked here:
 * - `aws_lb.load_balancer_type`: `application`, `gateway` or `network`; `ip_address_type`: `ipv4`,
 *   `dualstack`, or `dualstack-without-public-ipv4` (application only) (provider docs in
 *   node_modules/@pulumi/aws/lb/loadBalancer.d.ts). The VPC has no IPv6, so `ipv4`.
 * - `aws_lb_target_group.protocol`: `StringInSlice(elbv2.ProtocolEnum_Values(), true)` (HTTP,
 *   HTTPS, TCP, TLS, UDP, TCP_UDP, GENEVE); `target_type`: `StringInSlice(TargetTypeEnum_Values())`
 *   (instance, ip, lambda, alb); `health_check.protocol`: HTTP, HTTPS or TCP; `health_check.port`:
 *   `traffic-port` or a port number (internal/service/elbv2/target_group.go,
 *   `validTargetGroupHealthCheckPort`).
 * - `aws_lb_listener.default_action.type`: `forward`, `redirect`, `fixed-response`,
 *   `authenticate-cognito`, `authenticate-oidc`, `jwt-validation` (provider docs in
 *   node_modules/@pulumi/aws/types/input.d.ts, `ListenerDefaultAction.type`); a listener rule's
 *   `action.type` takes the same six (`ListenerRuleAction.type`, same file).
 * - `aws_lb.xff_header_processing_mode` and a rule's fixed response: {@link AWS_LB_XFF_MODE},
 *   {@link AWS_LB_FIXED_RESPONSE} above.
 * - `ssl_policy`: not validated by the provider (a name the API looks up). `ELBSecurityPolicy-
 *   TLS13-1-2-2021-06` is TLS 1.3 and 1.2 only, forward-secret ciphers ("Security policies for
 *   your Application Load Balancer",
 *   https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html).
 *   The page recommended it ("We recommend the ELBSecurityPolicy-TLS13-1-2-2021-06 security
 *   policy, which includes TLS 1.3, and is backwards compatible with TLS 1.2", as quoted in
 *   cloudposse/terraform-aws-alb v2.2.0's release notes) as the console's default; it now names
 *   the post-quantum `ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09` as the console default. Both
 *   refuse TLS 1.0 and 1.1. The API's own default for listeners made outside the console
 *   (`ELBSecurityPolicy-2016-08`, TLS 1.0 and up) is why the policy is never left out.
 */
export const AWS_LB = {
    loadBalancerType: { application: "application" },
    ipAddressType: { ipv4: "ipv4" },
    protocol: { http: "HTTP", https: "HTTPS" },
    targetType: { instance: "instance" },
    healthCheckPort: { trafficPort: "traffic-port" },
    actionType: { forward: "forward", redirect: "redirect", fixedResponse: "fixed-response" },
    sslPolicy: { tls13And12: "ELBSecurityPolicy-TLS13-1-2-2021-06" },
    xffHeaderProcessingMode: AWS_LB_XFF_MODE,
    fixedResponse: AWS_LB_FIXED_RESPONSE,
} as const;

/**
 * Names of load balancers and target groups, and the provider's autonaming of them.
 * - The API: a load balancer's name "can have a maximum of 32 characters, must contain only
 *   alphanumeric characters or hyphens, must not begin or end with a hyphen, and must not begin
 *   with \"internal-\"" (CreateLoadBalancer `Name`,
 *   https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html);
 *   a target group's "can have a maximum of 32 characters" (CreateTargetGroup `Name`,
 *   https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html).
 * - The provider: an autonamed resource (no `name` input) is named `<resource name>-<7 random
 *   characters>`, 8 characters more than the resource's name, and the bridge refuses a resource
 *   name whose autoname would exceed the maximum (the create fails; no shorter name is tried). pulumi/pulumi-aws#1317
 *   ("Better error message about long resource name - TargetGroup") shows the failure: a
 *   TargetGroup named `name-longer-than-30-characters` was refused with `"name" cannot be longer
 *   than 32 characters`, and the bridge's message for other resources reads "plus 7 random chars
 *   is longer than maximum length"; pulumi/pulumi-aws#1932 ("Fix TargetGroup's autoname length")
 *   set the target group's autoname maximum to the API's 32.
 * So an autonamed load balancer or target group needs a resource name of at most 32 - 8 = 24
 * characters ({@link elbAutonameProblem}).
 */
export const AWS_LB_NAME_LIMITS = {
    maxLength: 32,
    /** `-` plus 7 random characters. */
    autonameSuffixLength: 8,
} as const;

/**
 * Why an autonamed load balancer or target group called `resourceName` could not be created
 * ({@link AWS_LB_NAME_LIMITS}); undefined when its autoname fits.
 */
export function elbAutonameProblem(resourceName: string): string | undefined {
    const { maxLength, autonameSuffixLength } = AWS_LB_NAME_LIMITS;
    const length = resourceName.length + autonameSuffixLength;
    if (length <= maxLength) return undefined;
    return `"${resourceName}" is ${resourceName.length} characters; with the provider's "-" and 7 random characters its name would be ${length}, `
        + `above the ${maxLength} AWS allows: shorten it to ${maxLength - autonameSuffixLength} characters at most`;
}

/**
 * ACM certificate import (`aws.acm.Certificate` with `privateKey` and `certificateBody`). ACM
 * imports RSA 1024 to 4096, and ECDSA P-256 (`EC_prime256v1`), P-384 and P-521, and "Application
 * Load Balancer supports all of the algorithms available from ACM"; the key must be unencrypted
 * PEM of at most 5 KB ("Prerequisites for importing ACM certificates",
 * https://docs.aws.amazon.com/acm/latest/userguide/import-certificate-prerequisites.html).
 * The Cloudflare Origin CA certificate's key is ECDSA P-256 ({@link TLS_PRIVATE_KEY}.ecdsa), so it
 * imports as `EC_prime256v1`.
 */
export const AWS_ACM = {
    importedKeyAlgorithm: { ecdsaP256: "EC_prime256v1" },
} as const;
