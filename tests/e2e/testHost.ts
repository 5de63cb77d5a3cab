/**
 * Real systemd hosts for end-to-end tests, booted on this machine in their own namespaces.
 *
 * Each host is a fresh copy of a cached Debian 13 root filesystem ({@link ensureRootfs}) with
 * systemd as PID 1 in its own PID, mount, UTS, IPC and cgroup namespaces, and its own network
 * namespace reached over a veth pair at `10.213.<subnetIndex>.2` (the machine is `.1`), or, with
 * the `segment` option, as a port of a shared bridge (tests/e2e/testNetwork.ts). Tests
 * talk to it over ssh as root, like the deploy scripts talk to real hosts, or run commands
 * inside directly with {@link TestHost.exec}. Needs root. Facts: /work/shared/testhost.md.
 *
 * ```ts
 * before(() => destroyAllTestHosts());
 * const host = await TestHost.boot({ name: "web", subnetIndex: 1 });
 * try { assert.equal((await host.ssh("systemctl is-active nginx")).stdout.trim(), "active"); }
 * finally { await host.destroy(); }
 * ```
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { assertRoot, ensureRootfs, extractRootfs, writeRootfsFile } from "./rootfs";
import {
    assertSubnetFree, cgroupDir, createCgroup, createNetwork, deleteNetwork, hostDir, killCgroup, listHostCgroups, listHostDirs,
    listNetns, NAME_PREFIX, netnsExists, netnsName, removeCgroup, removeHostDir, SegmentAttachment, subnetOf,
} from "./testHostResources";
import { childrenOf, CommandResult, isSameProcess, pollUntil, ProcessId, processId, run, runOk, signalRecorded, sleep, tailOf } from "./testHostRun";

export { ensureRootfs, ROOTFS_CACHE_DIR, ROOTFS_PACKAGES } from "./rootfs";
export type { CommandResult } from "./testHostRun";

/** Options of {@link TestHost.boot}. */
export interface TestHostOptions {
    /** Lowercase letters, digits and dashes; names the netns `pkst-<name>`, the cgroup and the hostname. */
    name: string;
    /** 0..255: the host gets 10.213.<subnetIndex>.2/30. Concurrent hosts need different indexes. */
    subnetIndex: number;
    /**
     * Join this shared segment (tests/e2e/testNetwork.ts) at its address instead of getting a
     * /30 link to this machine; `subnetIndex` then only names the veth. Default: the /30 link.
     */
    segment?: SegmentAttachment;
    /** Upper bound for systemd to reach `running`/`degraded` and sshd to answer. Default 60 s. */
    bootTimeoutMs?: number;
    /** Receives warnings (a degraded boot) and progress; defaults to stderr. */
    log?: (line: string) => void;
}

/** Options of {@link TestHost.ssh} and {@link TestHost.exec}. */
export interface CommandOptions {
    /** Text for the command's stdin. */
    input?: string;
    /** Kill the command after this long (result code 124). Default 120 s. */
    timeoutMs?: number;
}

/** How the last boot ended up. */
export interface BootReport {
    /** What `systemctl is-system-running` said once the boot settled. */
    state: "running" | "degraded";
    /** Units in the `failed` state (empty when `running`). */
    failedUnits: string[];
    /** Milliseconds from starting the launcher to systemd settled, and to sshd answering. */
    systemdMs: number;
    sshMs: number;
}

/** On-disk record of a host, so a later run can clean up after a crashed one. */
interface HostState {
    name: string;
    /** The test process that owns the host; while it lives, other runs leave the host alone. */
    owner: ProcessId;
    /** The recorded processes of the current boot (absent while powered off). */
    launcher?: ProcessId;
    pid1?: ProcessId;
}

/** Signal number of SIGRTMIN+4 (glibc's SIGRTMIN is 34): systemd's "power off cleanly". */
const SIGRTMIN_PLUS_4 = 38;
const POWEROFF_GRACE_MS = 10_000;
const DEFAULT_BOOT_TIMEOUT_MS = 60_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;
const INIT_SCRIPT = path.join(__dirname, "testHostInit.sh");
/** A clean environment for commands inside: the machine's (proxies, locale, HOME) would leak in. */
const INSIDE_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };
const NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;

/** Hosts of this process that are not destroyed yet (for destroyAllTestHosts). */
const liveHosts = new Set<TestHost>();
/** Recorded PID 1 of every host of this process that is up (for the exit hook). */
const runningPid1 = new Map<TestHost, ProcessId>();

/** A booted (or powered-off) test host. Create with {@link TestHost.boot}; always {@link TestHost.destroy}. */
export class TestHost {
    /** The host's address inside its netns, reachable from this machine (on its segment, if it joined one). */
    readonly address: string;
    /** This machine's address on the host's veth (or on its segment); the host's default gateway. */
    readonly gateway: string;
    /** Folder of the host's files: `rootfs/`, the client key, known_hosts, console.log, state.json. */
    readonly dir: string;
    /** The host's root filesystem: a fresh extracted copy in `dir`, on a tmpfs of its own; gone after destroy. */
    readonly rootfs: string;
    /** OpenSSH private key (ed25519) authorised for root on the host. */
    privateKey = "";
    /** The host's `ssh-ed25519 AAAA... root@<name>` public key line, read from its rootfs. */
    hostPublicKey = "";
    /** Outcome of the latest boot. */
    bootReport: BootReport | undefined;
    /** Options for ssh/scp/rsync -e that reach this host as root with key and host-key checking. */
    readonly sshOptions: readonly string[];

    private launcher: { id: ProcessId; pid1: ProcessId } | undefined;
    private destroyed = false;
    private readonly log: (line: string) => void;
    private readonly bootTimeoutMs: number;
    private readonly segment: SegmentAttachment | undefined;

    private constructor(readonly name: string, readonly subnetIndex: number, options: TestHostOptions) {
        this.segment = options.segment;
        ({ address: this.address, gateway: this.gateway } = options.segment ?? subnetOf(subnetIndex));
        this.dir = hostDir(name);
        this.rootfs = path.join(this.dir, "rootfs");
        this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
        this.bootTimeoutMs = options.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS;
        // -F /dev/null: the machine's ssh_config (proxies, GSSAPI) must not apply. Plain
        // curve25519 key exchange: the default post-quantum sntrup761 hybrid costs about 130 ms
        // of CPU per connection here, half of every round trip, and buys nothing on a veth.
        this.sshOptions = [
            "-F", "/dev/null", "-o", "KexAlgorithms=curve25519-sha256", "-i", this.keyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
            "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${path.join(this.dir, "known_hosts")}`,
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
        ];
    }

    /**
     * Boots a new host: fresh rootfs copy, new client and host keys, netns, cgroup, systemd.
     * Resolves once `systemctl is-system-running` says `running` or `degraded` (the failed units
     * are then logged and listed in {@link bootReport}) and sshd accepts the key. On any failure
     * everything created so far is removed before the error is thrown.
     */
    static async boot(options: TestHostOptions): Promise<TestHost> {
        validateOptions(options);
        assertRoot("booting a test host");
        const tarball = await ensureRootfs(options.log);
        await assertNameFree(options.name);
        if (!options.segment) await assertSubnetFree(options.subnetIndex);
        const host = new TestHost(options.name, options.subnetIndex, options);
        claimHostDir(host.dir);
        liveHosts.add(host);
        installExitHook();
        try {
            host.writeState();
            await host.prepare(tarball);
            await host.start();
            return host;
        } catch (error) {
            await host.destroy().catch((cleanup: Error) => host.log(`testhost: cleanup after the failed boot of ${host.name} failed too: ${cleanup.message}`));
            throw error;
        }
    }

    /** Host PID of the host's systemd. Throws while the host is powered off. */
    get pid1(): number {
        if (!this.launcher) throw new Error(`test host ${this.name} is not running; call bootAgain() first`);
        return this.launcher.pid1.pid;
    }

    /** True between a boot and the next poweroff/destroy. */
    get running(): boolean {
        return this.launcher !== undefined && isSameProcess(this.launcher.pid1);
    }

    private get keyFile(): string {
        return path.join(this.dir, "id_ed25519");
    }

    /**
     * Runs a shell command on the host as root over ssh (the system `ssh`, this host's key,
     * strict host-key checking, BatchMode). Never throws for a failing command: code 255 means
     * ssh itself failed (see stderr), 124 the timeout.
     */
    ssh(command: string, options: CommandOptions = {}): Promise<CommandResult> {
        return run("ssh", [...this.sshOptions, `root@${this.address}`, command], { input: options.input, timeoutMs: options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS });
    }

    /**
     * Runs a program inside the host without ssh, entering all its namespaces with
     * `nsenter -t <pid1> -a` (so it works before sshd is up). Runs as root with a clean
     * environment; the process is not part of any unit.
     */
    async exec(args: string[], options: CommandOptions = {}): Promise<CommandResult> {
        return run("nsenter", ["-t", String(this.pid1), "-a", "--", ...args],
            { env: INSIDE_ENV, input: options.input, timeoutMs: options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS });
    }

    /**
     * Powers the host off cleanly (SIGRTMIN+4 to systemd, which stops every unit); after
     * 10 s it is killed instead. Root filesystem, netns and keys stay for {@link bootAgain}.
     */
    async poweroff(): Promise<void> {
        const launcher = this.launcher;
        if (!launcher) return;
        signalRecorded(launcher.pid1, SIGRTMIN_PLUS_4);
        if (!(await waitGone(launcher.id, POWEROFF_GRACE_MS))) {
            this.log(`testhost: ${this.name} did not power off within ${POWEROFF_GRACE_MS / 1000} s; killing it`);
            await this.kill();
        }
        this.forgetLauncher();
        this.writeState();
        // systemd's sub-cgroups are empty now; the next boot should start from a clean tree.
        await removeCgroup(cgroupDir(this.name), true);
    }

    /** Boots the same root filesystem again: same address, keys and state on disk (a reboot). */
    async bootAgain(): Promise<void> {
        if (this.destroyed) throw new Error(`test host ${this.name} was destroyed; boot a new one with TestHost.boot()`);
        if (this.launcher) throw new Error(`test host ${this.name} is still running; call poweroff() before bootAgain()`);
        await this.start();
    }

    /**
     * Removes everything: kills the recorded processes (the PID namespace dies with PID 1),
     * deletes the netns with its veth, the cgroup and the host's folder with its rootfs.
     * Idempotent; safe after a failed boot.
     */
    async destroy(): Promise<void> {
        await this.kill();
        this.forgetLauncher();
        this.destroyed = true;
        liveHosts.delete(this);
        await teardown(this.name);
    }

    private forgetLauncher(): void {
        this.launcher = undefined;
        runningPid1.delete(this);
    }

    private async kill(): Promise<void> {
        if (this.launcher) await killRecorded(this.name, this.launcher.pid1, this.launcher.id);
    }

    /** Everything before the first boot: rootfs copy, keys, netns, cgroup. */
    private async prepare(tarball: string): Promise<void> {
        const hostKey = path.join(this.dir, "ssh_host_ed25519_key");
        // The slow extraction overlaps with the rest.
        await Promise.all([
            this.mountRootfs().then(() => extractRootfs(tarball, this.rootfs)),
            sshKeygen(this.keyFile, "pakashop-testhost"),
            sshKeygen(hostKey, `root@${this.name}`),
            createNetwork(this.name, this.subnetIndex, this.segment),
        ]);
        createCgroup(this.name);
        this.privateKey = fs.readFileSync(this.keyFile, "utf8");
        this.hostPublicKey = this.installIdentity(hostKey);
        fs.writeFileSync(path.join(this.dir, "known_hosts"), `${this.address} ${this.hostPublicKey}\n`);
    }

    /**
     * The rootfs copy lives on its own tmpfs. Extracting the 1 GB, 58,000-file tree onto this
     * machine's ext4 (mounted with online `discard`) took 7.5 s at best and up to 25 s once
     * deleted trees were being discarded; into tmpfs it takes about 1.2 s, and teardown is
     * an unmount. The cost is RAM (about 1.1 GB per host, plus what the host writes). The
     * source name pkst-<name> makes a leftover easy to spot in `mount`.
     */
    private async mountRootfs(): Promise<void> {
        fs.mkdirSync(this.rootfs, { mode: 0o755 });
        await runOk("mount", ["-t", "tmpfs", "-o", "mode=755,size=50%", netnsName(this.name), this.rootfs],
            `mounting a tmpfs for the root filesystem of test host ${this.name}`);
    }

    /** Gives the rootfs copy its own name, host key and the client's authorised key; returns the host public key line. */
    private installIdentity(hostKey: string): string {
        writeRootfsFile(this.rootfs, "etc/hostname", `${this.name}\n`);
        fs.appendFileSync(path.join(this.rootfs, "etc/hosts"), `127.0.1.1 ${this.name}\n`);
        writeRootfsFile(this.rootfs, "etc/ssh/ssh_host_ed25519_key", fs.readFileSync(hostKey, "utf8"), 0o600);
        writeRootfsFile(this.rootfs, "etc/ssh/ssh_host_ed25519_key.pub", fs.readFileSync(`${hostKey}.pub`, "utf8"));
        fs.mkdirSync(path.join(this.rootfs, "root/.ssh"), { recursive: true, mode: 0o700 });
        fs.chmodSync(path.join(this.rootfs, "root/.ssh"), 0o700);
        writeRootfsFile(this.rootfs, "root/.ssh/authorized_keys", fs.readFileSync(`${this.keyFile}.pub`, "utf8"), 0o600);
        return fs.readFileSync(path.join(this.rootfs, "etc/ssh/ssh_host_ed25519_key.pub"), "utf8").trim();
    }

    /** Starts systemd in fresh namespaces and waits for it and sshd. */
    private async start(): Promise<void> {
        const started = Date.now();
        this.launcher = await this.launch();
        runningPid1.set(this, this.launcher.pid1);
        this.writeState();
        const { state, failedUnits } = await this.waitForSystemd();
        const systemdMs = Date.now() - started;
        await this.waitForSsh(started);
        this.bootReport = { state, failedUnits, systemdMs, sshMs: Date.now() - started };
        if (state === "degraded") this.log(`testhost: ${this.name} booted degraded; failed units: ${failedUnits.join(", ")} (\`journalctl -u <unit>\` inside shows why)`);
    }

    /**
     * Spawns the launcher: a shell that moves itself into the host's cgroup (so the cgroup
     * namespace is rooted there) and becomes `nsenter --net ... unshare ... sh testHostInit.sh`.
     * unshare's forked child is PID 1 in the new PID namespace; --kill-child ties its life to
     * the launcher's. Output (the init script's errors) goes to `console.log` in the host folder.
     */
    private async launch(): Promise<{ id: ProcessId; pid1: ProcessId }> {
        const consoleLog = path.join(this.dir, "console.log");
        const out = fs.openSync(consoleLog, "a");
        const script = 'echo $$ > "$1/cgroup.procs" && exec nsenter --net="$2" unshare --pid --fork --kill-child --mount --uts --ipc --cgroup sh "$3" "$4" "$5"';
        const child = spawn("sh", ["-c", script, "launcher", cgroupDir(this.name), `/run/netns/${netnsName(this.name)}`, INIT_SCRIPT, this.rootfs, this.name],
            { stdio: ["ignore", out, out], env: INSIDE_ENV });
        fs.closeSync(out);
        // A test process must be able to exit with a host still up (its exit hook kills it).
        child.unref();
        const launcherPid = child.pid;
        const id = launcherPid === undefined ? undefined : processId(launcherPid);
        if (!id) throw new Error(`could not start the launcher of test host ${this.name}: ${tailOf(consoleLog) || "no output"}`);
        const pid1 = await pollUntil(async () => {
            if (!isSameProcess(id)) throw new Error(`test host ${this.name}: the launcher exited at once; console.log says:\n${tailOf(consoleLog)}`);
            const [first] = childrenOf(id.pid);
            return first === undefined ? undefined : processId(first);
        }, 5000, 10, () => `test host ${this.name}: unshare did not fork PID 1 within 5 s; console.log says:\n${tailOf(consoleLog)}`);
        return { id, pid1 };
    }

    /** Polls `systemctl is-system-running` until the boot settles; throws with what systemd was still doing if it doesn't. */
    private async waitForSystemd(): Promise<{ state: "running" | "degraded"; failedUnits: string[] }> {
        let last = "no answer";
        const probe = async () => {
            this.assertStillRunning();
            // Until the init script has exec'd systemd, nsenter would land in the machine's own root.
            if (readComm(this.pid1) !== "systemd") return undefined;
            const result = await this.exec(["systemctl", "is-system-running"], { timeoutMs: 5000 });
            last = `${result.stdout}${result.stderr}`.trim() || `exit ${result.code}`;
            if (last === "running" || last === "degraded") return last;
            if (last === "maintenance" || last === "stopping") throw new Error(`test host ${this.name}: systemd went to "${last}" while booting; ${this.consoleHint()}`);
            return undefined;
        };
        let state: "running" | "degraded";
        try {
            state = await pollUntil(probe, this.bootTimeoutMs, 50, () => `test host ${this.name}: systemd did not finish booting within ${this.bootTimeoutMs} ms ` +
                `(is-system-running said "${last}")`);
        } catch (error) {
            // The host is torn down after this, so say now what it was waiting for.
            throw new Error(`${(error as Error).message}. ${await this.pendingJobs()}`);
        }
        return { state, failedUnits: state === "degraded" ? await this.failedUnits() : [] };
    }

    /** `systemctl list-jobs` inside, for error messages; a boot that hangs is waiting on one of these. */
    private async pendingJobs(): Promise<string> {
        if (!this.running || readComm(this.pid1) !== "systemd") return this.consoleHint();
        const jobs = await this.exec(["systemctl", "list-jobs", "--no-pager"], { timeoutMs: 3000 }).catch(() => undefined);
        return jobs ? `Jobs still queued:\n${jobs.stdout.trim().split("\n").slice(0, 15).join("\n")}` : this.consoleHint();
    }

    private async failedUnits(): Promise<string[]> {
        const result = await this.exec(["systemctl", "list-units", "--state=failed", "--plain", "--no-legend", "--no-pager"]);
        return result.stdout.split("\n").map((line) => line.trim().split(/\s+/)[0]).filter(Boolean);
    }

    /** Polls ssh until the key is accepted; sshd may still be binding when systemd says running. */
    private async waitForSsh(started: number): Promise<void> {
        let last = "";
        await pollUntil(async () => {
            this.assertStillRunning();
            const result = await this.ssh("true", { timeoutMs: 10_000 });
            last = result.stderr.trim();
            return result.code === 0 ? true : undefined;
        }, Math.max(this.bootTimeoutMs - (Date.now() - started), 1000), 100, () => `test host ${this.name}: sshd at ${this.address} did not accept the key ` +
            `within the boot timeout (last ssh error: ${last || "none"}); inside, \`systemctl status ssh\` and \`journalctl -u ssh\` show why`);
    }

    private assertStillRunning(): void {
        if (!this.running) throw new Error(`test host ${this.name}: systemd (PID 1) exited during boot. ${this.consoleHint()}`);
    }

    private consoleHint(): string {
        const tail = tailOf(path.join(this.dir, "console.log"));
        return tail ? `console.log says:\n${tail}` : `console.log (${path.join(this.dir, "console.log")}) is empty`;
    }

    private writeState(): void {
        const state: HostState = { name: this.name, owner: processId(process.pid)!, launcher: this.launcher?.id, pid1: this.launcher?.pid1 };
        fs.writeFileSync(path.join(this.dir, "state.json"), `${JSON.stringify(state, null, 2)}\n`);
    }
}

/**
 * Removes leftovers of earlier runs that crashed or forgot to destroy their hosts: every host
 * of this process, and every host folder, `pkst-*` netns and `pkst-*` cgroup not owned by
 * another still-running process. Only recorded PIDs are killed (PID plus start time from the
 * host's state.json), and processes inside an unrecorded pkst- cgroup, which only a launcher
 * could have put there. Call it in a `before` hook.
 */
export async function destroyAllTestHosts(): Promise<void> {
    for (const host of [...liveHosts]) await host.destroy();
    const busy = new Set<string>();
    for (const name of listHostDirs()) {
        const state = readState(name);
        if (state && state.owner.pid !== process.pid && isSameProcess(state.owner)) {
            busy.add(name);
            continue;
        }
        await killRecorded(name, state?.pid1, state?.launcher);
        await teardown(name);
    }
    // A stage's own namespaces (tests/e2e/testNetwork.ts) are named after its backend host:
    // pkst-<host>-vpc, pkst-<host>-pub.
    const owner = (netns: string) => [...busy].some((name) => netns === `${NAME_PREFIX}${name}` || netns.startsWith(`${NAME_PREFIX}${name}-`));
    for (const netns of await listNetns()) {
        if (netns.startsWith(NAME_PREFIX) && !owner(netns)) await deleteNetwork(netns);
    }
    for (const name of listHostCgroups()) {
        if (busy.has(name)) continue;
        killCgroup(cgroupDir(name));
        await removeCgroup(cgroupDir(name));
    }
}

function readState(name: string): HostState | undefined {
    try {
        return JSON.parse(fs.readFileSync(path.join(hostDir(name), "state.json"), "utf8")) as HostState;
    } catch {
        return undefined;
    }
}

/**
 * Kills a host's recorded PID 1 (its PID namespace, every process inside, dies with it) and
 * waits for the launcher to exit. The launcher is killed only if it lingers: unshare reaps
 * PID 1 itself, and killing it first would leave PID 1 behind as a zombie.
 */
async function killRecorded(name: string, pid1: ProcessId | undefined, launcher: ProcessId | undefined): Promise<void> {
    if (pid1) signalRecorded(pid1, "SIGKILL");
    if (!launcher || (await waitGone(launcher, 5000))) return;
    signalRecorded(launcher, "SIGKILL");
    if (!(await waitGone(launcher, 5000))) {
        throw new Error(`test host ${name}: launcher PID ${launcher.pid} survived SIGKILL for 5 s (stuck in the kernel? see \`cat /proc/${launcher.pid}/stack\`)`);
    }
}

/** Removes a host's netns, cgroup and folder; its processes must be dead already. */
async function teardown(name: string): Promise<void> {
    await deleteNetwork(netnsName(name));
    await removeCgroup(cgroupDir(name));
    await removeHostDir(name);
}

/** Waits for a recorded process to exit; false if it still runs after `timeoutMs`. */
async function waitGone(id: ProcessId, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (isSameProcess(id)) {
        if (Date.now() >= deadline) return false;
        await sleep(20);
    }
    return true;
}

function readComm(pid: number): string {
    try {
        return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {
        return "";
    }
}

function validateOptions(options: TestHostOptions): void {
    if (!NAME_PATTERN.test(options.name)) {
        throw new Error(`test host name "${options.name}" is not usable: use 1-31 lowercase letters, digits and dashes, starting with a letter`);
    }
    if (!Number.isInteger(options.subnetIndex) || options.subnetIndex < 0 || options.subnetIndex > 255) {
        throw new Error(`subnetIndex ${options.subnetIndex} is not an integer in 0..255 (it picks 10.213.<subnetIndex>.0/30)`);
    }
}

async function assertNameFree(name: string): Promise<void> {
    if (fs.existsSync(hostDir(name)) || fs.existsSync(cgroupDir(name)) || (await netnsExists(name))) {
        throw new Error(`a test host named ${name} already exists (${hostDir(name)}, netns ${netnsName(name)} or cgroup ${cgroupDir(name)}): ` +
            "destroy it, or call destroyAllTestHosts() to clear leftovers of a crashed run");
    }
}

/**
 * Creates the host's folder. mkdir is atomic, so of two processes booting the same name at
 * once exactly one gets it; the other fails here, before it has anything it could tear down.
 */
function claimHostDir(dir: string): void {
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    try {
        fs.mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        throw new Error(`${dir} appeared while this test host was being booted: another process is booting a host with the same name; use distinct names`);
    }
}

async function sshKeygen(file: string, comment: string): Promise<void> {
    await runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file], `generating the ssh key ${file}`);
}

let exitHookInstalled = false;

/**
 * If the test process exits with hosts still up, kill their systemd synchronously (the PID
 * namespace goes with it) so no host keeps running unowned. The netns, cgroup and folder stay
 * for destroyAllTestHosts(): removing them needs asynchronous work an exit handler can't do.
 */
function installExitHook(): void {
    if (exitHookInstalled) return;
    exitHookInstalled = true;
    process.on("exit", () => {
        for (const pid1 of runningPid1.values()) signalRecorded(pid1, "SIGKILL");
    });
}
