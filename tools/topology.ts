/**
 * The stack's topology as a Mermaid flowchart, drawn from what an offline run of the program
 * registered (tools/offlineRun.ts), not from a list of hosts written here: the README's
 * `topology` block (tools/readme.ts) is production's.
 *
 * Nodes are the resources that carry traffic or reach the hosts: every EC2 instance (in a
 * subgraph per availability zone: its `availabilityZone` input, else its subnet's), the RDS
 * instance, the load balancer with its listeners and target groups, the deploy runner (CodeBuild)
 * and the Instance Connect Endpoint, Vercel projects, Cloudflare DNS records, and whatever else a
 * security group places (`groupsOf`, tests/e2e/securityGroups.ts: the same membership the
 * end-to-end test's firewall uses).
 *
 * Edges:
 * - solid, `tcp 443`: what the security groups' inline ingress rules admit, from each member of a
 *   source group (or from the rule's address ranges: one "Cloudflare edge" node for Cloudflare's
 *   published ranges, one "internet" node for 0.0.0.0/0 and ::/0, one node per other list) to
 *   each member of the group holding the rule;
 * - dotted: a DNS record to what it points at (the load balancer by its DNS name, a Vercel
 *   project by its domain), a load balancer to its listeners, a listener to the target group it
 *   forwards to, a target group to its registered targets (`TargetGroupAttachment`).
 *
 * Ids and ARNs are resolved as the run gives them: a resource's id is `idOf` (the mocks'
 * `<name>-id` by default, tools/mocks.ts), an ELB ARN or DNS name carries the load balancer's or
 * target group's name (AWS's formats, which the mocks follow). So the run must be an applied
 * one: in a preview the ids are unknown. What the diagram can't translate (separate security
 * group rule resources, prefix lists) fails loudly rather than leaving an edge out.
 */
import { createHash } from "crypto";
import { groupsOf, IngressRule, LOAD_BALANCER_TYPE, SECURITY_GROUP_TYPE, SEPARATE_RULE_TYPES } from "../tests/e2e/securityGroups";
import { CLOUDFLARE_IPV4, CLOUDFLARE_IPV6, mockId } from "./mocks";
import { OfflineRun, PlannedResource, unwrapSecrets } from "./offlineRun";

const T = {
    instance: "aws:ec2/instance:Instance",
    subnet: "aws:ec2/subnet:Subnet",
    database: "aws:rds/instance:Instance",
    loadBalancer: LOAD_BALANCER_TYPE,
    listener: "aws:lb/listener:Listener",
    targetGroup: "aws:lb/targetGroup:TargetGroup",
    attachment: "aws:lb/targetGroupAttachment:TargetGroupAttachment",
    runner: "aws:codebuild/project:Project",
    instanceConnect: "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint",
    dnsRecord: "cloudflare:index/dnsRecord:DnsRecord",
    vercelProject: "vercel:index/project:Project",
    vercelDomain: "vercel:index/projectDomain:ProjectDomain",
} as const;

/** Types drawn whether or not a security group places them. */
const DRAWN_TYPES: readonly string[] = [T.instance, T.database, T.loadBalancer, T.listener, T.targetGroup, T.runner, T.instanceConnect, T.vercelProject, T.dnsRecord];

/** Name segments that say what kind of resource it is, dropped from node names (`cache-host-instance` → `cache`). */
const KIND_SUFFIXES = ["instance", "host", "endpoint", "project"];

/** Words Mermaid reads as syntax where a node id stands. */
const MERMAID_KEYWORDS = new Set(["end", "graph", "flowchart", "subgraph", "style", "class", "classdef", "click", "linkstyle", "default", "direction", "call", "href"]);

export const CLOUDFLARE_NODE = "cloudflare_edge";
export const INTERNET_NODE = "internet";
const OPEN_RANGES = new Set(["0.0.0.0/0", "::/0"]);
const CLOUDFLARE_RANGES = new Set([...CLOUDFLARE_IPV4, ...CLOUDFLARE_IPV6]);

export interface TopologyNode {
    readonly id: string;
    /** Label lines (plain text; the renderer escapes them). */
    readonly label: string[];
    readonly shape: "box" | "database" | "external";
    /** The availability zone subgraph it is drawn in. */
    readonly zone?: string;
    /** Drawn in the Cloudflare subgraph (DNS records, the Cloudflare edge). */
    readonly cloudflare?: boolean;
    /** The resource it stands for (absent for address ranges and groups outside the run). */
    readonly resource?: PlannedResource;
}

export interface TopologyEdge {
    readonly from: string;
    readonly to: string;
    /** `admits`: a security group rule (solid); `link`: DNS, listener, target group (dotted). */
    readonly kind: "admits" | "link";
    readonly label: string;
}

export interface Topology {
    readonly nodes: TopologyNode[];
    readonly edges: TopologyEdge[];
}

export interface TopologyOptions {
    /**
     * The id the run gave a resource: how other resources' inputs name it.
     * @default mockId (tools/mocks.ts: `<name>-id`)
     */
    readonly idOf?: (resource: PlannedResource) => string;
}

type Inputs = Record<string, unknown>;

function inputsOf(resource: PlannedResource): Inputs {
    return unwrapSecrets(resource.inputs) as Inputs;
}

function str(value: unknown): string | undefined {
    return typeof value === "string" && value !== "" ? value : undefined;
}

/** `aws:alb/...` is the provider's alias module for `aws:lb/...`. */
function typeOf(resource: PlannedResource): string {
    return resource.type.replace(/^aws:alb\//, "aws:lb/");
}

/** A name as AWS knows it: the `name` input, else (offline, autonamed) the resource's name. */
function awsName(resource: PlannedResource): string {
    return str(inputsOf(resource).name) ?? resource.name;
}

/** Finds the resource an input value names: by id, by ELB ARN, by ELB DNS name. */
function resolverOf(resources: readonly PlannedResource[], idOf: (r: PlannedResource) => string): (ref: unknown) => PlannedResource | undefined {
    const byId = new Map<string, PlannedResource>();
    for (const r of resources) byId.set(idOf(r), r);
    const elb = resources.filter((r) => typeOf(r) === T.loadBalancer || typeOf(r) === T.targetGroup);
    return (ref) => {
        if (typeof ref !== "string") return undefined;
        const found = byId.get(ref);
        if (found) return found;
        // arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>, .../targetgroup/<name>/<id>
        const arn = /^arn:aws[a-z-]*:elasticloadbalancing:[^:]*:[^:]*:(loadbalancer\/[a-z]+|targetgroup)\/([^/]+)\//.exec(ref);
        if (arn) {
            const type = arn[1] === "targetgroup" ? T.targetGroup : T.loadBalancer;
            return elb.find((r) => typeOf(r) === type && awsName(r).slice(0, 32) === arn[2]);
        }
        // <name>-<digits>.<region>.elb.amazonaws.com (internal load balancers: internal-<name>-...)
        const dns = /^(?:internal-)?(.+)-[0-9]+\.[a-z0-9-]+\.elb\.amazonaws\.com\.?$/i.exec(ref);
        if (dns) return elb.find((r) => typeOf(r) === T.loadBalancer && awsName(r).slice(0, 32) === dns[1]);
        return undefined;
    };
}

/** The longest run of leading `-` segments all names share (of two names at least), never a whole name. */
function commonPrefix(names: readonly string[]): string {
    if (names.length < 2) return "";
    const split = names.map((n) => n.split("-"));
    let n = Math.min(...split.map((s) => s.length - 1));
    for (let i = 0; i < n; i++) {
        if (split.some((s) => s[i] !== split[0][i])) { n = i; break; }
    }
    return n > 0 ? `${split[0].slice(0, n).join("-")}-` : "";
}

function shortName(name: string, prefix: string): string {
    const segments = name.slice(prefix.length).split("-");
    while (segments.length > 1 && KIND_SUFFIXES.includes(segments[segments.length - 1])) segments.pop();
    return segments.join("-");
}

function safeId(text: string): string {
    let id = text.replace(/[^A-Za-z0-9_]+/g, "_").replace(/^_+|_+$/g, "") || "node";
    if (/^[0-9]/.test(id) || MERMAID_KEYWORDS.has(id.toLowerCase())) id = `n_${id}`;
    return id;
}

function portLabel(rule: IngressRule, where: string): string {
    const protocol = String(rule.protocol).toLowerCase();
    const name = ({ "6": "tcp", "17": "udp", "1": "icmp", "-1": "all", all: "all" } as Record<string, string>)[protocol] ?? protocol;
    if (name === "all") return "all traffic";
    if (name === "icmp") return "icmp";
    if (name !== "tcp" && name !== "udp") throw new Error(`topology: ${where}: protocol ${rule.protocol} is not drawn`);
    const from = Number(rule.fromPort);
    const to = Number(rule.toPort);
    return `${name} ${from === to ? from : `${from}-${to}`}`;
}

/** Orders port labels by protocol, then numerically by first port. */
function compareLabels(a: string, b: string): number {
    const [pa, na] = a.split(" ");
    const [pb, nb] = b.split(" ");
    return pa.localeCompare(pb) || (parseInt(na, 10) || 0) - (parseInt(nb, 10) || 0) || a.localeCompare(b);
}

/** Who reaches what in the run: nodes and edges, sorted. */
export function topologyOf(run: OfflineRun, options: TopologyOptions = {}): Topology {
    if (run.preview) throw new Error("topology: a preview's ids are unknown; draw an applied run (runOffline without preview)");
    const idOf = options.idOf ?? ((r: PlannedResource) => mockId(r.name));
    const resources = [...run.resources].sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
    const separate = resources.filter((r) => SEPARATE_RULE_TYPES.includes(r.type));
    if (separate.length > 0) throw new Error(`topology: separate security group rule resources are not drawn: ${separate.map((r) => r.name).join(", ")}`);
    const resolve = resolverOf(resources, idOf);
    const isGroup = (r: PlannedResource | undefined): r is PlannedResource => r !== undefined && typeOf(r) === SECURITY_GROUP_TYPE;

    // Who each security group places (by the group's resource name).
    const members = new Map<string, PlannedResource[]>();
    for (const r of resources) {
        if (typeOf(r) === SECURITY_GROUP_TYPE) continue;
        for (const groupId of groupsOf(r)) {
            const group = resolve(groupId);
            if (!isGroup(group)) throw new Error(`topology: ${r.name} is in ${groupId}, which is no security group of the run`);
            const list = members.get(group.name) ?? [];
            if (!list.includes(r)) list.push(r);
            members.set(group.name, list);
        }
    }

    const drawn = resources.filter((r) => DRAWN_TYPES.includes(typeOf(r)) || (typeOf(r) !== SECURITY_GROUP_TYPE && groupsOf(r).length > 0));
    const prefix = commonPrefix(drawn.map((r) => r.name));
    const nodes = new Map<string, TopologyNode>();
    const nodeOf = new Map<PlannedResource, string>();
    const taken = new Set<string>(["cloudflare_group", CLOUDFLARE_NODE, INTERNET_NODE]);
    const allocate = (wanted: string): string => {
        let id = safeId(wanted);
        for (let n = 2; taken.has(id); n++) id = `${safeId(wanted)}_${n}`;
        taken.add(id);
        return id;
    };
    const zoneOf = (r: PlannedResource): string | undefined => {
        const i = inputsOf(r);
        const subnet = resolve(i.subnetId);
        return str(i.availabilityZone) ?? (subnet ? str(inputsOf(subnet).availabilityZone) : undefined);
    };
    for (const r of drawn) {
        const i = inputsOf(r);
        const short = shortName(r.name, prefix);
        const type = typeOf(r);
        let label: string[];
        let shape: TopologyNode["shape"] = "box";
        switch (type) {
            case T.instance:
                label = [short, `EC2 ${str(i.instanceType) ?? "instance"}`];
                break;
            case T.database:
                label = [short, `RDS ${[str(i.engine), str(i.engineVersion)].filter(Boolean).join(" ")}${i.multiAz === true ? ", Multi-AZ" : ""}`];
                shape = "database";
                break;
            case T.loadBalancer:
                label = [short, `${i.internal === true ? "internal" : "internet-facing"} ${str(i.loadBalancerType) ?? "application"} load balancer`];
                break;
            case T.listener:
                label = [short, `listener ${str(i.protocol) ?? "?"} :${String(i.port)}`, ...(str(i.sslPolicy) ? [String(i.sslPolicy)] : [])];
                break;
            case T.targetGroup: {
                const health = (i.healthCheck ?? {}) as Inputs;
                label = [short, `target group ${str(i.protocol) ?? "?"} :${String(i.port)}`, `health check ${[str(health.protocol), str(health.path)].filter(Boolean).join(" ")}`];
                break;
            }
            case T.runner:
                label = [short, `CodeBuild project ${awsName(r)}`];
                break;
            case T.instanceConnect:
                label = [short, "EC2 Instance Connect Endpoint"];
                break;
            case T.vercelProject:
                label = [short, `Vercel project ${awsName(r)}`];
                break;
            case T.dnsRecord:
                label = [str(i.name) ?? short, "DNS record"];
                break;
            default:
                label = [short, type.split(":").pop() ?? type];
        }
        const id = allocate(short);
        nodeOf.set(r, id);
        nodes.set(id, { id, label, shape, zone: type === T.dnsRecord ? undefined : zoneOf(r), cloudflare: type === T.dnsRecord || undefined, resource: r });
    }

    const edges = new Map<string, { from: string; to: string; kind: TopologyEdge["kind"]; labels: Set<string> }>();
    const addEdge = (from: string, to: string, kind: TopologyEdge["kind"], label: string) => {
        if (from === to) return;
        const key = `${from}\0${to}\0${kind}`;
        const edge = edges.get(key) ?? { from, to, kind, labels: new Set<string>() };
        edge.labels.add(label);
        edges.set(key, edge);
    };
    /** The same external source always gets the same id (several rules may name it). */
    const allocateExternal = (wanted: string): string => {
        const id = safeId(wanted);
        if (nodes.has(id)) return id;
        if (taken.has(id)) return allocate(wanted);
        taken.add(id);
        return id;
    };
    const externalNode = (id: string, label: string[], cloudflare = false): string => {
        if (!nodes.has(id)) nodes.set(id, { id, label, shape: "external", cloudflare: cloudflare || undefined });
        return id;
    };

    // What the security groups admit.
    const cloudflareRangesUsed = new Set<string>();
    const openRangesUsed = new Set<string>();
    for (const destination of drawn) {
        const to = nodeOf.get(destination) as string;
        for (const groupId of groupsOf(destination)) {
            const group = resolve(groupId) as PlannedResource;
            for (const rule of (inputsOf(group).ingress ?? []) as IngressRule[]) {
                const where = `${group.name} ingress`;
                if ((rule.prefixListIds ?? []).length > 0) throw new Error(`topology: ${where}: prefix lists are not drawn`);
                const label = portLabel(rule, where);
                const sourceGroups = [...(rule.securityGroups ?? []), ...(rule.self ? [groupId] : [])];
                for (const sourceId of sourceGroups) {
                    const source = resolve(sourceId);
                    if (!isGroup(source)) {
                        addEdge(externalNode(allocateExternal(`group_${sourceId}`), [`security group ${sourceId}`, "outside this stack"]), to, "admits", label);
                        continue;
                    }
                    const placed = members.get(source.name) ?? [];
                    if (placed.length === 0) {
                        addEdge(externalNode(allocateExternal(`group_${shortName(source.name, prefix)}`), [shortName(source.name, prefix), "security group with no members"]), to, "admits", label);
                    }
                    for (const member of placed) addEdge(nodeOf.get(member) as string, to, "admits", label);
                }
                const ranges = [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])];
                const cloudflare = ranges.filter((c) => CLOUDFLARE_RANGES.has(c));
                const open = ranges.filter((c) => OPEN_RANGES.has(c));
                const other = ranges.filter((c) => !CLOUDFLARE_RANGES.has(c) && !OPEN_RANGES.has(c)).sort();
                if (cloudflare.length > 0) {
                    cloudflare.forEach((c) => cloudflareRangesUsed.add(c));
                    addEdge(CLOUDFLARE_NODE, to, "admits", label);
                }
                if (open.length > 0) {
                    open.forEach((c) => openRangesUsed.add(c));
                    addEdge(INTERNET_NODE, to, "admits", label);
                }
                if (other.length > 0) {
                    const id = `ranges_${createHash("sha256").update(other.join(",")).digest("hex").slice(0, 8)}`;
                    addEdge(externalNode(id, other), to, "admits", label);
                }
            }
        }
    }
    if (cloudflareRangesUsed.size > 0) {
        externalNode(CLOUDFLARE_NODE, ["Cloudflare edge", `${cloudflareRangesUsed.size} published ranges`], true);
    }
    if (openRangesUsed.size > 0) externalNode(INTERNET_NODE, ["internet", ...[...openRangesUsed].sort()]);

    // DNS, listeners, target groups.
    const domains = resources.filter((r) => typeOf(r) === T.vercelDomain);
    for (const r of drawn) {
        const i = inputsOf(r);
        const id = nodeOf.get(r) as string;
        switch (typeOf(r)) {
            case T.dnsRecord: {
                const how = `${i.proxied === true ? "proxied " : ""}${str(i.type) ?? "record"}`;
                const target = resolve(i.content);
                if (target && nodeOf.has(target)) {
                    addEdge(id, nodeOf.get(target) as string, "link", how);
                    break;
                }
                // A name a Vercel project serves (its domain): the record points at Vercel.
                for (const domain of domains.filter((d) => str(inputsOf(d).domain) === str(i.name))) {
                    const projectRef = inputsOf(domain).projectId;
                    const project = resolve(projectRef);
                    const to = project && nodeOf.has(project) ? nodeOf.get(project) as string
                        : externalNode(allocateExternal(`vercel_${String(projectRef)}`), ["Vercel project", `${String(projectRef)} (not managed by this stack)`]);
                    addEdge(id, to, "link", how);
                }
                break;
            }
            case T.listener: {
                const lb = resolve(i.loadBalancerArn);
                if (lb && nodeOf.has(lb)) addEdge(nodeOf.get(lb) as string, id, "link", "listener");
                for (const action of (Array.isArray(i.defaultActions) ? i.defaultActions : []) as Inputs[]) {
                    const forwardTo = [action.targetGroupArn, ...(((action.forward as Inputs | undefined)?.targetGroups ?? []) as Inputs[]).map((t) => t.arn)];
                    for (const ref of forwardTo) {
                        const tg = resolve(ref);
                        if (tg && nodeOf.has(tg)) addEdge(id, nodeOf.get(tg) as string, "link", str(action.type) ?? "forward");
                    }
                }
                break;
            }
            default:
        }
    }
    for (const attachment of resources.filter((r) => typeOf(r) === T.attachment)) {
        const i = inputsOf(attachment);
        const tg = resolve(i.targetGroupArn);
        const target = resolve(i.targetId);
        if (!tg || !nodeOf.has(tg)) throw new Error(`topology: ${attachment.name}: target group ${String(i.targetGroupArn)} is not in the run`);
        if (!target || !nodeOf.has(target)) throw new Error(`topology: ${attachment.name}: target ${String(i.targetId)} is not in the run`);
        addEdge(nodeOf.get(tg) as string, nodeOf.get(target) as string, "link", i.port === undefined ? "target" : `target :${String(i.port)}`);
    }

    return {
        nodes: [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id)),
        edges: [...edges.values()]
            .map((e) => ({ from: e.from, to: e.to, kind: e.kind, label: [...e.labels].sort(compareLabels).join(", ") }))
            .sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to) || a.kind.localeCompare(b.kind)),
    };
}

function escapeLabel(line: string): string {
    return line.replace(/&/g, "#amp;").replace(/"/g, "#quot;").replace(/</g, "#lt;").replace(/>/g, "#gt;");
}

function renderNode(node: TopologyNode): string {
    const text = `"${node.label.map(escapeLabel).join("<br/>")}"`;
    switch (node.shape) {
        case "database": return `${node.id}[(${text})]`;
        case "external": return `${node.id}([${text}])`;
        default: return `${node.id}[${text}]`;
    }
}

/** Mermaid flowchart of {@link topologyOf}, fenced for Markdown. */
export function renderTopology(topology: Topology): string {
    const lines = ["```mermaid", "flowchart LR"];
    const cloudflare = topology.nodes.filter((n) => n.cloudflare);
    if (cloudflare.length > 0) {
        lines.push(`  subgraph cloudflare_group["Cloudflare"]`, ...cloudflare.map((n) => `    ${renderNode(n)}`), "  end");
    }
    const zones = [...new Set(topology.nodes.filter((n) => n.zone && !n.cloudflare).map((n) => n.zone as string))].sort();
    const taken = new Set(topology.nodes.map((n) => n.id));
    for (const zone of zones) {
        let id = safeId(`zone_${zone}`);
        while (taken.has(id)) id = `${id}_`;
        taken.add(id);
        lines.push(`  subgraph ${id}["availability zone ${escapeLabel(zone)}"]`);
        lines.push(...topology.nodes.filter((n) => n.zone === zone && !n.cloudflare).map((n) => `    ${renderNode(n)}`), "  end");
    }
    lines.push(...topology.nodes.filter((n) => !n.cloudflare && !n.zone).map((n) => `  ${renderNode(n)}`));
    for (const edge of topology.edges) {
        lines.push(`  ${edge.from} ${edge.kind === "admits" ? "-->" : "-.->"}|"${escapeLabel(edge.label)}"| ${edge.to}`);
    }
    lines.push("```");
    return lines.join("\n");
}

/** The topology of an applied offline run of the program, as a Mermaid flowchart. */
export function renderTopologyDiagram(run: OfflineRun, options: TopologyOptions = {}): string {
    return renderTopology(topologyOf(run, options));
}
