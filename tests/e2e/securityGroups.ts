/**
 * The program's security groups as a host firewall for the test network: an nftables ruleset
 * per test host, rendered from the `aws:ec2/securityGroup:SecurityGroup` resources an offline
 * run recorded (their inputs, exactly as the program gives them to AWS), so the end-to-end
 * test enforces what the program declares and nothing the test made up.
 *
 * The translation follows what a security group does on an instance's interface: stateful
 * (replies to the host's own connections come back), everything inbound not admitted by an
 * ingress rule of one of the instance's groups is dropped silently, and a rule admits either
 * literal ranges (`cidrBlocks`, `ipv6CidrBlocks`) or the members of other groups
 * (`securityGroups`, `self`): every resource whose inputs place it in that group
 * (`vpcSecurityGroupIds`, `securityGroupIds`, `vpcConfig.securityGroupIds`), at the addresses
 * the test gives that resource's stand-in. A member with no stand-in in the test network (the
 * Instance Connect Endpoint, the database) adds no address. Egress rules are not enforced
 * (every host's groups allow all egress anyway). What the translation does not know (prefix
 * lists, separate rule resources, other protocols) fails loudly instead of passing unfiltered.
 */
import { createHash } from "crypto";
import { PlannedResource, unwrapSecrets } from "../../tools/offlineRun";

export const SECURITY_GROUP_TYPE = "aws:ec2/securityGroup:SecurityGroup";
const INSTANCE_TYPE = "aws:ec2/instance:Instance";
export const LOAD_BALANCER_TYPE = "aws:lb/loadBalancer:LoadBalancer";
/** What the test network has a firewall for: instances and the load balancer's namespace. */
const GROUPED_TYPES = [INSTANCE_TYPE, LOAD_BALANCER_TYPE];
/** Rule resources the program could add beside a group's inline rules; not translated. */
export const SEPARATE_RULE_TYPES = [
    "aws:ec2/securityGroupRule:SecurityGroupRule", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
];
/** The nft table the ruleset owns in a host's namespace. */
export const TABLE = "pakashop_sg";

/** The id the test's mocks give a security group: AWS's form, from the resource's name. */
export function securityGroupId(resourceName: string): string {
    return `sg-0${createHash("sha256").update(resourceName).digest("hex").slice(0, 16)}`;
}

/** Where a resource that can be a group member stands in the test network (none: []). */
export type Placement = (resource: PlannedResource) => readonly string[];

/** One admitted source of one ingress rule, resolved to test addresses. */
export interface AdmitRule {
    readonly group: string;
    readonly description: string;
    readonly protocol: "tcp" | "udp" | "icmp" | "all";
    /** Inclusive port range; absent for `all` and `icmp`. */
    readonly ports?: readonly [number, number];
    readonly ipv4: readonly string[];
    readonly ipv6: readonly string[];
    /** Where the sources came from, for the ruleset's comments. */
    readonly sources: readonly string[];
}

/** An inline ingress rule as the program gives it to AWS (read here and by tools/topology.ts). */
export interface IngressRule {
    readonly description?: string;
    readonly protocol: string | number;
    readonly fromPort: number;
    readonly toPort: number;
    readonly cidrBlocks?: string[];
    readonly ipv6CidrBlocks?: string[];
    readonly securityGroups?: string[];
    readonly prefixListIds?: string[];
    readonly self?: boolean;
}

const PROTOCOLS: Record<string, AdmitRule["protocol"]> = { tcp: "tcp", "6": "tcp", udp: "udp", "17": "udp", icmp: "icmp", "1": "icmp", "-1": "all", all: "all" };

function inputs(resource: PlannedResource): Record<string, unknown> {
    return unwrapSecrets(resource.inputs) as Record<string, unknown>;
}

/** The group ids a resource's inputs place it in. */
export function groupsOf(resource: PlannedResource): string[] {
    const i = inputs(resource);
    // `securityGroups`: a load balancer's groups (aws.lb.LoadBalancer).
    const lists = [i.vpcSecurityGroupIds, i.securityGroupIds, i.securityGroups, (i.vpcConfig as Record<string, unknown> | undefined)?.securityGroupIds];
    return lists.flatMap((list) => (Array.isArray(list) ? list.filter((id): id is string => typeof id === "string") : []));
}

/**
 * The rules admitting traffic to the resource named `instanceName` (an instance, or the load
 * balancer), from the recorded resources of one run.
 */
export function admitRules(resources: readonly PlannedResource[], instanceName: string, placement: Placement): AdmitRule[] {
    const separate = resources.filter((r) => SEPARATE_RULE_TYPES.includes(r.type));
    if (separate.length > 0) throw new Error(`securityGroups: separate rule resources are not translated: ${separate.map((r) => r.name).join(", ")}`);
    const instance = resources.find((r) => GROUPED_TYPES.includes(r.type) && r.name === instanceName);
    if (!instance) throw new Error(`securityGroups: the run has no instance or load balancer ${instanceName}`);
    const groups = new Map(resources.filter((r) => r.type === SECURITY_GROUP_TYPE).map((r) => [securityGroupId(r.name), r]));
    const membersOf = (groupId: string) => resources.filter((r) => r.type !== SECURITY_GROUP_TYPE && groupsOf(r).includes(groupId));
    const rules: AdmitRule[] = [];
    const instanceGroups = groupsOf(instance);
    if (instanceGroups.length === 0) throw new Error(`securityGroups: instance ${instanceName} is in no security group`);
    for (const groupId of instanceGroups) {
        const group = groups.get(groupId);
        if (!group) throw new Error(`securityGroups: instance ${instanceName} is in ${groupId}, which is no security group of the run`);
        for (const rule of (inputs(group).ingress ?? []) as IngressRule[]) {
            const protocol = PROTOCOLS[String(rule.protocol).toLowerCase()];
            if (!protocol) throw new Error(`securityGroups: ${group.name}: protocol ${rule.protocol} is not translated`);
            if ((rule.prefixListIds ?? []).length > 0) throw new Error(`securityGroups: ${group.name}: prefix lists are not translated`);
            const sources: string[] = [];
            const ipv4: string[] = [...(rule.cidrBlocks ?? [])];
            const ipv6: string[] = [...(rule.ipv6CidrBlocks ?? [])];
            if (ipv4.length > 0) sources.push(`${ipv4.length} IPv4 range(s)`);
            if (ipv6.length > 0) sources.push(`${ipv6.length} IPv6 range(s)`);
            const sourceGroups = [...(rule.securityGroups ?? []), ...(rule.self ? [groupId] : [])];
            for (const sourceId of sourceGroups) {
                const source = groups.get(sourceId);
                if (!source) throw new Error(`securityGroups: ${group.name} admits ${sourceId}, which is no security group of the run`);
                const members = membersOf(sourceId);
                const placed = members.flatMap((m) => placement(m).map((address) => ({ member: m.name, address })));
                for (const { address } of placed) (address.includes(":") ? ipv6 : ipv4).push(address);
                sources.push(`${source.name}: ${placed.length > 0 ? placed.map((p) => `${p.member} ${p.address}`).join(", ")
                    : `no member in the test network${members.length > 0 ? ` (${members.map((m) => m.name).join(", ")})` : ""}`}`);
            }
            const ports = protocol === "tcp" || protocol === "udp" ? [Number(rule.fromPort), Number(rule.toPort)] as const : undefined;
            rules.push({ group: group.name, description: rule.description ?? "", protocol, ports, ipv4, ipv6, sources });
        }
    }
    return rules;
}

function match(rule: AdmitRule): string {
    if (rule.protocol === "all") return "";
    if (rule.protocol === "icmp") return " meta l4proto icmp";
    const [from, to] = rule.ports as readonly [number, number];
    return ` ${rule.protocol} dport ${from === to ? from : `${from}-${to}`}`;
}

/**
 * The nftables script that replaces the host's {@link TABLE} table with `rules` in one
 * transaction (load it with `nft -f -` inside the host's namespace).
 */
export function renderRuleset(instanceName: string, rules: readonly AdmitRule[]): string {
    const lines = [
        `# Rendered by tests/e2e/securityGroups.ts from the program's security groups of ${instanceName}.`,
        // Declaring the table first makes the delete succeed on a namespace that has none yet.
        `table inet ${TABLE}`,
        `delete table inet ${TABLE}`,
        `table inet ${TABLE} {`,
        "    chain input {",
        "        type filter hook input priority filter; policy drop;",
        "        # A security group filters the instance's interfaces, not its loopback.",
        '        iif "lo" accept',
        "        # Stateful: replies to the host's own connections come back.",
        "        ct state established,related accept",
    ];
    for (const rule of rules) {
        lines.push(`        # ${rule.group}: ${rule.description.replace(/\n/g, " ")}`, ...rule.sources.map((s) => `        #   from ${s}`));
        if (rule.ipv4.length > 0) lines.push(`        ip saddr { ${rule.ipv4.join(", ")} }${match(rule)} accept`);
        if (rule.ipv6.length > 0) lines.push(`        ip6 saddr { ${rule.ipv6.join(", ")} }${match(rule)} accept`);
        if (rule.ipv4.length === 0 && rule.ipv6.length === 0) lines.push("        #   (admits no address of the test network)");
    }
    lines.push("    }", "}", "");
    return lines.join("\n");
}
