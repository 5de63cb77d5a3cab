/**
 * How the services' sources reach the hosts: the machine running Pulumi packs them, the hosts
 * never fetch anything.
 *
 * The services monorepo is private. The deploy workflows already hold a token for it (they
 * need one to resolve the released commit), so they check it out next to this repository and
 * point {@link SERVICES_REPOSITORY_ENV} at the clone. For every service the program runs
 * `git archive <revision> services/<id>` there, at program time, into a tarball under
 * {@link SOURCES_CACHE_DIR}, and a `remote.CopyToRemote` step ships that file to the host over
 * the step's SSH session. The hosts need no credential and no route to GitHub.
 *
 * State stays small: the tarball travels as a `FileAsset`, which the engine records by path
 * and content hash, never by content (https://www.pulumi.com/docs/iac/concepts/assets-archives/).
 * `git archive` of a commit is byte-for-byte reproducible (file times are the commit's), so
 * the same revision hashes the same on every run and machine with the same git.
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
    /** SHA-256 of the tarball: the host checks it before it builds, and it identifies the deploy. */
    readonly sha256: string;
    /** The tarball, for `remote.CopyToRemote`. */
    readonly asset: pulumi.asset.FileAsset;
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

/** Packs every service's sources, or throws a {@link SettingError} naming what is wrong and the fix. */
export function packServiceSources(args: PackArgs): Record<string, ServiceSource> {
    const env = args.env ?? process.env;
    const repository = env[SERVICES_REPOSITORY_ENV];
    const cacheDir = path.join(args.projectDir, SOURCES_CACHE_DIR);
    const relative = (serviceId: string, revision: string) => path.join(SOURCES_CACHE_DIR, `${serviceId}-${revision}.tar`);
    const setting = args.revisionSetting ?? (() => full("revision"));
    if (!repository) {
        if (placeholdersAllowed) {
            return Object.fromEntries(Object.entries(args.serviceRevisions).map(([serviceId, revision]) => [serviceId, {
                serviceId, revision, sha256: UNPACKED, packed: false,
                asset: new pulumi.asset.FileAsset(path.join(args.projectDir, PLACEHOLDER_DIR, `${serviceId}-${revision}.tar`)),
            }]));
        }
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
    const checkedRevisions = new Set<string>();
    fs.mkdirSync(cacheDir, { recursive: true });
    const sources: Record<string, ServiceSource> = {};
    for (const [serviceId, revision] of Object.entries(args.serviceRevisions)) {
        if (!checkedRevisions.has(revision)) {
            if (!git(["cat-file", "-e", `${revision}^{commit}`])) {
                throw new SettingError(setting(serviceId), revision, `(service ${serviceId}) is not a commit of the clone at ${repository}`, `fetch it: git -C ${repository} fetch origin ${args.branch}`);
            }
            if (!git(["merge-base", "--is-ancestor", revision, branchRef])) {
                throw new SettingError(setting(serviceId), revision, `(service ${serviceId}) is not on branch ${args.branch} (${branchRef}); this stack deploys only commits of ${args.branch}`,
                    `deploy a commit of ${args.branch}, or fetch the branch if the clone is behind: git -C ${repository} fetch origin ${args.branch}`);
            }
            checkedRevisions.add(revision);
        }
        if (!git(["rev-parse", "--verify", "--quiet", `${revision}:services/${serviceId}`])) {
            throw new SettingError(setting(serviceId), revision, `has no folder services/${serviceId}`,
                "deploy a revision that has the service, or set its own revision under pakashop-infra:services");
        }
        const file = path.join(args.projectDir, relative(serviceId, revision));
        if (!fs.existsSync(file)) writeArchive(repository, revision, serviceId, file);
        sources[serviceId] = {
            serviceId, revision, packed: true,
            sha256: createHash("sha256").update(fs.readFileSync(file)).digest("hex"),
            asset: new pulumi.asset.FileAsset(file),
        };
    }
    return sources;
}

/** Runs git in the clone: whether it succeeded, and else git's first line of complaint. */
function runGit(repository: string, args: string[]): { readonly ok: boolean; readonly complaint: string } {
    const result = spawnSync("git", ["-C", repository, ...args], { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
    const complaint = (result.stderr ?? "").trim().split("\n")[0] || result.error?.message || `git exited ${result.status}`;
    return { ok: result.status === 0, complaint };
}

/**
 * Options that make `git archive` give the same bytes on every machine for one revision: no
 * line-ending conversion (a Windows checkout's autocrlf would ship CRLF scripts) and one umask
 * for the modes in the tarball. What remains is git's own tar format.
 */
const REPRODUCIBLE_ARCHIVE = ["-c", "core.autocrlf=false", "-c", "core.eol=lf", "-c", "tar.umask=0022"];

/** `git archive` into a temporary name, then renamed: a crashed run never leaves half a tarball. */
function writeArchive(repository: string, revision: string, serviceId: string, file: string): void {
    const partial = `${file}.partial-${process.pid}`;
    try {
        execFileSync("git", [...REPRODUCIBLE_ARCHIVE, "-C", repository, "archive", "--format=tar", "-o", path.resolve(partial), revision, `services/${serviceId}`],
            { stdio: ["ignore", "ignore", "pipe"] });
        fs.renameSync(partial, file);
    } finally {
        fs.rmSync(partial, { force: true });
    }
}
