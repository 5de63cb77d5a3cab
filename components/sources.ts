/**
 * How the services' sources reach the hosts: the machine running Pulumi packs them, the hosts
 * never fetch anything.
 *
 * The services monorepo is private. The deploy workflows already hold a token for it (they
 * need one to resolve the released commit), so they check it out next to this repository and
 * point {@link SERVICES_REPOSITORY_ENV} at the clone. For every service the program archives the
 * tree of `services/<id>` at the revision there, at program time, into a tarball under
 * {@link SOURCES_CACHE_DIR}; {@link bundleSources} puts the 19 tarballs side by side in a folder
 * named by their checksums, and one `remote.CopyToRemote` step ships that folder to the host
 * over one SFTP session (19 sessions would cost more than the copying, and every SSH session a
 * deploy opens competes for the host's cores). The hosts need no credential and no route to
 * GitHub.
 *
 * A service is identified by its folder's content, not by the monorepo commit: the git tree id
 * of `services/<id>` changes exactly when a file in it (or a mode) changes. The tarball is
 * made from that tree with every time stamp set to zero (zeroTarTimes), so two commits that
 * leave a service's folder alone give the same bytes, the same checksum, and no step runs for
 * that service (host/prepare/prepareScript.ts derives the release id from the tree).
 *
 * State stays small: the folder travels as a `FileArchive`, which the engine records by path
 * and content hash, never by content (https://www.pulumi.com/docs/iac/concepts/assets-archives/);
 * the hash of a folder archive is that of a tar of its files' names and bytes, no time stamps
 * (pulumi sdk/go/common/resource/archive/archive.go, archiveTar), and its path is relative to
 * the project, so another machine or checkout folder sees no change.
 * The archive of a tree is byte-for-byte reproducible once its time stamps are fixed (git sets
 * them to the current time for a tree), so the same folder hashes the same on every run and
 * machine with the same git. A tree archive also skips `export-subst` (which would write the
 * commit into the files and make every commit a new release).
 *
 * The branch rule moved here too: a revision that is not on the stack's branch in the clone is
 * refused before anything is registered, so production only ever runs commits of `production`.
 */
import { execFileSync, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { full } from "./configReaders";
import { SettingError } from "./errors";

/** Path of a local clone of the services monorepo, set by the deploy workflows (or by hand). */
export const SERVICES_REPOSITORY_ENV = "PAKASHOP_SERVICES_REPO";
/**
 * Whether a run without a clone may plan with placeholder sources. Only the offline tools turn
 * it on (tools/offlineRun.ts, in their own process, under Pulumi's mocks); nothing a real
 * `pulumi up` reads (environment, config) can, so a deploy never goes ahead without sources.
 * The placeholder's path is in a folder nothing creates, so even an engine would fail on it.
 */
let placeholdersAllowed = false;
export function allowPlaceholderSources(allowed: boolean): void {
    placeholdersAllowed = allowed;
}
/** The folder placeholder paths point into; never created. */
const PLACEHOLDER_DIR = ".pakashop/not-packed-offline";
/** Where packed tarballs go, relative to the project folder (git-ignored). */
export const SOURCES_CACHE_DIR = ".pakashop/sources";
/** What a placeholder source shows instead of a checksum. */
export const UNPACKED = "not-packed-offline";

/** One service's packed sources. */
export interface ServiceSource {
    readonly serviceId: string;
    readonly revision: string;
    /**
     * The git tree id of `services/<id>` at the revision: the service's content identity
     * ({@link UNPACKED} for a placeholder).
     */
    readonly tree: string;
    /** SHA-256 of the tarball: the host checks it before it builds, and it identifies the deploy. */
    readonly sha256: string;
    /** The tarball on the machine running Pulumi (absolute; a placeholder's is never created). */
    readonly file: string;
    /** False for an offline plan's placeholder. */
    readonly packed: boolean;
}

/** What {@link packServiceSources} needs. */
export interface PackArgs {
    /** The project folder; the cache lives under it. */
    readonly projectDir: string;
    /** The stack's branch: every revision must be on it. */
    readonly branch: string;
    /** Commit per service id. */
    readonly serviceRevisions: Readonly<Record<string, string>>;
    /** The environment to read {@link SERVICES_REPOSITORY_ENV} from. @default process.env */
    readonly env?: NodeJS.ProcessEnv;
    /**
     * The setting a service's revision comes from, for error messages.
     * @default "pakashop-infra:revision"
     */
    readonly revisionSetting?: (serviceId: string) => string;
}

/**
 * Each service's content identity at its revision: the git tree of `services/<id>`, after the
 * checks every deploy makes (the clone, the branch, each revision on it, the folder there).
 * The drift check uses it to know which release each service should run without packing.
 * Throws a {@link SettingError} naming what is wrong and the fix; `undefined` when there is
 * no clone and the offline tools allowed placeholders.
 */
export function serviceTrees(args: PackArgs): { readonly repository: string; readonly trees: Record<string, string> } | undefined {
    const env = args.env ?? process.env;
    const repository = env[SERVICES_REPOSITORY_ENV];
    const setting = args.revisionSetting ?? (() => full("revision"));
    if (!repository) {
        if (placeholdersAllowed) return undefined;
        throw new SettingError(SERVICES_REPOSITORY_ENV, undefined,
            "must name a local clone of the services monorepo: the hosts get their sources from the machine running Pulumi, never from GitHub",
            `clone it with the stack's branch (git clone --branch ${args.branch} <monorepo> ../pakashop) and export ${SERVICES_REPOSITORY_ENV}=../pakashop`);
    }
    const git = (gitArgs: string[]) => runGit(repository, gitArgs).ok;
    const probe = runGit(repository, ["rev-parse", "--git-dir"]);
    if (!probe.ok) {
        throw new SettingError(SERVICES_REPOSITORY_ENV, repository, `is not a git repository git can use (${probe.complaint})`, "point it at a clone of the services monorepo");
    }
    const branchRef = [`refs/remotes/origin/${args.branch}`, `refs/heads/${args.branch}`]
        .find((ref) => git(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]));
    if (branchRef === undefined) {
        throw new SettingError(SERVICES_REPOSITORY_ENV, repository, `has no branch ${args.branch} (neither origin/${args.branch} nor a local ${args.branch})`,
            `fetch it: git -C ${repository} fetch origin ${args.branch}`);
    }
    // One `git cat-file --batch-check` answers every lookup (each revision as a commit, each
    // service folder as a tree): a spawn per service would cost more than the rest of a plan.
    const entries = Object.entries(args.serviceRevisions);
    const revisions = [...new Set(entries.map(([, revision]) => revision))];
    const queries = [...revisions.map((revision) => `${revision}^{commit}`), ...entries.map(([serviceId, revision]) => `${revision}:services/${serviceId}`)];
    const answers = batchCheck(repository, queries);
    for (const [serviceId, revision] of entries) {
        if (answers.get(`${revision}^{commit}`)?.type !== "commit") {
            throw new SettingError(setting(serviceId), revision, `(service ${serviceId}) is not a commit of the clone at ${repository}`, `fetch it: git -C ${repository} fetch origin ${args.branch}`);
        }
    }
    for (const revision of revisions) {
        if (!git(["merge-base", "--is-ancestor", revision, branchRef])) {
            const serviceId = (entries.find(([, r]) => r === revision) as [string, string])[0];
            throw new SettingError(setting(serviceId), revision, `(service ${serviceId}) is not on branch ${args.branch} (${branchRef}); this stack deploys only commits of ${args.branch}`,
                `deploy a commit of ${args.branch}, or fetch the branch if the clone is behind: git -C ${repository} fetch origin ${args.branch}`);
        }
    }
    const trees: Record<string, string> = {};
    for (const [serviceId, revision] of entries) {
        // `<rev>:<path>` names the folder's tree (a file there would be a blob, not a folder).
        const answer = answers.get(`${revision}:services/${serviceId}`);
        if (answer?.type !== "tree") {
            throw new SettingError(setting(serviceId), revision, `has no folder services/${serviceId}`,
                "deploy a revision that has the service, or set its own revision under pakashop-infra:services");
        }
        trees[serviceId] = answer.object;
    }
    return { repository, trees };
}

/** Packs every service's sources, or throws a {@link SettingError} naming what is wrong and the fix. */
export function packServiceSources(args: PackArgs): Record<string, ServiceSource> {
    const resolved = serviceTrees(args);
    if (!resolved) {
        return Object.fromEntries(Object.entries(args.serviceRevisions).map(([serviceId, revision]) => [serviceId, {
            serviceId, revision, tree: UNPACKED, sha256: UNPACKED, packed: false,
            file: path.join(args.projectDir, PLACEHOLDER_DIR, `${serviceId}-${revision}.tar`),
        }]));
    }
    fs.mkdirSync(path.join(args.projectDir, SOURCES_CACHE_DIR), { recursive: true });
    const sources: Record<string, ServiceSource> = {};
    for (const [serviceId, tree] of Object.entries(resolved.trees)) {
        // Named by the tree: a tarball in the cache is the same bytes whichever commit asked.
        const file = path.join(args.projectDir, SOURCES_CACHE_DIR, `${serviceId}-${tree}.tar`);
        if (!fs.existsSync(file)) writeArchive(resolved.repository, tree, file);
        sources[serviceId] = {
            serviceId, revision: args.serviceRevisions[serviceId], tree, packed: true,
            sha256: createHash("sha256").update(fs.readFileSync(file)).digest("hex"),
            file,
        };
    }
    return sources;
}

/**
 * `git cat-file --batch-check` over names: each name's object id and type, or no entry when git
 * reports it missing (or ambiguous). Names come from settings, which were validated as commit
 * ids and service ids, so none holds a newline.
 */
function batchCheck(repository: string, names: readonly string[]): Map<string, { readonly object: string; readonly type: string }> {
    const result = spawnSync("git", ["-C", repository, "cat-file", "--batch-check=%(objectname) %(objecttype)"],
        { encoding: "utf8", input: names.map((name) => `${name}\n`).join(""), stdio: ["pipe", "pipe", "pipe"] });
    if (result.status !== 0) throw new SettingError(SERVICES_REPOSITORY_ENV, repository, `cannot be read by git cat-file (${(result.stderr ?? "").trim().split("\n")[0]})`, "point it at a clone of the services monorepo");
    const lines = (result.stdout ?? "").split("\n");
    const answers = new Map<string, { object: string; type: string }>();
    names.forEach((name, i) => {
        const match = /^([0-9a-f]{40,64}) (commit|tree|blob|tag)$/.exec(lines[i] ?? "");
        if (match) answers.set(name, { object: match[1], type: match[2] });
    });
    return answers;
}

/** The folder of tarballs one copy step ships: see {@link bundleSources}. */
export interface SourceBundle {
    /** SHA-256 over every service's id and tarball checksum ({@link UNPACKED} for placeholders). */
    readonly digest: string;
    /**
     * The folder, named `incoming` so that copying it into the host's `/var/lib/pakashop` fills
     * `/var/lib/pakashop/incoming` (CopyToRemote puts a folder `d` at `<remotePath>/d`); its
     * path is relative to the project folder, where Pulumi runs the program.
     */
    readonly archive: pulumi.asset.FileArchive;
}

/** The name the bundle's folder has, on both sides. */
export const BUNDLE_FOLDER = "incoming";

/**
 * Hard links to every service's tarball, as `<id>.tar`, in one folder named by their checksums
 * (made once, in a temporary name, then renamed): the same sources give the same folder, path
 * and content, so an unchanged rollout copies nothing.
 */
export function bundleSources(projectDir: string, sources: Readonly<Record<string, ServiceSource>>): SourceBundle {
    const entries = Object.values(sources).sort((a, b) => a.serviceId.localeCompare(b.serviceId));
    if (!entries.every((s) => s.packed)) {
        return { digest: UNPACKED, archive: new pulumi.asset.FileArchive(path.join(PLACEHOLDER_DIR, "bundle", BUNDLE_FOLDER)) };
    }
    const digest = createHash("sha256").update(entries.map((s) => `${s.serviceId} ${s.sha256}\n`).join("")).digest("hex");
    const folder = path.join(projectDir, SOURCES_CACHE_DIR, "bundles", digest.slice(0, 32), BUNDLE_FOLDER);
    if (!fs.existsSync(folder)) {
        const partial = `${folder}.partial-${process.pid}`;
        fs.rmSync(partial, { recursive: true, force: true });
        fs.mkdirSync(partial, { recursive: true });
        try {
            for (const source of entries) fs.linkSync(source.file, path.join(partial, `${source.serviceId}.tar`));
            fs.renameSync(partial, folder);
        } catch (error) {
            // Another run packing the same sources at the same time made it first: the same files.
            if (!fs.existsSync(folder)) throw error;
        } finally {
            fs.rmSync(partial, { recursive: true, force: true });
        }
    }
    // Relative to where the program runs: the engine reads a relative archive path from its
    // working directory, which `pulumi up` sets to the project folder (Pulumi.yaml has no main:).
    return { digest, archive: new pulumi.asset.FileArchive(path.relative(process.cwd(), folder)) };
}

/** Runs git in the clone: whether it succeeded, what it printed, and else its first line of complaint. */
function runGit(repository: string, args: string[]): { readonly ok: boolean; readonly stdout: string; readonly complaint: string } {
    const result = spawnSync("git", ["-C", repository, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const complaint = (result.stderr ?? "").trim().split("\n")[0] || result.error?.message || `git exited ${result.status}`;
    return { ok: result.status === 0, stdout: (result.stdout ?? "").trim(), complaint };
}

/**
 * Options that make `git archive` give the same bytes on every machine for one revision: no
 * line-ending conversion (a Windows checkout's autocrlf would ship CRLF scripts) and one umask
 * for the modes in the tarball. What remains is git's own tar format.
 */
const REPRODUCIBLE_ARCHIVE = ["-c", "core.autocrlf=false", "-c", "core.eol=lf", "-c", "tar.umask=0022"];

/**
 * `git archive` of the service's tree, time stamps zeroed, into a temporary name, then renamed:
 * a crashed run never leaves half a tarball. Entries sit at the root of the tarball (no
 * `services/<id>/` prefix): the host unpacks it into the release folder as it is.
 */
function writeArchive(repository: string, tree: string, file: string): void {
    const partial = `${file}.partial-${process.pid}`;
    try {
        const tar = execFileSync("git", [...REPRODUCIBLE_ARCHIVE, "-C", repository, "archive", "--format=tar", tree],
            { stdio: ["ignore", "pipe", "pipe"], maxBuffer: MAX_SERVICE_ARCHIVE_BYTES });
        fs.writeFileSync(partial, zeroTarTimes(tar));
        fs.renameSync(partial, file);
    } finally {
        fs.rmSync(partial, { force: true });
    }
}

/** A service folder larger than this is refused (git archive's output is held in memory once). */
const MAX_SERVICE_ARCHIVE_BYTES = 1024 * 1024 * 1024;

/**
 * The tarball with every header's modification time set to 0 and its checksum recomputed
 * (POSIX ustar: mtime at offset 136, 12 octal bytes; checksum at 148, the byte sum with the
 * checksum field read as spaces, written as six octal digits, NUL, space). Git writes the
 * current time for a tree archive; nothing else in its output depends on when or where it ran.
 * Pax extended headers (git writes them for paths over 100 bytes) are headers too and get the
 * same treatment; their records hold only paths.
 */
export function zeroTarTimes(tar: Buffer): Buffer {
    const out = Buffer.from(tar);
    for (let offset = 0; offset + 512 <= out.length;) {
        const header = out.subarray(offset, offset + 512);
        if (header.every((byte) => byte === 0)) break;
        const sizeField = header.subarray(124, 136).toString("latin1").replace(/\0[\s\S]*$/, "").trim();
        if (!/^[0-7]*$/.test(sizeField)) throw new Error(`zeroTarTimes: entry at byte ${offset} has a size field git does not write (${JSON.stringify(sizeField)})`);
        const size = sizeField === "" ? 0 : parseInt(sizeField, 8);
        header.write("00000000000\0", 136, 12, "latin1");
        header.fill(0x20, 148, 156);
        const sum = header.reduce((total, byte) => total + byte, 0);
        header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "latin1");
        offset += 512 + Math.ceil(size / 512) * 512;
    }
    return out;
}
