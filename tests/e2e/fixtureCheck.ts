/**
 * Checks the e2e fixture the way a backend host uses it, without a host: creates the release
 * repository (twice, to see the commit ids repeat), exports revisions with `git archive`,
 * builds every service with the deploy script's own `buildCommand` as an unprivileged user
 * with the network cut off (`unshare -n`, when root), makes the release read-only, runs the
 * backend's `prisma migrate deploy` (and checks every Node service has the stand-in, as the
 * seed's deploy.sh runs it in all of them), then starts each service with its unit's
 * `ExecStart` and `Environment=`, probes it with curl as the health gate does, and stops it
 * with SIGTERM. The `broken` revision must build and then fail to start; `v2` must report its
 * new marker, and `v3` (one service per language) its own. The repository checks include the
 * seed's scripts/deploy.sh and that v2 and v3 change code only (no manifest, lockfile or
 * vendored package).
 *
 *     node --require ./tools/register.js tests/e2e/fixtureCheck.ts [--keep] [--changed=<id>] [--broken=<id>]
 *
 * The fixture needs the seed's runtimes (Node 20, Go 1.22, Python 3.12): run this where they are,
 * e.g. inside a test host (`npm run testhost`), not on a Debian 12 machine.
 *
 * Exits 1 if any check fails. `--keep` leaves the work folder for inspection; `--changed` and
 * `--broken` pass the fixture's options, to check other languages' v2 and crash code.
 */
import { ChildProcess, spawn } from "child_process";
import { promises as fsp } from "fs";
import * as os from "os";
import * as path from "path";
import { CATALOG, ServiceSpec } from "../../components/catalog";
import { currentReleaseDir } from "../../host/layout";
import { buildCommand } from "../../host/prepare/dependencies";
import { renderUnit } from "../../host/units/systemdUnit";
import {
    createReleaseRepository, FIXTURE_DIR, FIXTURE_MARKERS, healthBody, healthPaths, ReleaseRepository, ReleaseRepositoryOptions, SEED_DEPLOY_SCRIPT,
} from "./fixture";

/** How long a service may take to answer its health path (the deploy allows more). */
const START_TIMEOUT_MS = 15_000;
/** How long a service may take to exit after SIGTERM (the unit allows 30 s). */
const STOP_TIMEOUT_MS = 5_000;
/** How long the broken release gets to prove it exits at once. */
const CRASH_TIMEOUT_MS = 5_000;
const PATH_ENV = "/usr/local/bin:/usr/bin:/bin";

interface RunResult {
    readonly code: number | null;
    readonly signal: NodeJS.Signals | null;
    readonly output: string;
}

/** Runs a command to completion, collecting stdout and stderr together; never throws. */
function run(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {}): Promise<RunResult> {
    return new Promise((resolve) => {
        const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
        let output = "";
        child.stdout.on("data", (d) => (output += d));
        child.stderr.on("data", (d) => (output += d));
        child.on("error", (err) => resolve({ code: null, signal: null, output: `${output}${err.message}` }));
        child.on("close", (code, signal) => resolve({ code, signal, output }));
    });
}

async function mustRun(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
    const result = await run(command, args, options);
    if (result.code !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.code ?? result.signal}):\n${result.output}`);
    return result.output.trim();
}

/** The unprivileged identity builds and services run as; the host has two, one is enough here. */
interface Identity {
    readonly name: string;
    readonly uid: number;
    readonly gid: number;
}

async function unprivilegedIdentity(): Promise<Identity | undefined> {
    if (process.getuid?.() !== 0) return undefined;
    const uid = Number(await mustRun("id", ["-u", "nobody"]));
    const gid = Number(await mustRun("id", ["-g", "nobody"]));
    return { name: "nobody", uid, gid };
}

/** Whether builds can run in a network namespace with no interfaces (needs root). */
async function canCutNetwork(): Promise<boolean> {
    return (await run("unshare", ["-n", "true"])).code === 0;
}

interface Context {
    readonly work: string;
    readonly builder?: Identity;
    readonly offline: boolean;
    readonly failures: string[];
}

function check(ctx: Context, ok: boolean, message: string): boolean {
    console.log(`${ok ? "ok  " : "FAIL"} ${message}`);
    if (!ok) ctx.failures.push(message);
    return ok;
}

function seconds(ms: number): string {
    return `${(ms / 1000).toFixed(1)}s`;
}

// ---- the repository -------------------------------------------------------------------------

async function changedPaths(repo: string, from: string, to: string): Promise<string[]> {
    const out = await mustRun("git", ["-C", repo, "diff", "--name-only", from, to]);
    return out.split("\n").filter(Boolean);
}

function option(name: string): string | undefined {
    const prefix = `--${name}=`;
    return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

async function checkRepository(ctx: Context): Promise<ReleaseRepository> {
    const options: ReleaseRepositoryOptions = { changedService: option("changed"), brokenService: option("broken") };
    const repo = await createReleaseRepository(path.join(ctx.work, "repo"), options);
    const again = await createReleaseRepository(path.join(ctx.work, "repo-again"), options);
    check(ctx, JSON.stringify(repo.commits) === JSON.stringify(again.commits), `commit ids are deterministic: ${JSON.stringify(repo.commits)}`);
    const production = await mustRun("git", ["-C", repo.path, "rev-parse", "production"]);
    check(ctx, production === repo.commits.v1, "branch production is at v1");
    const services = await mustRun("git", ["-C", repo.path, "ls-tree", "--name-only", `${repo.commits.v1}:services`]);
    check(ctx, services.split("\n").sort().join(",") === Object.keys(CATALOG.services).sort().join(","), "v1 has services/<id> for exactly the catalog's services");
    const v2 = await changedPaths(repo.path, repo.commits.v1, repo.commits.v2);
    check(ctx, v2.length > 0 && v2.every((p) => p.startsWith(`services/${repo.changedService}/`)), `v1..v2 changes only services/${repo.changedService}/ (${v2.join(", ")})`);
    const broken = await changedPaths(repo.path, repo.commits.v2, repo.commits.broken);
    check(ctx, broken.length > 0 && broken.every((p) => p.startsWith(`services/${repo.brokenService}/`)), `v2..broken changes only services/${repo.brokenService}/ (${broken.join(", ")})`);
    await checkCodeOnly(ctx, repo, "v1", "v2");
    await checkCodeOnly(ctx, repo, "v2", "v3");
    const tip = await mustRun("git", ["-C", repo.path, "rev-parse", repo.branch]);
    check(ctx, tip === repo.commits.v3, `${repo.branch} is at v3`);
    await checkSeedScript(ctx, repo);
    return repo;
}

/** The code files of a service: what v2 and v3 may change (never a manifest or a vendored package). */
function isCodePath(p: string): boolean {
    const match = /^services\/([^/]+)\/(.+)$/.exec(p);
    const service = match ? CATALOG.services[match[1]] : undefined;
    if (!match || !service) return false;
    return service.language === "go" ? match[2].startsWith(`${service.entryPoint.replace(/^\.\//, "")}/`) : match[2] === service.entryPoint;
}

async function checkCodeOnly(ctx: Context, repo: ReleaseRepository, from: "v1" | "v2", to: "v2" | "v3"): Promise<void> {
    const paths = await changedPaths(repo.path, repo.commits[from], repo.commits[to]);
    const other = paths.filter((p) => !isCodePath(p));
    check(ctx, paths.length > 0 && other.length === 0, `${from}..${to} changes service code only (${paths.length} files${other.length ? `; not code: ${other.join(", ")}` : ""})`);
}

/** scripts/deploy.sh: the seed's text, executable, the same in every commit. */
async function checkSeedScript(ctx: Context, repo: ReleaseRepository): Promise<void> {
    const expected = await fsp.readFile(path.join(FIXTURE_DIR, SEED_DEPLOY_SCRIPT.template), "utf8");
    for (const name of ["v1", "v3"] as const) {
        const entry = await mustRun("git", ["-C", repo.path, "ls-tree", repo.commits[name], SEED_DEPLOY_SCRIPT.repoPath]);
        const text = await mustRun("git", ["-C", repo.path, "show", `${repo.commits[name]}:${SEED_DEPLOY_SCRIPT.repoPath}`]);
        check(ctx, entry.startsWith("100755 ") && text === expected.trim(), `${name}: ${SEED_DEPLOY_SCRIPT.repoPath} is the seed's deploy.sh, mode 755`);
    }
}

/** Like the host's `ensure_source`: `git archive` of the revision, made read-only. */
async function exportRevision(ctx: Context, repo: ReleaseRepository, revision: string): Promise<string> {
    const target = path.join(ctx.work, "sources", revision);
    await fsp.mkdir(target, { recursive: true });
    await mustRun("bash", ["-c", 'set -o pipefail; git -C "$1" archive --format=tar "$2" | tar -x -C "$3" && chmod -R a-w "$3"', "export", repo.path, revision, target]);
    return target;
}

// ---- building ------------------------------------------------------------------------------

/** The deploy script's build environment (`BUILD_ENVIRONMENT`), with the cache in the work folder. */
function buildEnvironment(home: string): string[] {
    return [`HOME=${home}`, `PATH=${PATH_ENV}`, `GOCACHE=${home}/go-build`, `GOPATH=${home}/go`, "GOTOOLCHAIN=local", "GOFLAGS=-trimpath", `npm_config_cache=${home}/npm`];
}

/** The builder's HOME and caches, writable by the builder only (the host's build cache). */
async function buildHome(ctx: Context): Promise<string> {
    const home = path.join(ctx.work, "build-home");
    await fsp.mkdir(home, { recursive: true, mode: 0o700 });
    if (ctx.builder) await fsp.chown(home, ctx.builder.uid, ctx.builder.gid);
    return home;
}

/**
 * Runs `buildCommand(service)` (the host's command, text unchanged) in the release folder.
 * `as_builder` is defined as on the host: the unprivileged user and `env -i`. The whole
 * build runs in an empty network namespace, so a build that needs the registry fails here.
 */
async function runBuild(ctx: Context, service: ServiceSpec, release: string): Promise<RunResult> {
    const home = await buildHome(ctx);
    const asUser = ctx.builder ? `runuser -u ${ctx.builder.name} -- ` : "";
    const script = `set -e\nas_builder() { ${asUser}env -i ${buildEnvironment(home).join(" ")} "$@"; }\ncd "$1" && ${buildCommand(service)}`;
    const bash = ["bash", "-c", script, "build", release];
    return ctx.offline ? run("unshare", ["-n", ...bash]) : run(bash[0], bash.slice(1));
}

/** Copies the service's folder of an exported revision to a release folder and builds it there. */
async function buildRelease(ctx: Context, service: ServiceSpec, source: string, name: string): Promise<{ release: string; ms: number }> {
    const release = path.join(ctx.work, "releases", service.id, name);
    await fsp.mkdir(path.dirname(release), { recursive: true });
    await mustRun("cp", ["-a", path.join(source, "services", service.id), release]);
    await mustRun("chmod", ["-R", "u+w", release]);
    if (ctx.builder) await mustRun("chown", ["-R", `${ctx.builder.uid}:${ctx.builder.gid}`, release]);
    const started = Date.now();
    const result = await runBuild(ctx, service, release);
    const ms = Date.now() - started;
    if (result.code !== 0) throw new Error(`build of ${service.id} (${name}) failed:\n${result.output}`);
    // As on the host: the service never gets to write its own release.
    if (ctx.builder) await mustRun("chown", ["-R", "0:0", release]);
    await mustRun("chmod", ["-R", "a-w", release]);
    return { release, ms };
}

async function checkMigrations(ctx: Context, service: ServiceSpec, release: string): Promise<void> {
    const bin = path.join(release, "node_modules", ".bin", "prisma");
    const executable = await fsp.access(bin, 1).then(() => true, () => false);
    if (!check(ctx, executable, `${service.id}: node_modules/.bin/prisma exists and is executable after npm ci --omit=dev`)) return;
    const result = await run(bin, ["migrate", "deploy"], { cwd: release, env: { PATH: PATH_ENV }, uid: ctx.builder?.uid, gid: ctx.builder?.gid });
    const line = result.output.trim();
    check(ctx, result.code === 0 && /^prisma migrate deploy: fixture, \d+ migrations applied$/.test(line), `${service.id}: prisma migrate deploy exits ${result.code}, prints "${line}"`);
}

// ---- running -------------------------------------------------------------------------------

/** The unit's `ExecStart` and `Environment=`, with `current` pointing at the given release. */
function launchSpec(service: ServiceSpec, release: string): { argv: string[]; env: Record<string, string> } {
    const unit = renderUnit(CATALOG, service.id).split("\n");
    const value = (line: string, key: string) => line.slice(key.length + 1);
    const execStart = unit.find((l) => l.startsWith("ExecStart="));
    if (!execStart) throw new Error(`unit of ${service.id} has no ExecStart`);
    const argv = value(execStart, "ExecStart").split(current(service)).join(release).split(" ");
    const env: Record<string, string> = { PATH: PATH_ENV };
    for (const line of unit.filter((l) => l.startsWith("Environment="))) {
        for (const pair of value(line, "Environment").split(" ")) {
            const eq = pair.indexOf("=");
            env[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
    }
    return { argv, env };
}

function current(service: ServiceSpec): string {
    return currentReleaseDir(service.id);
}

interface Running {
    readonly child: ChildProcess;
    readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
    output(): string;
}

function start(ctx: Context, service: ServiceSpec, release: string): Running {
    const { argv, env } = launchSpec(service, release);
    const child = spawn(argv[0], argv.slice(1), { cwd: release, env, uid: ctx.builder?.uid, gid: ctx.builder?.gid, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.on("error", () => resolve({ code: null, signal: null }));
        child.on("exit", (code, signal) => resolve({ code, signal }));
    });
    return { child, exited, output: () => output.trim() };
}

/** One request with the health gate's curl flags; returns the status and body. */
async function probe(port: number, urlPath: string): Promise<{ status: number; body: string }> {
    const result = await run("curl", ["--noproxy", "*", "-sS", "--max-time", "2", "-w", "\n%{http_code}", `http://127.0.0.1:${port}${urlPath}`]);
    const lines = result.output.split("\n");
    return { status: Number(lines.pop()), body: lines.join("\n") };
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls the health path until 200, the process exits, or the timeout; resolves to ms taken or undefined. */
async function waitHealthy(service: ServiceSpec, running: Running, timeoutMs: number): Promise<number | undefined> {
    const started = Date.now();
    let exited = false;
    void running.exited.then(() => (exited = true));
    while (Date.now() - started < timeoutMs && !exited) {
        if ((await probe(service.port, service.healthPath)).status === 200) return Date.now() - started;
        await sleep(100);
    }
    return undefined;
}

async function stop(running: Running): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number } | undefined> {
    const started = Date.now();
    running.child.kill("SIGTERM");
    const result = await Promise.race([running.exited, sleep(STOP_TIMEOUT_MS).then(() => undefined)]);
    if (!result) {
        running.child.kill("SIGKILL");
        await running.exited;
        return undefined;
    }
    return { ...result, ms: Date.now() - started };
}

async function checkAnswers(ctx: Context, service: ServiceSpec, marker: string): Promise<void> {
    const expected = JSON.stringify(healthBody(service.id, marker));
    for (const p of healthPaths(service)) {
        const { status, body } = await probe(service.port, p);
        // Byte-for-byte: all three languages must answer the same compact JSON.
        check(ctx, status === 200 && body === expected, `${service.id}: GET ${p} -> ${status} ${body}`);
    }
    const missing = await probe(service.port, "/no-such-path");
    check(ctx, missing.status === 404, `${service.id}: GET /no-such-path -> ${missing.status}`);
}

/** Starts a release, checks its answers at the marker, and stops it with SIGTERM. */
async function checkServes(ctx: Context, service: ServiceSpec, release: string, marker: string): Promise<void> {
    const running = start(ctx, service, release);
    const ms = await waitHealthy(service, running, START_TIMEOUT_MS);
    if (!check(ctx, ms !== undefined, `${service.id}: ${service.language} on :${service.port} answers ${service.healthPath} (in ${ms ?? "-"} ms)`)) {
        running.child.kill("SIGKILL");
        console.log(running.output());
        return;
    }
    await checkAnswers(ctx, service, marker);
    const stopped = await stop(running);
    check(ctx, stopped?.code === 0, `${service.id}: SIGTERM -> exit ${stopped ? (stopped.code ?? stopped.signal) : "none (killed)"} in ${stopped?.ms ?? "-"} ms`);
}

/** The broken release: it must exit with status 1 on its own, without ever answering. */
async function checkCrashes(ctx: Context, service: ServiceSpec, release: string): Promise<void> {
    const running = start(ctx, service, release);
    const result = await Promise.race([running.exited, sleep(CRASH_TIMEOUT_MS).then(() => undefined)]);
    if (!result) running.child.kill("SIGKILL");
    const health = await probe(service.port, service.healthPath);
    check(ctx, result?.code === 1 && health.status !== 200, `${service.id} at broken: exits with ${result ? result.code : "nothing (still running)"}, health ${health.status || "refused"}; says "${running.output()}"`);
}

// ---- main ----------------------------------------------------------------------------------

async function checkV1(ctx: Context, repo: ReleaseRepository): Promise<void> {
    const source = await exportRevision(ctx, repo, repo.commits.v1);
    const built: { service: ServiceSpec; release: string }[] = [];
    const started = Date.now();
    for (const service of Object.values(CATALOG.services)) {
        const { release, ms } = await buildRelease(ctx, service, source, "v1");
        console.log(`ok   ${service.id}: ${service.language} build at v1 in ${seconds(ms)}: ${buildCommand(service).replace(/as_builder /g, "")}`);
        built.push({ service, release });
    }
    console.log(`---- built all ${built.length} services of v1 one after another in ${seconds(Date.now() - started)}`);
    for (const { service, release } of built) {
        if (service.runsMigrations) await checkMigrations(ctx, service, release);
        if (service.language === "node") await checkPrismaStandIn(ctx, service, release);
        await checkServes(ctx, service, release, FIXTURE_MARKERS.v1);
    }
}

/**
 * The seed's deploy.sh runs `npx prisma migrate deploy` in every Node service: the stand-in
 * must be a real folder in node_modules (extracted from the tarball, not a link into vendor/,
 * which would break once node_modules moves into a cache) with its bin linked.
 */
async function checkPrismaStandIn(ctx: Context, service: ServiceSpec, release: string): Promise<void> {
    const stat = await fsp.lstat(path.join(release, "node_modules", "prisma")).catch(() => undefined);
    const bin = await fsp.access(path.join(release, "node_modules", ".bin", "prisma"), 1).then(() => true, () => false);
    const ms = await fsp.access(path.join(release, "node_modules", "ms", "package.json")).then(() => true, () => false);
    check(ctx, stat?.isDirectory() === true && bin && ms, `${service.id}: node_modules/ms, node_modules/prisma (a folder, not a link) and .bin/prisma installed`);
}

async function checkLaterRevisions(ctx: Context, repo: ReleaseRepository): Promise<void> {
    const changed = CATALOG.services[repo.changedService];
    const v2 = await buildRelease(ctx, changed, await exportRevision(ctx, repo, repo.commits.v2), "v2");
    await checkServes(ctx, changed, v2.release, FIXTURE_MARKERS.v2);
    const broken = CATALOG.services[repo.brokenService];
    const crash = await buildRelease(ctx, broken, await exportRevision(ctx, repo, repo.commits.broken), "broken");
    check(ctx, true, `${broken.id} at broken builds (${seconds(crash.ms)})`);
    await checkCrashes(ctx, broken, crash.release);
    // v3 changes every service's code: one service per language is enough to see it serve.
    const v3 = await exportRevision(ctx, repo, repo.commits.v3);
    for (const language of ["node", "go", "python"] as const) {
        const service = Object.values(CATALOG.services).find((s) => s.language === language);
        if (!service) continue;
        const built = await buildRelease(ctx, service, v3, "v3");
        await checkServes(ctx, service, built.release, FIXTURE_MARKERS.v3);
    }
}

async function tools(): Promise<string> {
    const node = (await run("/usr/bin/node", ["--version"])).output.trim();
    const npm = (await run("npm", ["--version"], { env: { PATH: PATH_ENV, HOME: os.tmpdir() } })).output.trim();
    const go = (await run("go", ["version"])).output.trim();
    const python = (await run("/usr/bin/python3", ["--version"])).output.trim();
    return `/usr/bin/node ${node}, npm ${npm}, ${go}, ${python}`;
}

async function main(): Promise<void> {
    const keep = process.argv.includes("--keep");
    const work = await fsp.mkdtemp(path.join(os.tmpdir(), "pakashop-fixture-check-"));
    // The unprivileged user must reach the releases through the work folder.
    await fsp.chmod(work, 0o755);
    const ctx: Context = { work, builder: await unprivilegedIdentity(), offline: await canCutNetwork(), failures: [] };
    console.log(`work folder ${work}; ${await tools()}`);
    console.log(`builds and services run as ${ctx.builder?.name ?? os.userInfo().username}; builds ${ctx.offline ? "offline (unshare -n)" : "WITH network (unshare -n unavailable)"}`);
    const started = Date.now();
    try {
        const repo = await checkRepository(ctx);
        await checkV1(ctx, repo);
        await checkLaterRevisions(ctx, repo);
    } catch (err) {
        check(ctx, false, (err as Error).message);
    } finally {
        if (!keep) await mustRun("bash", ["-c", 'chmod -R u+w "$1" && rm -rf "$1"', "rm", work]);
    }
    console.log(`---- ${ctx.failures.length === 0 ? "all checks passed" : `${ctx.failures.length} check(s) FAILED`} in ${seconds(Date.now() - started)}`);
    process.exitCode = ctx.failures.length === 0 ? 0 : 1;
}

void main();
