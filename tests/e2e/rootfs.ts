/**
 * The Debian 13 (trixie) root filesystem the end-to-end test hosts boot from.
 *
 * debootstrap takes minutes, so the finished tree is cached as a plain tarball under
 * {@link ROOTFS_CACHE_DIR}, keyed by a hash of everything that shapes it (suite, package list,
 * {@link ROOTFS_FORMAT_VERSION}). The tarball is uncompressed on purpose: every boot extracts a
 * fresh copy, and extracting without a decompressor is the fastest way to do that.
 * The facts behind the fixes below are in /work/shared/testhost.md.
 */
import { spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { removeTree, run, runOk } from "./testHostRun";

/** Where the cached tarball, its lock file and the build log live (outside any checkout). */
export const ROOTFS_CACHE_DIR = "/var/cache/pakashop-testhost";

/** Bump when the steps after debootstrap change, so caches built by older code are not reused. */
export const ROOTFS_FORMAT_VERSION = 2;

export const ROOTFS_SUITE = "trixie";

/**
 * Everything the hosts need, installed at build time: there is no network inside a host.
 * systemd..procps boot and administer the host; the rest are what the project's services use.
 */
export const ROOTFS_PACKAGES: readonly string[] = [
    "systemd", "systemd-sysv", "openssh-server", "dbus", "iproute2", "python3", "python3-venv",
    "nodejs", "npm", "golang-go", "nginx", "ssl-cert", "redis-server", "git", "curl",
    "ca-certificates", "libpam-systemd", "sudo", "procps",
];

/**
 * Installed with apt inside the new tree rather than by debootstrap: debootstrap's simple
 * resolver cannot configure npm's dependency tree (dpkg reports node-npmlog and node-gyp "not
 * configured yet" five times over and gives up), apt orders it correctly.
 */
const APT_INSTALLED: readonly string[] = ["npm"];

/** How long a second process waits for a build another process is running. */
const LOCK_WAIT_SECONDS = 3600;

/** Hash of every input that shapes the tree; part of the tarball's name. */
export function rootfsCacheKey(): string {
    const inputs = { version: ROOTFS_FORMAT_VERSION, suite: ROOTFS_SUITE, variant: "minbase", packages: [...ROOTFS_PACKAGES].sort(), apt: APT_INSTALLED };
    return createHash("sha256").update(JSON.stringify(inputs)).digest("hex").slice(0, 16);
}

/** Path of the cached tarball for the current package list (it may not exist yet). */
export function rootfsTarballPath(): string {
    return path.join(ROOTFS_CACHE_DIR, `rootfs-${ROOTFS_SUITE}-${rootfsCacheKey()}.tar`);
}

/**
 * Returns the path of an uncompressed tarball of the test hosts' root filesystem (numeric
 * owners, extended attributes kept), building it first if this machine has none yet.
 * Extract it with {@link extractRootfs}.
 *
 * Safe to call from several processes at once: builds are serialised with `flock` on a lock
 * file in {@link ROOTFS_CACHE_DIR}, and the tarball appears under its final name only once it
 * is complete (written aside, then renamed), so a crashed build never leaves a half cache.
 * Needs root; the first call on a machine needs the Debian mirror (about 100 s measured here).
 *
 * @param log receives progress lines; defaults to stderr, since a build is long and silent.
 */
export async function ensureRootfs(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<string> {
    const tarball = rootfsTarballPath();
    if (fs.existsSync(tarball)) return tarball;
    assertRoot("building the test hosts' root filesystem");
    fs.mkdirSync(ROOTFS_CACHE_DIR, { recursive: true });
    return withFileLock(path.join(ROOTFS_CACHE_DIR, "rootfs.lock"), log, async () => {
        // Another process may have finished the build while this one waited for the lock.
        if (!fs.existsSync(tarball)) await buildTarball(tarball, log);
        return tarball;
    });
}

/** Extracts the tarball from {@link ensureRootfs} into `dir` (created if missing; should be empty). */
export async function extractRootfs(tarball: string, dir: string): Promise<void> {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    await runOk("tar", ["--extract", "--file", tarball, "--directory", dir, "--numeric-owner", "--preserve-permissions", "--xattrs", "--xattrs-include=*"],
        `extracting the test-host root filesystem into ${dir}`);
}

export function assertRoot(what: string): void {
    if (process.getuid?.() !== 0) throw new Error(`${what} needs root (mounts, namespaces, debootstrap); run the tests as root, e.g. with sudo`);
}

async function buildTarball(tarball: string, log: (line: string) => void): Promise<void> {
    const started = Date.now();
    const key = rootfsCacheKey();
    const buildDir = path.join(ROOTFS_CACHE_DIR, `build-${key}`);
    const logFile = path.join(ROOTFS_CACHE_DIR, `build-${key}.log`);
    // We hold the lock, so a build folder here is the remains of a crashed build.
    await removeTree(buildDir);
    await ensureDebootstrap(log);
    const mirror = debianMirror();
    log(`testhost: building the ${ROOTFS_SUITE} root filesystem with debootstrap from ${mirror} (a few minutes; log in ${logFile})`);
    await debootstrap(buildDir, mirror, logFile);
    await aptInstall(buildDir, APT_INSTALLED, logFile);
    applyRootfsFixes(buildDir);
    await writeTarball(buildDir, tarball);
    await removeTree(buildDir);
    log(`testhost: root filesystem cached as ${tarball} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

async function ensureDebootstrap(log: (line: string) => void): Promise<void> {
    if ((await run("sh", ["-c", "command -v debootstrap"])).code === 0) return;
    log("testhost: installing debootstrap");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    if ((await run("apt-get", ["install", "-y", "-q", "debootstrap"], { env })).code === 0) return;
    // A fresh machine may have no package lists yet.
    await runOk("apt-get", ["update", "-q"], "apt-get update (needed to install debootstrap)", { env });
    await runOk("apt-get", ["install", "-y", "-q", "debootstrap"], "installing debootstrap (install it by hand: apt-get install debootstrap)", { env });
}

/**
 * The Debian mirror this machine's apt uses: the first `URIs:` line of the deb822 sources file,
 * else the first `deb` line of sources.list. Only that mirror is reachable from these machines.
 */
export function debianMirror(): string {
    const deb822 = readIfExists("/etc/apt/sources.list.d/debian.sources")?.match(/^URIs:\s*(\S+)/m)?.[1];
    if (deb822) return deb822;
    const legacy = readIfExists("/etc/apt/sources.list")?.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/m)?.[1];
    if (legacy) return legacy;
    throw new Error("found no Debian mirror: neither /etc/apt/sources.list.d/debian.sources has a URIs: line nor /etc/apt/sources.list a deb line; configure apt first");
}

function readIfExists(file: string): string | undefined {
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
}

async function debootstrap(dir: string, mirror: string, logFile: string): Promise<void> {
    const packages = ROOTFS_PACKAGES.filter((name) => !APT_INSTALLED.includes(name));
    const args = ["--variant=minbase", `--include=${packages.join(",")}`, ROOTFS_SUITE, dir, mirror];
    const result = await run("debootstrap", args);
    fs.writeFileSync(logFile, `$ debootstrap ${args.join(" ")}\n${result.stdout}${result.stderr}`);
    if (result.code === 0) return;
    // The folder is deleted below; its detailed log is what explains the failure, so keep it.
    const detailLog = `${logFile.replace(/\.log$/, "")}.debootstrap.log`;
    const detail = readIfExists(path.join(dir, "debootstrap/debootstrap.log")) ?? "";
    fs.writeFileSync(detailLog, detail);
    await removeTree(dir);
    throw new Error(`debootstrap exited ${result.code}; see ${logFile} and ${detailLog}. Check that ${mirror} is reachable and every package in ROOTFS_PACKAGES ` +
        `exists in ${ROOTFS_SUITE}; a package whose dependencies debootstrap can't configure belongs in APT_INSTALLED.\n${detail.trimEnd().split("\n").slice(-15).join("\n")}`);
}

/**
 * Installs packages with apt-get chrooted into the tree. It runs in a private mount namespace,
 * so the /proc that maintainer scripts need vanishes with it, and a policy-rc.d forbids
 * maintainer scripts to start services: nginx or redis started here would run on this machine.
 */
async function aptInstall(dir: string, packages: readonly string[], logFile: string): Promise<void> {
    if (packages.length === 0) return;
    const policy = "usr/sbin/policy-rc.d";
    writeRootfsFile(dir, policy, "#!/bin/sh\n# pakashop-testhost build: start no services in the chroot\nexit 101\n", 0o755);
    const script = 'mount -t proc proc "$1/proc" && chroot "$1" sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $2 && apt-get clean"';
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C.UTF-8" };
    const result = await run("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "apt-install", dir, packages.join(" ")], { env });
    fs.appendFileSync(logFile, `$ chroot apt-get install ${packages.join(" ")}\n${result.stdout}${result.stderr}`);
    fs.rmSync(path.join(dir, policy));
    if (result.code !== 0) {
        await removeTree(dir);
        throw new Error(`installing ${packages.join(" ")} with apt-get in the new root filesystem failed (exit ${result.code}); see ${logFile}:\n` +
            `${result.stderr.trimEnd().split("\n").slice(-15).join("\n")}`);
    }
}

/**
 * Writes a file inside a root filesystem. An existing entry is removed first, so a symlink in
 * the tree (resolv.conf often is one) can never redirect the write to the build machine's files.
 */
export function writeRootfsFile(root: string, relative: string, text: string, mode = 0o644): void {
    const file = path.join(root, relative);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.rmSync(file, { force: true });
    fs.writeFileSync(file, text, { mode, flag: "wx" });
    fs.chmodSync(file, mode);
}

/** The changes testhost.md found necessary, plus what makes a cached tree fit for many hosts. */
function applyRootfsFixes(root: string): void {
    // Without these, lookups of localhost hang (no resolver is reachable from the netns).
    writeRootfsFile(root, "etc/hosts", "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n");
    writeRootfsFile(root, "etc/resolv.conf", "nameserver 127.0.0.1\n");
    // The console is /dev/null; a getty on it respawns forever and keeps the state `degraded`.
    const getty = path.join(root, "etc/systemd/system/console-getty.service");
    fs.rmSync(getty, { force: true });
    fs.symlinkSync("/dev/null", getty);
    // Empty: systemd then makes up a fresh machine id on every boot, so no two hosts share one.
    writeRootfsFile(root, "etc/machine-id", "", 0o444);
    // dbus's postinst wrote an id of its own, which every host would share; point it at systemd's.
    fs.rmSync(path.join(root, "var/lib/dbus/machine-id"), { force: true });
    fs.symlinkSync("/etc/machine-id", path.join(root, "var/lib/dbus/machine-id"));
    // Each host gets its own host key at boot; sshd is told to use only that one (no RSA/ECDSA).
    for (const entry of fs.readdirSync(path.join(root, "etc/ssh"))) {
        if (entry.startsWith("ssh_host_")) fs.rmSync(path.join(root, "etc/ssh", entry));
    }
    writeRootfsFile(root, "etc/ssh/sshd_config.d/pakashop-testhost.conf", "HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\n");
    // Package lists are only good for downloads, and there is no network inside a host.
    const lists = path.join(root, "var/lib/apt/lists");
    for (const entry of fs.readdirSync(lists)) {
        if (entry !== "partial" && entry !== "lock") fs.rmSync(path.join(lists, entry), { recursive: true });
    }
    const archives = path.join(root, "var/cache/apt/archives");
    for (const entry of fs.readdirSync(archives)) {
        if (entry.endsWith(".deb")) fs.rmSync(path.join(archives, entry));
    }
}

/** Packs the tree under a temporary name and renames it into place, so readers never see half a file. */
async function writeTarball(dir: string, tarball: string): Promise<void> {
    // debootstrap normally unmounts its /proc and /sys; a leftover would not be archived anyway
    // (--one-file-system), but detaching it keeps the later rm safe.
    await removeTree(path.join(dir, "proc"));
    fs.mkdirSync(path.join(dir, "proc"), { mode: 0o555 });
    const partial = `${tarball}.partial-${process.pid}`;
    try {
        await runOk("tar", ["--create", "--file", partial, "--directory", dir, "--numeric-owner", "--xattrs", "--xattrs-include=*", "--one-file-system", "."],
            `archiving the root filesystem into ${partial} (is ${ROOTFS_CACHE_DIR} on a full disk?)`);
        fs.renameSync(partial, tarball);
    } finally {
        fs.rmSync(partial, { force: true });
    }
}

/**
 * Runs `body` while holding an exclusive flock(1) on `lockFile`. The lock is held by a small
 * `flock ... cat` child that exits when its stdin closes: when `body` ends, or when this process
 * dies in any way, so a crashed run can never leave the lock taken.
 */
async function withFileLock<T>(lockFile: string, log: (line: string) => void, body: () => Promise<T>): Promise<T> {
    const holder = spawn("flock", ["--exclusive", "--timeout", String(LOCK_WAIT_SECONDS), lockFile, "sh", "-c", "echo locked; exec cat >/dev/null"],
        { stdio: ["pipe", "pipe", "inherit"] });
    const exited = new Promise<number | null>((resolve) => holder.once("close", (code) => resolve(code)));
    const notice = setTimeout(() => log(`testhost: waiting for ${lockFile}: another process is building the root filesystem`), 2000);
    try {
        await new Promise<void>((resolve, reject) => {
            holder.stdout.once("data", () => resolve());
            holder.once("error", (error) => reject(new Error(`could not run flock to lock ${lockFile}: ${error.message} (util-linux is needed)`)));
            void exited.then((code) => reject(new Error(`could not lock ${lockFile} within ${LOCK_WAIT_SECONDS} s (flock exited ${code}); ` +
                `is another build hung? \`fuser -v ${lockFile}\` shows who holds it`)));
        });
    } finally {
        clearTimeout(notice);
    }
    try {
        return await body();
    } finally {
        holder.stdin.end();
        await exited;
    }
}
