/**
 * The test network of the end-to-end stage, in network namespaces of its own (nothing of the
 * machine's own network is touched but one veth of its own name):
 *
 * - the private segment, standing in for the stack's VPC: a bridge in the namespace
 *   `pkst-<stage>-vpc`, 10.216.<index>.0/24. Every test host joins it (its only link); this
 *   machine joins it too, at `.1`, in the position of the in-VPC deploy runner: the command
 *   engine runs the program's steps from here.
 * - the load balancer's namespace `pkst-<stage>-lb` (tests/e2e/loadBalancerStandin.ts), on the
 *   segment and on the public side, as the ALB's nodes sit in the public subnets.
 * - the public side, standing in for the internet: the namespace `pkst-<stage>-pub`, linked to
 *   the load balancer only (its public address). It holds an ordinary internet address and one
 *   address inside a range Cloudflare publishes (a Cloudflare edge proxy). It has no link to
 *   this machine or the segment, so nothing there can leave the namespaces.
 *
 * Every namespace here has the `pkst-` prefix: `destroyAllTestHosts()` removes leftovers of a
 * crashed run, and deleting a namespace removes its bridge and every veth with an end in it.
 */
import { spawn } from "child_process";
import { deleteNetwork, listNetns, NAME_PREFIX, SegmentAttachment } from "./testHostResources";
import { run, runOk } from "./testHostRun";

/** The stand-in VPC. */
export interface PrivateSegment {
    readonly netns: string;
    readonly bridge: string;
    /** `10.216.<index>.0/24` */
    readonly cidr: string;
    /** This machine's address on the segment: the deploy runner's position. */
    readonly runnerAddress: string;
    /** The attachment of a host at `10.216.<index>.<hostNumber>`. */
    attachment(hostNumber: number): SegmentAttachment;
}

/** Addresses of the public side (all in documentation ranges, or in a closed namespace). */
export const PUBLIC = {
    /** The load balancer's public address (what Cloudflare's DNS record leads to); TEST-NET-3. */
    loadBalancerAddress: "203.0.113.10",
    /** The internet's router on the load balancer's public link. */
    routerAddress: "203.0.113.1",
    prefixLength: 24,
    /** Some client on the internet (TEST-NET-2). */
    clientAddress: "198.51.100.7",
    /**
     * A Cloudflare edge proxy: an address in 173.245.48.0/20, the first range Cloudflare
     * publishes (https://www.cloudflare.com/ips/). It exists only inside the public namespace.
     */
    cloudflareAddress: "173.245.48.10",
} as const;

/** The runner's veth in this machine's namespace; its peer is a port of the bridge. */
function runnerVeth(index: number): string {
    return `${NAME_PREFIX}r${index}`;
}

/** Creates the segment `10.216.<index>.0/24` in `pkst-<stage>-vpc`, with this machine on it at `.1`. */
export async function createSegment(stage: string, index: number): Promise<PrivateSegment> {
    const netns = `${NAME_PREFIX}${stage}-vpc`;
    const bridge = "vpc0";
    const base = `10.216.${index}`;
    const runnerAddress = `${base}.1`;
    const veth = runnerVeth(index);
    const taken = (await runOk("ip", ["-o", "-4", "addr", "show", "to", `${base}.0/24`], "listing addresses")).stdout.trim();
    if (taken) throw new Error(`${base}.0/24 is in use on this machine already (a leftover? \`npm run testhost -- clean\`):\n${taken}`);
    const steps: [string[], string][] = [
        [["netns", "add", netns], `creating network namespace ${netns}`],
        [["-n", netns, "link", "add", bridge, "type", "bridge"], `creating bridge ${bridge} in ${netns}`],
        [["-n", netns, "link", "set", bridge, "up"], `bringing up ${bridge}`],
        // The peer is made inside the segment's namespace, so the pair goes with it.
        [["link", "add", veth, "type", "veth", "peer", "name", "runner", "netns", netns], `creating veth ${veth}`],
        [["-n", netns, "link", "set", "runner", "master", bridge, "up"], "adding the runner's port to the bridge"],
        [["addr", "add", `${runnerAddress}/24`, "dev", veth], `addressing ${veth}`],
        [["link", "set", veth, "up"], `bringing up ${veth}`],
    ];
    try {
        for (const [args, what] of steps) await runOk("ip", args, what);
    } catch (error) {
        await deleteNetwork(netns);
        throw error;
    }
    return {
        netns,
        bridge,
        cidr: `${base}.0/24`,
        runnerAddress,
        attachment: (hostNumber) => ({ netns, bridge, address: `${base}.${hostNumber}`, prefixLength: 24, gateway: runnerAddress }),
    };
}

/**
 * Creates the public side `pkst-<stage>-pub` and links it to the namespace `hostNetns` (the
 * load balancer's) as its public interface `pub0`, which becomes that namespace's default route,
 * as a public subnet's route to the internet gateway. The public side has a route to
 * `privateCidr` through the load balancer's public address, the best an attacker on the internet
 * could do: the load balancer's namespace does not forward, and no host admits anything from
 * there anyway.
 */
export async function createPublicSide(stage: string, hostNetns: string, privateCidr: string): Promise<string> {
    const netns = `${NAME_PREFIX}${stage}-pub`;
    const p = PUBLIC;
    const steps: [string[], string][] = [
        [["netns", "add", netns], `creating network namespace ${netns}`],
        [["-n", netns, "link", "set", "lo", "up"], `bringing up lo in ${netns}`],
        [["link", "add", "pub0", "netns", hostNetns, "type", "veth", "peer", "name", "eth0", "netns", netns], `linking ${hostNetns} to ${netns}`],
        [["-n", netns, "addr", "add", `${p.routerAddress}/${p.prefixLength}`, "dev", "eth0"], "addressing the public side"],
        [["-n", netns, "addr", "add", `${p.clientAddress}/32`, "dev", "lo"], "adding the internet client's address"],
        [["-n", netns, "addr", "add", `${p.cloudflareAddress}/32`, "dev", "lo"], "adding the Cloudflare proxy's address"],
        [["-n", netns, "link", "set", "eth0", "up"], "bringing up the public side's link"],
        [["-n", netns, "route", "add", privateCidr, "via", p.loadBalancerAddress], "routing the private range at the load balancer"],
        [["-n", hostNetns, "addr", "add", `${p.loadBalancerAddress}/${p.prefixLength}`, "dev", "pub0"], "addressing the load balancer's public interface"],
        [["-n", hostNetns, "link", "set", "pub0", "up"], "bringing up the load balancer's public interface"],
        [["-n", hostNetns, "route", "replace", "default", "via", p.routerAddress, "dev", "pub0"], "routing the load balancer's traffic to the internet"],
    ];
    try {
        for (const [args, what] of steps) await runOk("ip", args, what);
    } catch (error) {
        await deleteNetwork(netns);
        throw error;
    }
    return netns;
}

/** Removes the namespaces of a stage's test network (and with them the bridge and every veth). */
export async function deleteStageNetwork(stage: string): Promise<void> {
    for (const netns of await listNetns()) {
        if ([`${NAME_PREFIX}${stage}-vpc`, `${NAME_PREFIX}${stage}-pub`, `${NAME_PREFIX}${stage}-lb`].includes(netns)) await deleteNetwork(netns);
    }
}

/** Replaces the `pakashop_sg` table of a namespace with `ruleset` (one nft transaction). */
export async function applyRuleset(netns: string, ruleset: string): Promise<void> {
    await runOk("ip", ["netns", "exec", netns, "nft", "-f", "-"], `loading the security-group ruleset into ${netns} (is nftables installed?)`, { input: ruleset });
}

/** The `pakashop_sg` table of a namespace as nft lists it, or "" when it has none. */
export async function listRuleset(netns: string): Promise<string> {
    const result = await run("ip", ["netns", "exec", netns, "nft", "list", "table", "inet", "pakashop_sg"]);
    return result.code === 0 ? result.stdout : "";
}

/**
 * What a TCP connect gives: `open` (handshake done), `refused` (RST: reachable, nothing
 * listening), `filtered` (no answer within the timeout: dropped on the way or by the target's
 * firewall, as a security group drops), `unreachable` (no route).
 */
export type ProbeResult = "open" | "refused" | "filtered" | "unreachable";

const PROBE_SCRIPT = `
const net = require("net");
const [host, port, localAddress, timeout] = process.argv.slice(1);
const socket = net.connect({ host, port: Number(port), localAddress: localAddress || undefined });
const done = (result) => { process.stdout.write(result); socket.destroy(); process.exit(0); };
socket.setTimeout(Number(timeout), () => done("filtered"));
socket.on("connect", () => done("open"));
socket.on("error", (e) => done(e.code === "ECONNREFUSED" ? "refused" : ["EHOSTUNREACH", "ENETUNREACH"].includes(e.code) ? "unreachable" : "error " + e.code));
`;

/**
 * A TCP connect from inside `netns` (this machine's own namespace when undefined), from
 * `from` if given (an address of that namespace).
 */
export async function tcpProbe(netns: string | undefined, host: string, port: number, from?: string, timeoutMs = 1500): Promise<ProbeResult> {
    const node = [process.execPath, "-e", PROBE_SCRIPT, host, String(port), from ?? "", String(timeoutMs)];
    const [command, ...args] = netns ? ["ip", "netns", "exec", netns, ...node] : node;
    const result = await new Promise<string>((resolve, reject) => {
        const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => (out += d));
        child.stderr.on("data", (d: Buffer) => (err += d));
        child.on("error", reject);
        child.on("close", () => resolve(out || `error ${err.trim()}`));
    });
    if (!["open", "refused", "filtered", "unreachable"].includes(result)) throw new Error(`probe of ${host}:${port} from ${netns ?? "this machine"}: ${result}`);
    return result as ProbeResult;
}
