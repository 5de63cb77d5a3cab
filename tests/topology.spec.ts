/**
 * The topology diagram (tools/topology.ts, the README's `topology` block) is drawn from what the
 * program registers: exact nodes and edges for production and staging, and negative cases (a
 * hand-made run, a mutated production run) showing that what the security groups admit, and
 * nothing written in the generator, decides the edges.
 */
import { strict as assert } from "assert";
import { OfflineRun, PlannedResource } from "../tools/offlineRun";
import { CLOUDFLARE_IPV4, mockId } from "../tools/mocks";
import { CLOUDFLARE_NODE, INTERNET_NODE, renderTopologyDiagram, Topology, TopologyEdge, topologyOf } from "../tools/topology";
import { securityGroupId } from "./e2e/securityGroups";
import { planStack } from "./helpers";

const INSTANCE = "aws:ec2/instance:Instance";
const SG = "aws:ec2/securityGroup:SecurityGroup";

/** `from -[label]-> to` for solid (security group) edges, `from -.[label].-> to` for dotted ones. */
function edgeText(e: TopologyEdge): string {
    return e.kind === "admits" ? `${e.from} -[${e.label}]-> ${e.to}` : `${e.from} -.[${e.label}].-> ${e.to}`;
}

/** The node ids of each zone subgraph, as rendered. */
function zoneSubgraphs(diagram: string): Record<string, string[]> {
    const zones: Record<string, string[]> = {};
    for (const block of diagram.matchAll(/^ {2}subgraph zone_\w+\["availability zone ([^"]+)"\]\n((?: {4}.*\n)*) {2}end$/gm)) {
        zones[block[1]] = block[2].trim().split("\n").map((line) => line.trim().split(/[[(]/)[0]);
    }
    return zones;
}

function resource(type: string, name: string, inputs: Record<string, unknown>): PlannedResource {
    return { urn: `urn:pulumi:test::test::${type}::${name}`, type, name, custom: true, parent: null, dependsOn: [], inputs };
}

function handMadeRun(resources: PlannedResource[]): OfflineRun {
    return { project: "test", stack: "test", resources, outputs: {}, placeholderSecrets: [] };
}

describe("topology diagram (tools/topology.ts)", function () {
    this.timeout(120_000);

    describe("production", () => {
        let run: OfflineRun;
        let topology: Topology;
        let diagram: string;
        before(async () => {
            run = await planStack("production");
            topology = topologyOf(run);
            diagram = renderTopologyDiagram(run);
        });

        it("draws every EC2 instance, named from its resource, in the subgraph of its zone: the two backend hosts in two zones", () => {
            const instances = topology.nodes.filter((n) => n.resource?.type === INSTANCE);
            assert.deepEqual(instances.map((n) => [n.id, n.zone]), [
                ["backend_1", "ap-south-1a"], ["backend_2", "ap-south-1b"], ["cache", "ap-south-1a"], ["search", "ap-south-1b"],
            ]);
            assert.deepEqual(zoneSubgraphs(diagram), {
                "ap-south-1a": ["backend_1", "cache", "instance_connect"],
                "ap-south-1b": ["backend_2", "search"],
            });
            assert.match(diagram, /^ {4}backend_1\["backend-1<br\/>EC2 m6i\.xlarge"\]$/m);
        });

        it("draws the load balancer, its listener (port, protocol, TLS policy) and target group (health check) from their inputs", () => {
            assert.match(diagram, /^ {2}lb\["lb<br\/>internet-facing application load balancer"\]$/m);
            assert.match(diagram, /^ {2}lb_https\["lb-https<br\/>listener HTTPS :443<br\/>ELBSecurityPolicy-TLS13-1-2-2021-06"\]$/m);
            assert.match(diagram, /^ {2}tg\["tg<br\/>target group HTTPS :443<br\/>health check HTTPS \/healthz"\]$/m);
            assert.match(diagram, /^ {2}database\[\("database<br\/>RDS postgres 16, Multi-AZ"\)\]$/m);
            assert.match(diagram, /^ {4}cloudflare_edge\(\["Cloudflare edge<br\/>15 published ranges"\]\)$/m);
        });

        it("has exactly the edges the security groups, DNS records, listener and attachments give", () => {
            assert.deepEqual(topology.edges.map(edgeText), [
                "backend_1 -[tcp 6379]-> cache",
                "backend_1 -[tcp 5432]-> database",
                "backend_1 -[tcp 7700]-> search",
                "backend_2 -[tcp 6379]-> cache",
                "backend_2 -[tcp 5432]-> database",
                "backend_2 -[tcp 7700]-> search",
                "cloudflare_edge -[tcp 443]-> lb",
                "edge_api -.[proxied CNAME].-> lb",
                "edge_frontend -.[proxied CNAME].-> frontend",
                "instance_connect -[tcp 22]-> backend_1",
                "instance_connect -[tcp 22]-> backend_2",
                "instance_connect -[tcp 22]-> cache",
                "instance_connect -[tcp 22]-> search",
                "lb -[tcp 443]-> backend_1",
                "lb -[tcp 443]-> backend_2",
                "lb -.[listener].-> lb_https",
                "lb_https -.[forward].-> tg",
                "runner -[tcp 22]-> backend_1",
                "runner -[tcp 22]-> backend_2",
                "runner -[tcp 22]-> cache",
                "runner -[tcp 5432]-> database",
                "runner -[tcp 22]-> search",
                "tg -.[target :443].-> backend_1",
                "tg -.[target :443].-> backend_2",
            ]);
            for (const line of ['  lb -->|"tcp 443"| backend_1', '  lb -->|"tcp 443"| backend_2', '  cloudflare_edge -->|"tcp 443"| lb',
                '  runner -->|"tcp 22"| backend_1', '  runner -->|"tcp 22"| backend_2', '  edge_api -.->|"proxied CNAME"| lb']) {
                assert.ok(diagram.split("\n").includes(line), `missing line: ${line}`);
            }
        });

        it("has no edge from Cloudflare or the internet to any instance, and no internet node at all", () => {
            const instances = new Set(topology.nodes.filter((n) => n.resource?.type === INSTANCE).map((n) => n.id));
            assert.deepEqual(topology.edges.filter((e) => (e.from === CLOUDFLARE_NODE || e.from === INTERNET_NODE) && instances.has(e.to)), []);
            assert.equal(topology.nodes.some((n) => n.id === INTERNET_NODE), false);
        });

        it("is deterministic, and its ids are Mermaid-safe", () => {
            assert.equal(renderTopologyDiagram(run), diagram);
            for (const node of topology.nodes) assert.match(node.id, /^[A-Za-z][A-Za-z0-9_]*$/);
            assert.ok(diagram.startsWith("```mermaid\nflowchart LR\n") && diagram.endsWith("\n```"));
        });

        it("reflects the program: the backend group admitting 0.0.0.0/0 on 443 draws the internet to every backend host", () => {
            const mutated: OfflineRun = {
                ...run,
                resources: run.resources.map((r) => {
                    if (r.type !== SG || r.name !== "pakashop-production-backend-sg") return r;
                    const ingress = [...(r.inputs.ingress as object[]), { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] }];
                    return { ...r, inputs: { ...r.inputs, ingress } };
                }),
            };
            const edges = topologyOf(mutated).edges.filter((e) => e.from === INTERNET_NODE).map(edgeText);
            assert.deepEqual(edges, ["internet -[tcp 443]-> backend_1", "internet -[tcp 443]-> backend_2"]);
            assert.match(renderTopologyDiagram(mutated), /^ {2}internet\(\["internet<br\/>0\.0\.0\.0\/0"\]\)$/m);
        });
    });

    it("staging: one backend host; the frontend record points at the Vercel project the stack looks up", async () => {
        const topology = topologyOf(await planStack("staging"));
        assert.deepEqual(topology.nodes.filter((n) => n.resource?.type === INSTANCE).map((n) => n.id), ["backend_1", "cache", "search"]);
        const edges = topology.edges.map(edgeText);
        assert.ok(edges.includes("lb -[tcp 443]-> backend_1"));
        assert.ok(edges.includes("tg -.[target :443].-> backend_1"));
        assert.ok(edges.includes("edge_frontend -.[proxied CNAME].-> vercel_prj_mockfrontend"));
        assert.equal(edges.some((e) => e.startsWith(`${CLOUDFLARE_NODE} `) && !e.endsWith("-> lb")), false);
    });

    describe("a hand-made run", () => {
        const zone = resource("aws:ec2/subnet:Subnet", "net-private-0", { availabilityZone: "eu-west-1c", cidrBlock: "10.0.0.0/24" });
        const group = (ingress: object[]) => resource(SG, "web-sg", { ingress, egress: [] });
        // No availabilityZone input: the instance is drawn in its subnet's zone.
        const web = resource(INSTANCE, "web-instance", { instanceType: "t3.micro", subnetId: mockId("net-private-0"), vpcSecurityGroupIds: [mockId("web-sg")] });

        it("an SG admitting 0.0.0.0/0 on 22 to an instance draws an internet edge on tcp 22", () => {
            const run = handMadeRun([zone, group([{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] }]), web]);
            assert.equal(renderTopologyDiagram(run), [
                "```mermaid",
                "flowchart LR",
                '  subgraph zone_eu_west_1c["availability zone eu-west-1c"]',
                '    web["web<br/>EC2 t3.micro"]',
                "  end",
                '  internet(["internet<br/>0.0.0.0/0"])',
                '  internet -->|"tcp 22"| web',
                "```",
            ].join("\n"));
        });

        it("splits a rule's ranges into the Cloudflare edge, the internet and the other ranges, and merges ports per pair", () => {
            const run = handMadeRun([zone, web, group([
                { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: [CLOUDFLARE_IPV4[0], CLOUDFLARE_IPV4[1], "198.51.100.0/24"], ipv6CidrBlocks: ["::/0"] },
                { protocol: "tcp", fromPort: 8000, toPort: 8100, cidrBlocks: ["198.51.100.0/24"] },
                { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: [CLOUDFLARE_IPV4[2]] },
            ])]);
            const topology = topologyOf(run);
            const ranges = topology.nodes.find((n) => n.id.startsWith("ranges_"));
            assert.deepEqual(ranges?.label, ["198.51.100.0/24"]);
            assert.deepEqual(topology.edges.map(edgeText), [
                "cloudflare_edge -[all traffic, tcp 443]-> web",
                "internet -[tcp 443]-> web",
                `${ranges?.id} -[tcp 443, tcp 8000-8100]-> web`,
            ]);
            assert.deepEqual(topology.nodes.find((n) => n.id === CLOUDFLARE_NODE)?.label, ["Cloudflare edge", "3 published ranges"]);
        });

        it("members of a source group reach the members of the group holding the rule; ids as the run gives them (the e2e's here)", () => {
            const runner = resource("aws:codebuild/project:Project", "ci-project", { name: "ci", vpcConfig: { securityGroupIds: [securityGroupId("ci-sg")] } });
            const runnerGroup = resource(SG, "ci-sg", { ingress: [] });
            const ids: Record<string, string> = { "ci-sg": securityGroupId("ci-sg"), "web-sg": securityGroupId("web-sg"), "net-private-0": "subnet-0" };
            const host = resource(INSTANCE, "web-instance", { instanceType: "t3.micro", availabilityZone: "eu-west-1a", subnetId: "subnet-0", vpcSecurityGroupIds: [securityGroupId("web-sg")] });
            const run = handMadeRun([zone, runnerGroup, runner, host, group([{ protocol: "tcp", fromPort: 22, toPort: 22, securityGroups: [securityGroupId("ci-sg")] }])]);
            const topology = topologyOf(run, { idOf: (r) => ids[r.name] ?? mockId(r.name) });
            assert.deepEqual(topology.edges.map(edgeText), ["ci -[tcp 22]-> web"]);
            // The explicit zone wins over the subnet's.
            assert.equal(topology.nodes.find((n) => n.id === "web")?.zone, "eu-west-1a");
        });

        it("fails loudly on what it can't draw: a preview, separate rule resources, a group not in the run", () => {
            const base = [zone, group([]), web];
            assert.throws(() => topologyOf({ ...handMadeRun(base), preview: true }), /a preview's ids are unknown/);
            assert.throws(() => topologyOf(handMadeRun([...base, resource("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "extra", {})])),
                /separate security group rule resources are not drawn: extra/);
            const stray = resource(INSTANCE, "stray-instance", { vpcSecurityGroupIds: ["sg-nowhere"] });
            assert.throws(() => topologyOf(handMadeRun([...base, stray])), /stray-instance is in sg-nowhere, which is no security group of the run/);
        });
    });
});
