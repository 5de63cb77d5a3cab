/**
 * The machine-side resources of a test host, each created and removed idempotently: its
 * network namespace with a veth pair, its cgroup, and its folder (root filesystem, keys, log,
 * state). Everything is named from the host's name, so leftovers of a crashed run can be found
 * again by name alone.
 */
import * as fs from "fs";
import * as path from "path";
import { removeTree, runOk, sleep } from "./testHostRun";

/** Prefix of every netns and cgroup a test host owns; nothing else on the machine uses it. */
export const NAME_PREFIX = "pkst-";

/** Parent of every host's folder; each host has `HOSTS_DIR/<name>/` with `rootfs/` inside. */
export const HOSTS_DIR = "/var/tmp/pakashop-testhost/hosts";

/** Network namespace name of a host. */
export function netnsName(name: string): string {
    return `${NAME_PREFIX}${name}`;
}

/** The /30 of a host: the machine's end (`.1`) and the host's address (`.2`). */
export function subnetOf(subnetIndex: number): { gateway: string; address: string; prefix: string } {
    const base = `10.213.${subnetIndex}`;
    return { gateway: `${base}.1`, address: `${base}.2`, prefix: `${base}.0/30` };
}

/**
 * A shared layer-2 segment a host can join instead of its own point-to-point link: a bridge in
 * a network namespace of its own (tests/e2e/testNetwork.ts makes one; it stands in for a VPC).
 */
export interface SegmentAttachment {
    /** The namespace holding the bridge. */
    readonly netns: string;
    /** The bridge inside {@link netns}. */
    readonly bridge: string;
    /** The host's address on the segment. */
    readonly address: string;
    readonly prefixLength: number;
    /** The host's default gateway: this machine's address on the segment. */
    readonly gateway: string;
}

/** Outer veth name; interface names are limited to 15 characters, so it uses the index. */
function vethName(subnetIndex: number): string {
    return `${NAME_PREFIX}v${subnetIndex}`;
}

export async function netnsExists(name: string): Promise<boolean> {
    return (await listNetns()).includes(netnsName(name));
}

/** Names of all network namespaces (`ip netns list` prints "name (id: N)" per line). */
export async function listNetns(): Promise<string[]> {
    const result = await runOk("ip", ["netns", "list"], "listing network namespaces");
    return result.stdout.split("\n").map((line) => line.split(" ")[0]).filter(Boolean);
}

/** Throws if some interface already has an address in the host's /30 (another host, or a leftover). */
export async function assertSubnetFree(subnetIndex: number): Promise<void> {
    const { prefix } = subnetOf(subnetIndex);
    const taken = (await runOk("ip", ["-o", "-4", "addr", "show", "to", prefix], "listing addresses")).stdout.trim();
    if (taken) {
        throw new Error(`subnet ${prefix} (subnetIndex ${subnetIndex}) is already in use:\n${taken}\n` +
            "give each concurrent test host its own subnetIndex, or call destroyAllTestHosts() to clear leftovers");
    }
}

/**
 * Creates the netns with a veth pair: `eth0` inside with the host address and a default route
 * via the other end. Without `segment` the other end is in this machine's namespace with the
 * gateway address (a /30 of its own); with it, the other end is a port of the segment's bridge
 * and the host has no link to this machine but through the segment. The peer is created
 * directly inside its namespace, so a crash can never leave half a pair in the machine's.
 */
export async function createNetwork(name: string, subnetIndex: number, segment?: SegmentAttachment): Promise<void> {
    const ns = netnsName(name);
    const veth = vethName(subnetIndex);
    const { gateway, address, prefixLength } = segment ?? { ...subnetOf(subnetIndex), prefixLength: 30 };
    const outer: [string[], string][] = segment
        ? [
            [["link", "add", veth, "netns", segment.netns, "type", "veth", "peer", "name", "eth0", "netns", ns], `creating veth ${veth} in ${segment.netns}`],
            [["-n", segment.netns, "link", "set", veth, "master", segment.bridge, "up"], `adding ${veth} to bridge ${segment.bridge} in ${segment.netns}`],
        ]
        : [
            [["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns], `creating veth ${veth}`],
            [["addr", "add", `${gateway}/30`, "dev", veth], `addressing ${veth}`],
            [["link", "set", veth, "up"], `bringing up ${veth}`],
        ];
    const steps: [string[], string][] = [
        [["netns", "add", ns], `creating network namespace ${ns}`],
        ...outer,
        [["-n", ns, "link", "set", "lo", "up"], `bringing up lo in ${ns}`],
        [["-n", ns, "addr", "add", `${address}/${prefixLength}`, "dev", "eth0"], `addressing eth0 in ${ns}`],
        [["-n", ns, "link", "set", "eth0", "up"], `bringing up eth0 in ${ns}`],
        [["-n", ns, "route", "add", "default", "via", gateway], `adding the default route in ${ns}`],
    ];
    for (const [args, what] of steps) await runOk("ip", args, what);
}

/** Deletes a netns (if present); its veth pair goes with it. */
export async function deleteNetwork(netns: string): Promise<void> {
    if (!(await listNetns()).includes(netns)) return;
    await runOk("ip", ["netns", "delete", netns], `deleting network namespace ${netns} (is a process still inside? \`ip netns pids ${netns}\`)`);
}

const CGROUP2_SUPER_MAGIC = 0x63677270;

function isCgroup2(dir: string): boolean {
    try {
        return fs.statfsSync(dir).type === CGROUP2_SUPER_MAGIC;
    } catch {
        return false;
    }
}

/**
 * Where host cgroups go. systemd inside needs a cgroup2 hierarchy: on hybrid machines (like
 * these, cgroup v1 plus an empty unified tree) that is /sys/fs/cgroup/unified; on pure cgroup v2
 * machines it is /sys/fs/cgroup itself.
 */
export function cgroupRoot(): string {
    for (const dir of ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]) if (isCgroup2(dir)) return dir;
    throw new Error("found no cgroup2 hierarchy at /sys/fs/cgroup/unified or /sys/fs/cgroup; systemd inside a test host needs one " +
        "(mount it with `mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified`)");
}

/** The cgroup folder of a host. */
export function cgroupDir(name: string): string {
    return path.join(cgroupRoot(), `${NAME_PREFIX}${name}`);
}

export function createCgroup(name: string): string {
    const dir = cgroupDir(name);
    fs.mkdirSync(dir);
    return dir;
}

/** Names (without prefix) of the host cgroups present, e.g. left by a crashed run. */
export function listHostCgroups(): string[] {
    return fs.readdirSync(cgroupRoot()).filter((entry) => entry.startsWith(NAME_PREFIX)).map((entry) => entry.slice(NAME_PREFIX.length));
}

/**
 * Kills every process in a host's cgroup tree with `cgroup.kill`. Only for leftovers whose
 * PIDs were never recorded: the only processes in a pkst- cgroup are a launcher and what it
 * started, so nothing else can be hit.
 */
export function killCgroup(dir: string): void {
    const kill = path.join(dir, "cgroup.kill");
    if (fs.existsSync(kill)) fs.writeFileSync(kill, "1");
}

/**
 * Removes the sub-cgroups systemd made inside a host's cgroup, deepest first (a cgroup folder
 * can only be removed when empty), and the host's cgroup too unless `keepTop`. Processes that
 * were just killed take a moment to leave, so a busy cgroup is retried for a few seconds.
 */
export async function removeCgroup(dir: string, keepTop = false): Promise<void> {
    if (!fs.existsSync(dir)) return;
    const children = fs.readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isDirectory());
    for (const child of children) await removeCgroup(path.join(dir, child.name));
    if (keepTop) return;
    for (let attempt = 0; ; attempt++) {
        try {
            fs.rmdirSync(dir);
            return;
        } catch (error) {
            const code = (error as NodeJS.ErrnoException).code;
            if (code === "ENOENT") return;
            if (code !== "EBUSY" || attempt >= 100) {
                const procs = fs.existsSync(path.join(dir, "cgroup.procs")) ? fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").trim() : "";
                throw new Error(`could not remove cgroup ${dir}: ${code}${procs ? `; processes still in it: ${procs.split("\n").join(" ")}` : ""}`);
            }
            await sleep(30);
        }
    }
}

/** Folder of a host's files. */
export function hostDir(name: string): string {
    return path.join(HOSTS_DIR, name);
}

/** Deletes a host's folder, detaching anything still mounted below it first. */
export async function removeHostDir(name: string): Promise<void> {
    await removeTree(hostDir(name));
}

/** Host names that have a folder under {@link HOSTS_DIR}. */
export function listHostDirs(): string[] {
    return fs.existsSync(HOSTS_DIR) ? fs.readdirSync(HOSTS_DIR) : [];
}
