/**
 * Every enum-like provider argument of both stacks' planned resources, checked against the
 * values the provider itself accepts. The accepted sets are copied here by hand from each
 * provider's validators (cited per rule), not imported from components/providerValues.ts, so
 * this test does not share the program's belief about them.
 */
import { strict as assert } from "assert";
import { OfflineRun, PlannedResource, unwrapSecrets } from "../tools/offlineRun";
import { checkPolicies, loadPackConfig } from "../tools/policyCheck";
import { planStack } from "./helpers";

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The values at `path` ("a.b", "list[].c"); absent ones are skipped. */
function valuesAt(value: unknown, path: string): unknown[] {
    if (path === "") return value === undefined ? [] : [value];
    const [head, ...rest] = path.split(".");
    const tail = rest.join(".");
    if (head.endsWith("[]")) {
        const list = (value as Props | undefined)?.[head.slice(0, -2)];
        return Array.isArray(list) ? list.flatMap((item) => valuesAt(item, tail)) : [];
    }
    return valuesAt((value as Props | undefined)?.[head], tail);
}

interface Rule { readonly type: string; readonly path: string; readonly accepted: readonly unknown[]; readonly source: string }

const TF_VERCEL = "vercel/terraform-provider-vercel (c8a6711, v5.10.0; same in v3.16.0 .. v5.10.0)";
const TF_CLOUDFLARE = "cloudflare/terraform-provider-cloudflare (a2efdc5, v5.22.0)";
const TF_AWS = "hashicorp/terraform-provider-aws";
const EBS_VOLUME_TYPES = ["standard", "gp2", "gp3", "io1", "io2", "sc1", "st1"];

const RULES: Rule[] = [
    // Vercel
    { type: "vercel:index/project:Project", path: "vercelAuthentication.deploymentType",
        accepted: ["standard_protection_new", "standard_protection", "all_deployments", "only_preview_deployments", "none"],
        source: `${TF_VERCEL} vercel/resource_project.go: stringvalidator.OneOf on vercel_authentication.deployment_type` },
    { type: "vercel:index/project:Project", path: "gitRepository.type", accepted: ["github", "gitlab", "bitbucket"],
        source: `${TF_VERCEL} vercel/resource_project.go: stringvalidator.OneOf on git_repository.type` },
    { type: "vercel:index/project:Project", path: "framework",
        // The provider checks the live list at https://api-frameworks.zeit.sh/; these are its
        // first slugs as vercel/vercel packages/frameworks/src/frameworks.ts lists them.
        accepted: ["blitzjs", "nextjs", "gatsby", "remix", "hexo", "eleventy", "docusaurus-2", "docusaurus", "preact"],
        source: `${TF_VERCEL} vercel/validator_framework.go` },
    { type: "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable", path: "targets[]", accepted: ["production", "preview", "development"],
        source: `${TF_VERCEL} vercel/resource_project_environment_variable.go: setvalidator.ValueStringsAre(stringvalidator.OneOf(...)) on target` },
    // Cloudflare
    { type: "cloudflare:index/ruleset:Ruleset", path: "kind", accepted: ["managed", "custom", "root", "zone"],
        source: `${TF_CLOUDFLARE} internal/services/ruleset/schema.go: kind` },
    { type: "cloudflare:index/ruleset:Ruleset", path: "phase", accepted: [
        "ddos_l4", "ddos_l7", "http_config_settings", "http_custom_errors", "http_log_custom_fields", "http_ratelimit",
        "http_request_cache_settings", "http_request_dynamic_redirect", "http_request_firewall_custom", "http_request_firewall_managed",
        "http_request_late_transform", "http_request_origin", "http_request_redirect", "http_request_sanitize", "http_request_sbfm",
        "http_request_transform", "http_response_cache_settings", "http_response_compression", "http_response_firewall_managed",
        "http_response_headers_transform", "magic_transit", "magic_transit_ids_managed", "magic_transit_managed", "magic_transit_ratelimit",
    ], source: `${TF_CLOUDFLARE} internal/services/ruleset/schema.go: phase` },
    { type: "cloudflare:index/ruleset:Ruleset", path: "rules[].action", accepted: [
        "block", "challenge", "compress_response", "ddos_dynamic", "execute", "force_connection_close", "js_challenge", "log",
        "log_custom_field", "managed_challenge", "redirect", "rewrite", "route", "score", "serve_error", "set_cache_control",
        "set_cache_settings", "set_cache_tags", "set_config", "skip",
    ], source: `${TF_CLOUDFLARE} internal/services/ruleset/schema.go: rules.action` },
    { type: "cloudflare:index/dnsRecord:DnsRecord", path: "type", accepted: [
        "A", "AAAA", "CNAME", "MX", "NS", "OPENPGPKEY", "PTR", "TXT", "CAA", "CERT", "DNSKEY", "DS", "HTTPS", "LOC", "NAPTR", "SMIMEA",
        "SRV", "SSHFP", "SVCB", "TLSA", "URI",
    ], source: `${TF_CLOUDFLARE} internal/services/dns_record/schema.go: type` },
    { type: "cloudflare:index/originCaCertificate:OriginCaCertificate", path: "requestType", accepted: ["origin-rsa", "origin-ecc", "keyless-certificate"],
        source: `${TF_CLOUDFLARE} internal/services/origin_ca_certificate/schema.go: request_type` },
    { type: "cloudflare:index/originCaCertificate:OriginCaCertificate", path: "requestedValidity", accepted: [7, 30, 90, 365, 730, 1095, 5475],
        source: `${TF_CLOUDFLARE} internal/services/origin_ca_certificate/schema.go: requested_validity float64validator.OneOf` },
    // AWS
    { type: "aws:rds/instance:Instance", path: "engine", accepted: [
        "aurora-mysql", "aurora-postgresql", "db2-ae", "db2-se", "mariadb", "mysql", "oracle-ee", "oracle-ee-cdb", "oracle-se2",
        "oracle-se2-cdb", "postgres", "sqlserver-ee", "sqlserver-ex", "sqlserver-se", "sqlserver-web",
    ], source: `${TF_AWS} internal/service/rds/consts.go: InstanceEngine*` },
    { type: "aws:rds/instance:Instance", path: "storageType", accepted: ["standard", "gp2", "gp3", "io1", "io2", "aurora-iopt1"],
        source: `${TF_AWS} internal/service/rds/consts.go: StorageType_Values` },
    { type: "aws:rds/parameterGroup:ParameterGroup", path: "parameters[].applyMethod", accepted: ["immediate", "pending-reboot"],
        source: `${TF_AWS} internal/service/rds/parameter_group.go: types.ApplyMethod` },
    { type: "aws:ec2/instance:Instance", path: "metadataOptions.httpTokens", accepted: ["optional", "required"],
        source: `${TF_AWS} internal/service/ec2 (http_tokens: optional | required)` },
    { type: "aws:ec2/instance:Instance", path: "metadataOptions.httpEndpoint", accepted: ["enabled", "disabled"],
        source: `${TF_AWS} internal/service/ec2 (http_endpoint: enabled | disabled)` },
    { type: "aws:ec2/instance:Instance", path: "rootBlockDevice.volumeType", accepted: EBS_VOLUME_TYPES,
        source: "EC2 VolumeType (node_modules/@pulumi/aws/types/input.d.ts: standard, gp2, gp3, io1, io2, sc1, st1)" },
    { type: "aws:ec2/instance:Instance", path: "ebsBlockDevices[].volumeType", accepted: EBS_VOLUME_TYPES,
        source: "EC2 VolumeType (node_modules/@pulumi/aws/types/input.d.ts)" },
    { type: "aws:ec2/eip:Eip", path: "domain", accepted: ["vpc", "standard"], source: "EC2 DomainType (node_modules/@pulumi/aws/ec2/eip.d.ts)" },
    { type: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        path: "rules[].applyServerSideEncryptionByDefault.sseAlgorithm", accepted: ["AES256", "aws:kms", "aws:kms:dsse"],
        source: "S3 ServerSideEncryption (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ServerSideEncryptionByDefault.html)" },
    { type: "aws:s3/bucketVersioning:BucketVersioning", path: "versioningConfiguration.status", accepted: ["Enabled", "Suspended", "Disabled"],
        source: "node_modules/@pulumi/aws/types/input.d.ts: versioning status" },
    { type: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", path: "rules[].status", accepted: ["Enabled", "Disabled"],
        source: "node_modules/@pulumi/aws/types/input.d.ts: lifecycle rule status" },
    // Elastic Load Balancing v2 (the load balancer in front of the fleet)
    { type: "aws:lb/loadBalancer:LoadBalancer", path: "loadBalancerType", accepted: ["application", "gateway", "network"],
        source: `${TF_AWS} internal/service/elbv2/load_balancer.go: load_balancer_type (node_modules/@pulumi/aws/lb/loadBalancer.d.ts)` },
    { type: "aws:lb/loadBalancer:LoadBalancer", path: "ipAddressType", accepted: ["ipv4", "dualstack", "dualstack-without-public-ipv4"],
        source: "node_modules/@pulumi/aws/lb/loadBalancer.d.ts: ipAddressType" },
    { type: "aws:lb/targetGroup:TargetGroup", path: "protocol", accepted: ["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE"],
        source: `${TF_AWS} internal/service/elbv2/target_group.go: StringInSlice(elbv2.ProtocolEnum_Values(), true)` },
    { type: "aws:lb/targetGroup:TargetGroup", path: "targetType", accepted: ["instance", "ip", "lambda", "alb"],
        source: `${TF_AWS} internal/service/elbv2/target_group.go: StringInSlice(elbv2.TargetTypeEnum_Values(), false)` },
    { type: "aws:lb/targetGroup:TargetGroup", path: "healthCheck.protocol", accepted: ["HTTP", "HTTPS", "TCP"],
        source: `${TF_AWS} internal/service/elbv2/target_group.go: health_check.protocol` },
    { type: "aws:lb/listener:Listener", path: "protocol", accepted: ["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE"],
        source: `${TF_AWS} internal/service/elbv2/listener.go: protocol (elbv2.ProtocolEnum_Values)` },
    { type: "aws:lb/listener:Listener", path: "defaultActions[].type", accepted: ["forward", "redirect", "fixed-response", "authenticate-cognito", "authenticate-oidc", "jwt-validation"],
        source: "node_modules/@pulumi/aws/types/input.d.ts: ListenerDefaultAction.type" },
    { type: "aws:lb/loadBalancer:LoadBalancer", path: "xffHeaderProcessingMode", accepted: ["append", "preserve", "remove"],
        source: `${TF_AWS} internal/service/elbv2/load_balancer.go: xff_header_processing_mode StringInSlice(httpXFFHeaderProcessingMode_Values(), false)` },
    { type: "aws:lb/listenerRule:ListenerRule", path: "actions[].type", accepted: ["forward", "redirect", "fixed-response", "authenticate-cognito", "authenticate-oidc", "jwt-validation"],
        source: "node_modules/@pulumi/aws/types/input.d.ts: ListenerRuleAction.type" },
    { type: "aws:lb/listenerRule:ListenerRule", path: "actions[].fixedResponse.contentType",
        accepted: ["text/plain", "text/css", "text/html", "application/javascript", "application/json"],
        source: `${TF_AWS} internal/service/elbv2/listener_rule.go: fixed_response.content_type StringInSlice(...)` },
    // TLS
    { type: "tls:index/privateKey:PrivateKey", path: "algorithm", accepted: ["RSA", "ECDSA", "ED25519"],
        source: "hashicorp/terraform-provider-tls tls_private_key (node_modules/@pulumi/tls/privateKey.d.ts)" },
    { type: "tls:index/privateKey:PrivateKey", path: "ecdsaCurve", accepted: ["P224", "P256", "P384", "P521"],
        source: "hashicorp/terraform-provider-tls tls_private_key (node_modules/@pulumi/tls/privateKey.d.ts)" },
];

/**
 * Zone settings: the provider passes `value` to the API unchecked, the API takes (cloudflare/
 * cloudflare-typescript faaaf89, src/resources/zones/settings.ts, from Cloudflare's OpenAPI
 * schema) these values per setting.
 */
const ZONE_SETTING_VALUES: Record<string, readonly string[]> = {
    ssl: ["off", "flexible", "full", "strict", "origin_pull"],
    min_tls_version: ["1.0", "1.1", "1.2", "1.3"],
    always_use_https: ["on", "off"],
};

const inputsOf = (r: PlannedResource) => unwrapSecrets(r.inputs) as Props;

describe("provider values: every enum-like argument is one the provider accepts", () => {
    const runs: Record<string, OfflineRun> = {};
    before(async function () {
        this.timeout(120_000);
        for (const stack of ["staging", "production"]) runs[stack] = await planStack(stack);
    });

    for (const rule of RULES) {
        it(`${rule.type.split(":").pop()} ${rule.path} is one the provider accepts`, () => {
            let checked = 0;
            for (const [stack, run] of Object.entries(runs)) {
                for (const r of run.resources.filter((x) => x.type === rule.type)) {
                    for (const value of valuesAt(inputsOf(r), rule.path)) {
                        assert.ok(rule.accepted.includes(value), `${stack} ${r.name}: ${rule.path} = ${JSON.stringify(value)}; the provider accepts ${JSON.stringify(rule.accepted)} (${rule.source})`);
                        checked++;
                    }
                }
            }
            assert.ok(checked > 0, `no planned ${rule.type} sets ${rule.path}: the rule checks nothing`);
        });
    }

    it("zone settings: each setting id is one the API has, with one of its values", () => {
        const settings = Object.values(runs).flatMap((run) => run.resources.filter((r) => r.type === "cloudflare:index/zoneSetting:ZoneSetting").map(inputsOf));
        assert.deepEqual(settings.map((s) => s.settingId).sort(), ["always_use_https", "min_tls_version", "ssl"]);
        for (const s of settings) assert.ok(ZONE_SETTING_VALUES[s.settingId]?.includes(s.value), `${s.settingId} = ${JSON.stringify(s.value)}`);
    });

    it("DNS records: ttl is 1 (automatic) or 60..86400 seconds (dns_record/schema.go: ttl)", () => {
        const ttls = Object.values(runs).flatMap((run) => run.resources.filter((r) => r.type === "cloudflare:index/dnsRecord:DnsRecord").map((r) => inputsOf(r).ttl));
        assert.ok(ttls.length >= 4);
        for (const ttl of ttls) assert.ok(ttl === 1 || (ttl >= 60 && ttl <= 86400), `ttl ${ttl}`);
    });

    it("the target group's health check and deregistration delay are within the API's limits (interval 5..300 s, timeout 2..120 s and below the interval, thresholds 2..10, delay 0..3600 s)", () => {
        for (const run of Object.values(runs)) {
            const group = inputsOf(run.resources.find((r) => r.type === "aws:lb/targetGroup:TargetGroup") as PlannedResource);
            const h = group.healthCheck;
            assert.ok(h.interval >= 5 && h.interval <= 300, `interval ${h.interval}`);
            assert.ok(h.timeout >= 2 && h.timeout <= 120 && h.timeout < h.interval, `timeout ${h.timeout}`);
            for (const t of [h.healthyThreshold, h.unhealthyThreshold]) assert.ok(t >= 2 && t <= 10, `threshold ${t}`);
            assert.ok(group.deregistrationDelay >= 0 && group.deregistrationDelay <= 3600, `delay ${group.deregistrationDelay}`);
            assert.match(h.port, /^(traffic-port|[1-9][0-9]{0,4})$/);
            assert.match(h.matcher, /^[0-9]{3}([,-][0-9]{3})*$/);
        }
    });

    it("the listener rule's fixed response: status code ^[245]\\d\\d$, body at most 1024 characters, priority 1..50000 (listener_rule.go)", () => {
        let checked = 0;
        for (const run of Object.values(runs)) {
            for (const rule of run.resources.filter((r) => r.type === "aws:lb/listenerRule:ListenerRule").map(inputsOf)) {
                assert.ok(Number.isInteger(rule.priority) && rule.priority >= 1 && rule.priority <= 50000, `priority ${rule.priority}`);
                for (const action of rule.actions.filter((a: Props) => a.type === "fixed-response")) {
                    assert.match(action.fixedResponse.statusCode, /^[245]\d\d$/);
                    assert.ok(String(action.fixedResponse.messageBody ?? "").length <= 1024);
                    checked++;
                }
            }
        }
        assert.equal(checked, 2, "one fixed response per stack");
    });

    it("the listener's TLS policy is one of ELB's TLS 1.3 policies (a name the API looks up; the provider does not validate it)", () => {
        for (const run of Object.values(runs)) {
            const listener = inputsOf(run.resources.find((r) => r.type === "aws:lb/listener:Listener") as PlannedResource);
            assert.match(listener.sslPolicy, /^ELBSecurityPolicy-TLS13-1-[23]-/);
        }
    });

    it("the RDS parameter group's family is PostgreSQL's for the engine's major version (postgres<major>, describe-db-engine-versions)", () => {
        for (const run of Object.values(runs)) {
            const instance = inputsOf(run.resources.find((r) => r.type === "aws:rds/instance:Instance") as PlannedResource);
            const group = inputsOf(run.resources.find((r) => r.type === "aws:rds/parameterGroup:ParameterGroup") as PlannedResource);
            assert.equal(instance.engine, "postgres");
            assert.equal(group.family, `postgres${String(instance.engineVersion).split(".")[0]}`);
        }
    });
});

describe("vercel-project-enable-preview-protection judges the provider's spellings", () => {
    const POLICY = "vercel-project-enable-preview-protection";
    let production: OfflineRun;
    before(async function () {
        this.timeout(120_000);
        production = await planStack("production");
    });

    /** The policy's violations on the production plan with the project's deploymentType set to `mode`. */
    async function violationsWith(mode: string): Promise<string[]> {
        const copy: OfflineRun = { ...production, resources: production.resources.map((r) => ({ ...r, inputs: structuredClone(unwrapSecrets(r.inputs)) as Props })) };
        const project = copy.resources.find((r) => r.type === "vercel:index/project:Project") as PlannedResource & { inputs: Props };
        project.inputs.vercelAuthentication = { deploymentType: mode };
        const violations = await checkPolicies(copy, loadPackConfig("production"));
        return violations.filter((v) => v.policy === POLICY).map((v) => v.message);
    }

    it("the program's own value passes", async () => {
        const project = inputsOf(production.resources.find((r) => r.type === "vercel:index/project:Project") as PlannedResource);
        assert.equal(project.vercelAuthentication.deploymentType, "standard_protection_new");
        const violations = await checkPolicies(production, loadPackConfig("production"));
        assert.deepEqual(violations.filter((v) => v.policy === POLICY), []);
    });

    for (const mode of ["standard_protection_new", "standard_protection", "all_deployments", "only_preview_deployments"]) {
        it(`"${mode}" protects previews: no violation`, async () => {
            assert.deepEqual(await violationsWith(mode), []);
        });
    }

    for (const mode of ["none", "standardProtectionNew", "allDeployments"]) {
        it(`"${mode}" violates (${mode === "none" ? "previews unprotected" : "the SDK doc's camelCase, which the provider rejects"})`, async () => {
            // Resource policies' messages start with the resource's name (policy/policyKit.ts).
            assert.deepEqual(await violationsWith(mode), [`pakashop-production-frontend-project: vercelAuthentication.deploymentType is "${mode}"; set it to "standard_protection_new".`]);
        });
    }
});
