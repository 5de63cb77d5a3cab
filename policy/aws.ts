/** EC2 hosts, their network exposure, and the tags every taggable AWS resource carries. */
import { AWS_EC2 } from "../components/providerValues";
import { REQUIRED_TAG_KEYS } from "../components/tags";
import { Props, resourcePolicy } from "./policyKit";

const INSTANCE = "aws:ec2/instance:Instance";
const SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup";
const WORLD = ["0.0.0.0/0", "::/0"];
/** SSH and the data tiers' ports: never open to the world. */
const SENSITIVE_PORTS: Record<number, string> = { 22: "SSH", 5432: "PostgreSQL", 6379: "Redis", 7700: "Meilisearch" };

/** The tags components/tags.ts gives every taggable resource. */
export const REQUIRED_TAGS: readonly string[] = REQUIRED_TAG_KEYS;
/** The AWS types this program creates that carry tags. */
export const TAGGABLE_TYPES = [
    INSTANCE, SECURITY_GROUP, "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/routeTable:RouteTable", "aws:ec2/eip:Eip", "aws:ec2/natGateway:NatGateway", "aws:rds/instance:Instance",
    "aws:rds/subnetGroup:SubnetGroup", "aws:rds/parameterGroup:ParameterGroup", "aws:s3/bucket:Bucket", "aws:iam/role:Role",
];

function worldOpen(rule: Props): string[] {
    return [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])].filter((c: string) => WORLD.includes(c));
}

/** Every address range an ingress rule admits, IPv4 and IPv6. */
function addressRanges(rule: Props): string[] {
    return [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])];
}

function exposedPorts(rule: Props): number[] {
    const from = rule.protocol === "-1" ? 0 : Number(rule.fromPort);
    const to = rule.protocol === "-1" ? 65535 : Number(rule.toPort);
    return Object.keys(SENSITIVE_PORTS).map(Number).filter((port) => port >= from && port <= to);
}

export const awsPolicies = [
    resourcePolicy({
        name: "aws-ec2-instance-enforce-imdsv2",
        description: "Checks that EC2 instances require IMDSv2 session tokens for instance metadata.",
        severity: "high",
        remediationSteps: "Set metadataOptions.httpTokens to \"required\" (components/ec2Host.ts hardenedInstanceArgs).",
        types: [INSTANCE],
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
        description: "Checks that EC2 instances get no automatic public address (the backend host gets an Elastic IP on purpose).",
        severity: "medium",
        remediationSteps: "Set associatePublicIpAddress: false, or leave it unset in a subnet with mapPublicIpOnLaunch false.",
        types: [INSTANCE],
        check: (p) => (p.associatePublicIpAddress === true ? "associatePublicIpAddress is true; set it to false." : undefined),
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
        description: "Checks that no security group admits SSH (22) from any address range (cidrBlocks, ipv6CidrBlocks), the VPC's own included: only from security groups.",
        severity: "critical",
        remediationSteps: "Admit SSH (22) only through securityGroups: the deploy runner's (components/deployRunner.ts) and the EC2 Instance Connect Endpoint's "
            + "(components/instanceConnect.ts). Drop cidrBlocks and ipv6CidrBlocks from the rule; nothing outside those two groups reaches port 22.",
        types: [SECURITY_GROUP],
        check: (p) => (p.ingress ?? [])
            .filter((rule: Props) => exposedPorts(rule).includes(22) && addressRanges(rule).length > 0)
            .map((rule: Props) => `ingress ${rule.fromPort}-${rule.toPort} admits SSH from ${addressRanges(rule).join(", ")}; `
                + "admit SSH only from the deploy runner's and the Instance Connect Endpoint's security groups, with no address range."),
    }),
    resourcePolicy({
        name: "aws-ec2-securitygroup-disallow-public-data-ports",
        description: "Checks that no security group opens PostgreSQL (5432), Redis (6379) or Meilisearch (7700) to the internet.",
        severity: "critical",
        remediationSteps: "Admit the data ports from the backend host's security group only (securityGroups, not cidrBlocks).",
        types: [SECURITY_GROUP],
        check: (p) => (p.ingress ?? []).flatMap((rule: Props) => worldOpen(rule).length === 0 ? [] : exposedPorts(rule)
            .filter((port) => port !== 22)
            .map((port) => `ingress ${rule.fromPort}-${rule.toPort} opens ${SENSITIVE_PORTS[port]} (${port}) to ${worldOpen(rule).join(", ")}; admit the backend host's security group only.`)),
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
