/**
 * Pulumi mocks for running the real program offline: deterministic stand-ins for what the
 * clouds would compute (ids, addresses, keys), and every registration recorded. Unknown
 * provider functions fail loudly, so a new data source can't slip through untested.
 */
import { HOST_KEY_STEP_SUFFIX } from "../components/hostKey";
import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";

/** One resource registration as the program made it. */
export interface Registration {
    readonly type: string;
    readonly name: string;
    readonly custom: boolean;
    /** Inputs as the engine receives them; secrets are still wrapped (see `redactSecrets`). */
    readonly inputs: Record<string, unknown>;
}

/** Cloudflare's published ranges (https://www.cloudflare.com/ips/), as the provider returns them. */
export const CLOUDFLARE_IPV4 = [
    "173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22", "141.101.64.0/18",
    "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20", "197.234.240.0/22", "198.41.128.0/17",
    "162.158.0.0/15", "104.16.0.0/13", "104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
];
export const CLOUDFLARE_IPV6 = [
    "2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32", "2405:8100::/32", "2a06:98c0::/29", "2c0f:f248::/32",
];

/** Address the mocked Elastic IP gets (TEST-NET-3, never routed). */
export const MOCK_PUBLIC_IP = "203.0.113.10";
export const MOCK_PRIVATE_IP = "172.31.16.10";
export const MOCK_ACCOUNT_ID = "123456789012";
/** The region every offline run is in (the stack files' `aws:region`, the getRegion answer). */
export const MOCK_REGION = "ap-south-1";
/** The load balancer's DNS name a mocked `aws.lb.LoadBalancer` gets (ELB's `<name>-<id>.<region>.elb.amazonaws.com` form). */
export const mockLoadBalancerDnsName = (name: string) => `${name}-1234567890.${MOCK_REGION}.elb.amazonaws.com`;
/** The ARN a mocked target group gets (the shape the rollout's drain and return scripts accept). */
export const mockTargetGroupArn = (name: string) => `arn:aws:elasticloadbalancing:${MOCK_REGION}:${MOCK_ACCOUNT_ID}:targetgroup/${name.slice(0, 32)}/0123456789abcdef`;
/** A well-formed Ed25519 key line (51-byte blob; its 32 key bytes spell "MockHostKeyForOfflinePlansOnly00"). */
export const MOCK_HOST_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1vY2tIb3N0S2V5Rm9yT2ZmbGluZVBsYW5zT25seTAw";

/**
 * The id the mocks give a resource once created (applied runs): `<name>-id`. Inputs built from
 * a resource's id hold it, which is how the offline policy check finds the property
 * dependencies the engine would give policies (tools/policyCheck.ts).
 */
export const mockId = (name: string): string => `${name}-id`;

/** A hook that lets a caller (the real-host e2e) compute a resource's state itself. */
export type ResourceHook = (args: pulumi.runtime.MockResourceArgs) => Promise<pulumi.runtime.MockResourceResult | undefined>;

export class RecordingMocks implements pulumi.runtime.Mocks {
    readonly registrations: Registration[] = [];
    /** Errors the hook raised: the engine would fail the update with them. */
    readonly errors: Error[] = [];

    /**
     * @param hook lets a caller compute a resource's state itself (the real-host e2e; up only).
     * @param preview answer as the engine does in a preview of a fresh stack: see {@link previewState}.
     */
    constructor(private readonly hook?: ResourceHook, private readonly preview = false) {}

    async newResource(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
        this.registrations.push({ type: args.type, name: args.name, custom: args.custom ?? false, inputs: args.inputs });
        let hooked: pulumi.runtime.MockResourceResult | undefined;
        try {
            hooked = this.hook ? await this.hook(args) : undefined;
        } catch (error) {
            this.errors.push(error as Error);
            throw error;
        }
        if (hooked) return hooked;
        if (this.preview) return previewState(args);
        // The provider autonames in `Check`, whether previewing or applying.
        return { id: mockId(args.name), state: { ...args.inputs, ...autoName(args), ...computedState(args) } };
    }

    call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        switch (args.token) {
            case "aws:ec2/getAmi:getAmi":
                return { id: "ami-0123456789abcdef0", name: "debian-12-amd64-20261101-1234", architecture: "x86_64" };
            case "aws:index/getAvailabilityZones:getAvailabilityZones":
                return { id: "zones", names: ["ap-south-1a", "ap-south-1b", "ap-south-1c"], zoneIds: ["aps1-az1", "aps1-az3", "aps1-az2"] };
            case "aws:index/getRegion:getRegion":
                return { id: "ap-south-1", region: "ap-south-1", name: "ap-south-1", endpoint: "ec2.ap-south-1.amazonaws.com", description: "Asia Pacific (Mumbai)" };
            case "aws:index/getCallerIdentity:getCallerIdentity":
                return { id: MOCK_ACCOUNT_ID, accountId: MOCK_ACCOUNT_ID, arn: `arn:aws:iam::${MOCK_ACCOUNT_ID}:user/mock`, userId: "mock" };
            case "vercel:index/getProject:getProject":
                return { id: "prj_mockfrontend", name: args.inputs.name };
            case "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider": {
                // The account's GitHub OIDC provider exists (created by the stack that owns it).
                const host = String(args.inputs.url ?? "").replace(/^https:\/\//, "");
                const arn = `arn:aws:iam::${MOCK_ACCOUNT_ID}:oidc-provider/${host}`;
                return { id: arn, arn, url: host, clientIdLists: ["sts.amazonaws.com"], thumbprintLists: [], tags: {} };
            }
            case "cloudflare:index/getIpRanges:getIpRanges":
                return { ipv4Cidrs: CLOUDFLARE_IPV4, ipv6Cidrs: CLOUDFLARE_IPV6, etag: "mock", jdcloudCidrs: [] };
            default:
                throw new Error(`mocks: no offline answer for provider function ${args.token}; add one to tools/mocks.ts`);
        }
    }
}

/**
 * The wire form of an unknown value (`@pulumi/pulumi` runtime/rpc.ts `unknownValue`, the
 * engine's `UnknownStringValue`). In a preview the SDK turns it into an unknown output.
 */
export const UNKNOWN_VALUE = pulumi.runtime.unknownValue;

/**
 * A resource created in a preview, as the engine answers it: no id yet (an empty id is unknown),
 * the inputs as outputs (the provider's preview of a create echoes them, after `Check` filled
 * in an autoname), and every output the provider computes on create unknown. Which outputs
 * those are is what {@link computedState} adds or changes: ids, ARNs, addresses, generated
 * passwords and keys, certificate PEMs, the Elastic IP, a bucket's name from its prefix,
 * command output. Inputs built from unknowns arrive unknown already (the SDK sends them so).
 */
export function previewState(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    if (!(args.custom ?? true)) return { id: "", state: { ...args.inputs } };
    const computed = computedState(args);
    const unknowns = Object.fromEntries(Object.entries(computed).map(([key, value]) => [key, unknownWhereComputed(value, args.inputs[key])]));
    return { id: "", state: { ...args.inputs, ...autoName(args), ...unknowns } };
}

/** `computed` with every leaf that differs from the input it came from replaced by unknown. */
function unknownWhereComputed(computed: unknown, input: unknown): unknown {
    if (Array.isArray(computed) && Array.isArray(input) && computed.length === input.length) {
        return computed.map((value, i) => unknownWhereComputed(value, input[i]));
    }
    if (isPlainObject(computed) && isPlainObject(input)) {
        return Object.fromEntries(Object.entries(computed).map(([key, value]) => [key, unknownWhereComputed(value, input[key])]));
    }
    return JSON.stringify(computed) === JSON.stringify(input) ? input : UNKNOWN_VALUE;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
    const prototype = Object.getPrototypeOf(value);
    return prototype === Object.prototype || prototype === null;
}

/**
 * Whether a value of an offline run is unknown: the SDK's `unknown` (recorded inputs) or the
 * wire sentinel (state and stack outputs read back from the mock monitor).
 */
export function isUnknownValue(value: unknown): boolean {
    return value === UNKNOWN_VALUE || pulumi.isUnknown(value);
}

/** `value` with every unknown replaced by `replacement`, at any depth (inside secrets too). */
export function replaceUnknowns(value: unknown, replacement: unknown): unknown {
    if (isUnknownValue(value)) return replacement;
    if (Array.isArray(value)) return value.map((v) => replaceUnknowns(v, replacement));
    if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceUnknowns(v, replacement)]));
    return value;
}

/**
 * Types whose `name` the AWS provider autonames (`<resource name>-<7 hex>`) in `Check` when the
 * program leaves it out, so it is known in a preview while the id is not.
 */
const AUTONAMED = new Set([
    "aws:ec2/securityGroup:SecurityGroup", "aws:rds/subnetGroup:SubnetGroup", "aws:rds/parameterGroup:ParameterGroup",
    "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy",
]);

function autoName(args: pulumi.runtime.MockResourceArgs): Record<string, unknown> {
    if (!AUTONAMED.has(args.type) || args.inputs.name !== undefined) return {};
    const suffix = createHash("sha256").update(`${args.type}::${args.name}`).digest("hex").slice(0, 7);
    return { name: `${args.name}-${suffix}` };
}

/** What a provider would compute for a resource, just enough for the program's outputs. */
function computedState(args: pulumi.runtime.MockResourceArgs): Record<string, unknown> {
    switch (args.type) {
        case "aws:ec2/instance:Instance":
            return {
                privateIp: MOCK_PRIVATE_IP, publicIp: "", arn: `arn:aws:ec2:::instance/${args.name}`,
                ebsBlockDevices: (args.inputs.ebsBlockDevices ?? []).map((d: Record<string, unknown>, i: number) => ({ ...d, volumeId: `vol-0mock${i}${args.name.length}` })),
            };
        case "aws:rds/instance:Instance":
            return { address: `${args.inputs.identifier}.mock.ap-south-1.rds.amazonaws.com`, endpoint: `${args.inputs.identifier}.mock:5432` };
        case "random:index/randomString:RandomString":
            // Lower-case letters and digits, as the final snapshot suffix asks for.
            return { result: `mocksuffix${args.name.replace(/[^a-z0-9]/g, "")}`.slice(0, args.inputs.length ?? 8) };
        case "random:index/randomPassword:RandomPassword":
            return { result: `mockpassword${args.name.replace(/[^a-z0-9]/gi, "")}`.slice(0, args.inputs.length ?? 32) };
        case "aws:s3/bucket:Bucket":
            return { bucket: `${args.inputs.bucketPrefix}mock`, arn: `arn:aws:s3:::${args.inputs.bucketPrefix}mock` };
        case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            return { arn: `arn:aws:iam::${MOCK_ACCOUNT_ID}:oidc-provider/${String(args.inputs.url).replace(/^https:\/\//, "")}` };
        case "aws:iam/role:Role":
            return { arn: `arn:aws:iam::${MOCK_ACCOUNT_ID}:role/${args.name}` };
        case "tls:index/certRequest:CertRequest":
            return { certRequestPem: "-----BEGIN CERTIFICATE REQUEST-----\nmock\n-----END CERTIFICATE REQUEST-----\n" };
        case "cloudflare:index/originCaCertificate:OriginCaCertificate":
            return { certificate: "-----BEGIN CERTIFICATE-----\nmock origin certificate\n-----END CERTIFICATE-----\n" };
        case "aws:ec2/eip:Eip":
            return { publicIp: MOCK_PUBLIC_IP };
        case "tls:index/privateKey:PrivateKey":
            return {
                publicKeyOpenssh: `${MOCK_HOST_PUBLIC_KEY}\n`,
                privateKeyOpenssh: "-----BEGIN OPENSSH PRIVATE KEY-----\nmock\n-----END OPENSSH PRIVATE KEY-----\n",
                privateKeyPem: "-----BEGIN EC PRIVATE KEY-----\nmock\n-----END EC PRIVATE KEY-----\n",
            };
        case "command:remote:Command":
            return { stdout: "", stderr: "" };
        case "command:local:Command":
            // The host-key step prints the key it read from the console (components/hostKey.ts).
            return { stdout: args.name.endsWith(HOST_KEY_STEP_SUFFIX) ? `${MOCK_HOST_PUBLIC_KEY}\n` : "", stderr: "" };
        case "aws:cloudwatch/logGroup:LogGroup":
            return { arn: `arn:aws:logs:ap-south-1:${MOCK_ACCOUNT_ID}:log-group:${args.inputs.name}` };
        case "aws:lb/loadBalancer:LoadBalancer":
            return {
                arn: `arn:aws:elasticloadbalancing:${MOCK_REGION}:${MOCK_ACCOUNT_ID}:loadbalancer/app/${args.name}/0123456789abcdef`,
                dnsName: mockLoadBalancerDnsName(args.name), zoneId: "ZP97RAFLXTNZK",
            };
        case "aws:lb/targetGroup:TargetGroup":
            return { arn: mockTargetGroupArn(args.name) };
        case "aws:lb/listener:Listener":
            return { arn: `arn:aws:elasticloadbalancing:${MOCK_REGION}:${MOCK_ACCOUNT_ID}:listener/app/${args.name}/0123456789abcdef/fedcba9876543210` };
        case "aws:acm/certificate:Certificate":
            return { arn: `arn:aws:acm:${MOCK_REGION}:${MOCK_ACCOUNT_ID}:certificate/00000000-0000-4000-8000-${args.name.length.toString().padStart(12, "0")}` };
        case "aws:codebuild/project:Project":
            return { arn: `arn:aws:codebuild:ap-south-1:${MOCK_ACCOUNT_ID}:project/${args.inputs.name}` };
        default:
            return {};
    }
}
