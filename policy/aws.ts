/** EC2 hosts, their network exposure, and the tags every taggable AWS resource carries. */
import { AWS_EC2 } from "../components/providerValues";
import { REQUIRED_TAG_KEYS } from "../components/tags";
import { admitsPublic, parseCidr, withinAny } from "./addresses";
import { githubTrustProblems } from "./githubTrust";
import { UnknownValueError } from "@pulumi/policy";
import { Props, resourcePolicy } from "./policyKit";

const INSTANCE = "aws:ec2/instance:Instance";
const LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate";
const SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup";
const SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule";
const INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
/** The VPC's default security group, adopted and written like any group (inline `ingress`). */
const DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup";
/** The resources that are security groups (and carry inline `ingress`). */
export const SECURITY_GROUP_TYPES = [SECURITY_GROUP, DEFAULT_SECURITY_GROUP];
/** Every way AWS lets an ingress rule be written. */
export const INGRESS_TYPES = [SECURITY_GROUP, DEFAULT_SECURITY_GROUP, SECURITY_GROUP_RULE, INGRESS_RULE];
const EIP = "aws:ec2/eip:Eip";
const EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation";
const SSH = 22;
const SSH_FIX = "admit SSH only from the deploy runner's and the Instance Connect Endpoint's security groups, with no address range.";
const HTTPS = 443;
/** The data tiers' ports: never open to a public address. */
const DATA_PORTS: Record<number, string> = { 5432: "PostgreSQL", 6379: "Redis", 7700: "Meilisearch" };

/**
 * Cloudflare's published ranges: the 15 IPv4 ranges of https://www.cloudflare.com/ips-v4 and the
 * 7 IPv6 ranges of https://www.cloudflare.com/ips-v6 (checked 2026-11-27; the list
 * `cloudflare.getIpRanges` returns). The program reads them from the provider at deploy time;
 * the policy can't call a provider, so it takes them from its config (this default, or
 * `cloudflareRanges` in policy/<stack>.json). When Cloudflare publishes a new range, the
 * deploy's plan fails this policy until the list here is updated: a reviewed change, on purpose.
 */
export const CLOUDFLARE_RANGES: readonly string[] = [
    "173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22", "141.101.64.0/18",
    "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20", "197.234.240.0/22", "198.41.128.0/17",
    "162.158.0.0/15", "104.16.0.0/13", "104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
    "2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32", "2405:8100::/32", "2a06:98c0::/29", "2c0f:f248::/32",
];

/** The tags components/tags.ts gives every taggable resource. */
export const REQUIRED_TAGS: readonly string[] = REQUIRED_TAG_KEYS;
/** The AWS types this program creates that carry tags. */
export const TAGGABLE_TYPES = [
    INSTANCE, SECURITY_GROUP, "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/routeTable:RouteTable", "aws:ec2/eip:Eip", "aws:ec2/natGateway:NatGateway", "aws:rds/instance:Instance",
    "aws:rds/subnetGroup:SubnetGroup", "aws:rds/parameterGroup:ParameterGroup", "aws:s3/bucket:Bucket", "aws:iam/role:Role",
    "aws:lb/loadBalancer:LoadBalancer", "aws:lb/listener:Listener", "aws:lb/targetGroup:TargetGroup", "aws:acm/certificate:Certificate",
];

/** One ingress rule, however it was written: the ports it opens and the address ranges it admits. */
export interface Ingress {
    /** How a message names the rule. */
    readonly where: string;
    /** Lowest and highest port opened; [0, 65535] for all traffic. */
    readonly ports: readonly [number, number] | undefined;
    /** CIDRs (IPv4 and IPv6) as written. */
    readonly cidrs: readonly string[];
    /** Managed prefix lists: address ranges whose content the policy can't see. */
    readonly prefixLists: readonly string[];
}

const list = (value: unknown): string[] => (value === undefined || value === null ? [] : [value].flat().map(String));

/** The ports a rule opens: all of them for protocol -1/all, none (ICMP types) for ICMP. */
function portsOf(protocol: unknown, from: unknown, to: unknown): [number, number] | undefined {
    const p = String(protocol ?? "").trim().toLowerCase();
    if (["-1", "all"].includes(p)) return [0, 65535];
    if (["icmp", "1", "icmpv6", "58"].includes(p)) return undefined;
    const low = Number(from);
    const high = Number(to);
    // A port range that can't be read is judged as all ports (fail closed).
    if (!Number.isInteger(low) || !Number.isInteger(high) || from === undefined || to === undefined) return [0, 65535];
    return [Math.min(low, high), Math.max(low, high)];
}

function describePorts(protocol: unknown, ports: readonly [number, number] | undefined, from: unknown, to: unknown): string {
    const p = String(protocol ?? "").trim().toLowerCase();
    return ["-1", "all"].includes(p) ? `all traffic (protocol ${JSON.stringify(protocol)})` : ports ? `${from}-${to}` : `${p}`;
}

/** The ingress rules a security-group resource of any of the ingress types writes. */
export function ingressRules(type: string, p: Props): Ingress[] {
    if (type === SECURITY_GROUP || type === DEFAULT_SECURITY_GROUP) {
        return (p.ingress ?? []).map((rule: Props, i: number) => {
            const ports = portsOf(rule.protocol, rule.fromPort, rule.toPort);
            return { where: `ingress[${i}] ${describePorts(rule.protocol, ports, rule.fromPort, rule.toPort)}`, ports,
                cidrs: [...list(rule.cidrBlocks), ...list(rule.ipv6CidrBlocks)], prefixLists: list(rule.prefixListIds) };
        });
    }
    if (type === SECURITY_GROUP_RULE) {
        if (p.type !== "ingress") return [];
        const ports = portsOf(p.protocol, p.fromPort, p.toPort);
        return [{ where: `ingress rule ${describePorts(p.protocol, ports, p.fromPort, p.toPort)}`, ports,
            cidrs: [...list(p.cidrBlocks), ...list(p.ipv6CidrBlocks)], prefixLists: list(p.prefixListIds) }];
    }
    if (type === INGRESS_RULE) {
        const ports = portsOf(p.ipProtocol, p.fromPort, p.toPort);
        return [{ where: `ingress rule ${describePorts(p.ipProtocol, ports, p.fromPort, p.toPort)}`, ports,
            cidrs: [...list(p.cidrIpv4), ...list(p.cidrIpv6)], prefixLists: list(p.prefixListId) }];
    }
    return [];
}

const opens = (rule: Ingress, port: number) => rule.ports !== undefined && rule.ports[0] <= port && port <= rule.ports[1];

/** The address ranges of a rule that admit a public address (or can't be read, or can't be seen: prefix lists). */
function publicSources(rule: Ingress): string[] {
    return [
        ...rule.cidrs.filter((c) => {
            const parsed = parseCidr(c);
            return !parsed.ok || admitsPublic(parsed.range);
        }),
        ...rule.prefixLists.map((id) => `prefix list ${id}`),
    ];
}

/** A value for a message: the value, or that it is unknown until created (judging never depends on it). */
function shown(p: Props, key: string): string {
    try {
        return JSON.stringify(p[key]);
    } catch (error) {
        if (error instanceof UnknownValueError) return "(an id not known until it is created)";
        throw error;
    }
}

/** Whether an input is given but empty (null or ""): an unknown value is a value. */
function isEmpty(p: Props, key: string): boolean {
    try {
        return p[key] === null || p[key] === undefined || p[key] === "";
    } catch (error) {
        if (error instanceof UnknownValueError) return false;
        throw error;
    }
}

/** The metadata options of an instance or a launch template. */
const metadataOf = (p: Props): Props | undefined => p.metadataOptions;

export const awsPolicies = [
    resourcePolicy({
        name: "aws-ec2-instance-enforce-imdsv2",
        description: "Checks that EC2 instances require IMDSv2 session tokens for instance metadata.",
        severity: "high",
        remediationSteps: "Set metadataOptions.httpTokens to \"required\" (components/ec2Host.ts hardenedInstanceArgs).",
        types: [INSTANCE, LAUNCH_TEMPLATE],
        check: (p) => (p.metadataOptions?.httpTokens === AWS_EC2.httpTokens.required ? undefined
            : `metadataOptions.httpTokens is ${JSON.stringify(p.metadataOptions?.httpTokens)}; set it to "${AWS_EC2.httpTokens.required}" so only IMDSv2 is served.`),
    }),
    resourcePolicy({
        name: "aws-ec2-instance-missing-root-encryption",
        description: "Checks that EC2 instances have an encrypted root volume.",
        severity: "high",
        remediationSteps: "Set rootBlockDevice.encrypted to true.",
        types: [INSTANCE],
        check: (p) => (p.rootBlockDevice?.encrypted === true ? undefined
            : `rootBlockDevice.encrypted is ${JSON.stringify(p.rootBlockDevice?.encrypted)}; set it to true.`),
    }),
    resourcePolicy({
        name: "aws-ec2-instance-missing-volume-encryption",
        description: "Checks that every EBS data volume attached at launch is encrypted.",
        severity: "high",
        remediationSteps: "Set encrypted: true on each ebsBlockDevices entry.",
        types: [INSTANCE],
        check: (p) => (p.ebsBlockDevices ?? [])
            .filter((d: Props) => d.encrypted !== true)
            .map((d: Props) => `ebsBlockDevices ${d.deviceName} is not encrypted; set encrypted: true.`),
    }),
    resourcePolicy({
        name: "aws-ec2-instance-disallow-public-ip",
        description: "Checks that EC2 instances get no public address: associatePublicIpAddress false on every instance, and no Elastic IP (or EIP association) "
            + "on an instance or a network interface. Hosts are reached through the load balancer and, for SSH, from inside the VPC.",
        severity: "high",
        remediationSteps: "Set associatePublicIpAddress: false on the instance (components/ec2Host.ts, components/backendFleet.ts) and remove any Elastic IP or "
            + "EIP association naming an instance or a network interface: the public entry is the load balancer (components/loadBalancer.ts), SSH comes from the in-VPC runner.",
        // An Elastic IP names its instance by id, unknown in a preview of a new stack: whether
        // it names one (`in`) is known, and that is what is judged.
        types: [INSTANCE, EIP, EIP_ASSOCIATION],
        check: (p, _c, args) => {
            if (args.type === INSTANCE) {
                const value = p.associatePublicIpAddress;
                if (value === false) return undefined;
                return value === undefined
                    ? "associatePublicIpAddress is undefined, so the subnet's mapPublicIpOnLaunch decides; set it to false."
                    : `associatePublicIpAddress is ${JSON.stringify(value)}; set it to false.`;
            }
            const keys = args.type === EIP ? { instance: "instance", networkInterface: "networkInterface" } : { instance: "instanceId", networkInterface: "networkInterfaceId" };
            const what = args.type === EIP ? "this Elastic IP" : "this EIP association";
            return Object.entries(keys).filter(([, key]) => key in p && !isEmpty(p, key))
                .map(([kind, key]) => `${key} is ${shown(p, key)}: ${what} gives ${kind === "instance" ? "an instance" : "a network interface"} a public address; `
                    + "remove it: the hosts are served through the load balancer and reached by SSH from inside the VPC.");
        },
    }),
    resourcePolicy({
        name: "aws-ec2-subnet-disallow-public-ip-on-launch",
        description: "Checks that subnets do not give instances a public address on launch.",
        severity: "medium",
        remediationSteps: "Set mapPublicIpOnLaunch: false on the subnet.",
        types: ["aws:ec2/subnet:Subnet"],
        check: (p) => (p.mapPublicIpOnLaunch === true ? `mapPublicIpOnLaunch is true on ${p.cidrBlock}; set it to false.` : undefined),
    }),
    resourcePolicy({
        name: "aws-ec2-securitygroup-disallow-public-ssh",
        description: "Checks that no ingress rule (inline, SecurityGroupRule or SecurityGroupIngressRule, any protocol or port range covering 22) admits SSH from any address range or prefix list, the VPC's own included: only from security groups.",
        severity: "critical",
        remediationSteps: "Admit SSH (22) only through source security groups: the deploy runner's (components/deployRunner.ts) and the EC2 Instance Connect Endpoint's "
            + "(components/instanceConnect.ts). Drop cidrBlocks, ipv6CidrBlocks, cidrIpv4, cidrIpv6 and prefix lists from any rule covering port 22.",
        types: INGRESS_TYPES,
        check: (p, _c, args) => ingressRules(args.type, p)
            .filter((rule) => opens(rule, SSH) && rule.cidrs.length + rule.prefixLists.length > 0)
            .map((rule) => `${rule.where} admits SSH (22) from ${[...rule.cidrs, ...rule.prefixLists.map((id) => `prefix list ${id}`)].join(", ")}; ${SSH_FIX}`),
    }),
    resourcePolicy({
        name: "aws-ec2-securitygroup-disallow-public-data-ports",
        description: "Checks that no ingress rule, however written, opens PostgreSQL (5432), Redis (6379) or Meilisearch (7700) to an address range holding any public address (judged by address coverage: 0.0.0.0/1, 2000::/3 and ::/0 all count).",
        severity: "critical",
        remediationSteps: "Admit the data ports from the backend host's security group only (securityGroups / referencedSecurityGroupId), never from an address range.",
        types: INGRESS_TYPES,
        check: (p, _c, args) => ingressRules(args.type, p).flatMap((rule) => {
            const sources = publicSources(rule);
            if (sources.length === 0) return [];
            return Object.keys(DATA_PORTS).map(Number).filter((port) => opens(rule, port))
                .map((port) => `${rule.where} opens ${DATA_PORTS[port]} (${port}) to ${sources.join(", ")}, which admit public addresses or can't be read; admit the backend host's security group only.`);
        }),
    }),
    resourcePolicy<{ cloudflareRanges?: string[] }>({
        name: "aws-ec2-securitygroup-enforce-cloudflare-https",
        description: "Checks that no ingress rule, however written (the default security group's included), opens any port or protocol to a public address, "
            + "except HTTPS (443 alone) from Cloudflare's published ranges, so the origin is never reachable around the WAF.",
        severity: "high",
        remediationSteps: "Open nothing to address ranges but 443 from the ranges cloudflare.getIpRanges returns (components/platform.ts httpsCidrs); admit every other port "
            + "from security groups only. If Cloudflare published a new range, add it to cloudflareRanges in policy/aws.ts (source https://www.cloudflare.com/ips/).",
        configSchema: { properties: { cloudflareRanges: { type: "array", items: { type: "string" }, default: [...CLOUDFLARE_RANGES] } } },
        types: INGRESS_TYPES,
        check: (p, c, args) => ingressRules(args.type, p).flatMap((rule) => {
            const sources = publicSources(rule);
            if (sources.length === 0) return [];
            // One port that has a policy of its own (SSH, the data tiers) is reported there, once.
            if (rule.ports !== undefined && rule.ports[0] === rule.ports[1] && (rule.ports[0] === SSH || rule.ports[0] in DATA_PORTS)) return [];
            // 443 alone may be open to Cloudflare; any other port, range or protocol to no public address.
            const httpsOnly = rule.ports !== undefined && rule.ports[0] === HTTPS && rule.ports[1] === HTTPS;
            if (!httpsOnly) {
                return [`${rule.where} opens ${rule.ports ? `ports ${rule.ports[0]}-${rule.ports[1]}` : "a protocol without ports"} to ${sources.join(", ")}, which admit public addresses or can't be read; `
                    + "only HTTPS (443) from Cloudflare's ranges may be open to public addresses: admit everything else from security groups."];
            }
            const outside = sources.filter((source) => {
                const parsed = parseCidr(source);
                return !parsed.ok || !withinAny(parsed.range, c.cloudflareRanges ?? CLOUDFLARE_RANGES);
            });
            return outside.length === 0 ? [] : [`${rule.where} admits HTTPS (443) from ${outside.join(", ")}, outside Cloudflare's ranges; admit only the ranges cloudflare.getIpRanges returns.`];
        }),
    }),
    resourcePolicy({
        name: "aws-ec2-instance-configure-imds-hop-limit",
        description: "Checks that instances and launch templates serve instance metadata one hop only (httpPutResponseHopLimit 1), so a container can't reach the instance's credentials (tokens: aws-ec2-instance-enforce-imdsv2).",
        severity: "high",
        remediationSteps: "Set metadataOptions.httpPutResponseHopLimit to 1 and metadataOptions.httpTokens to \"required\" (components/ec2Host.ts hardenedInstanceArgs).",
        types: [INSTANCE, LAUNCH_TEMPLATE],
        check: (p) => {
            const options = metadataOf(p);
            const problems: string[] = [];
            const hops = options?.httpPutResponseHopLimit;
            if (hops === undefined || Number(hops) !== 1) problems.push(`metadataOptions.httpPutResponseHopLimit is ${JSON.stringify(hops)}; set it to 1.`);
            // httpTokens "required" is aws-ec2-instance-enforce-imdsv2's, reported there once.
            return problems;
        },
    }),
    resourcePolicy<{ repository?: string; environments?: string[] }>({
        name: "aws-iam-role-enforce-github-oidc-subject",
        description: "Checks that every role trusting GitHub's OIDC tokens (AssumeRoleWithWebIdentity for token.actions.githubusercontent.com) requires, by StringEquals, "
            + "aud sts.amazonaws.com and a sub of exactly repo:<owner>/<name>:environment:<env> for the stack's repository and environments: no wildcards, no StringLike.",
        severity: "critical",
        remediationSteps: "Build the trust policy with githubTrustPolicy(providerArn, [githubEnvironmentSubject(repository, environment)]) (components/githubAccess.ts).",
        configSchema: { properties: { repository: { type: "string" }, environments: { type: "array", items: { type: "string" } } } },
        types: ["aws:iam/role:Role"],
        check: (p, c) => githubTrustProblems(p.assumeRolePolicy, c.repository, c.environments),
    }),
    resourcePolicy({
        name: "aws-resource-missing-required-tags",
        description: `Checks that every taggable AWS resource carries the tags ${REQUIRED_TAGS.join(", ")}.`,
        severity: "low",
        remediationSteps: "Pass resourceTags(stack, component) from components/tags.ts as the resource's tags.",
        types: TAGGABLE_TYPES,
        check: (p) => {
            const missing = REQUIRED_TAGS.filter((tag) => !p.tags?.[tag]);
            return missing.length ? `tags lack ${missing.join(", ")}; add them with resourceTags().` : undefined;
        },
    }),
];
