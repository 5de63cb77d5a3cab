/**
 * The services monorepo the end-to-end tests deploy: a small git repository with one tiny HTTP
 * server per catalog service under `services/<id>/`, in four commits (`v1`, `v2` that changes
 * one service's code, `broken` whose broken service exits at start, `v3` that changes every
 * service's code), plus the seed's own `scripts/deploy.sh` (tests/e2e/seedDeploy.ts runs it for
 * the side-by-side benchmark). Ports, health paths, entry points and languages come from the
 * catalog, so the fixture can't drift from the program.
 *
 * The service code lives in templates under `fixture/` (real JavaScript, Go and Python files
 * with quoted placeholders), so it can be read and syntax-checked like any source file.
 *
 * Every service has a real dependency its language's own tool installs, so the deploy's
 * dependency step does real work, and does it offline (the test hosts have no network): the
 * packages are vendored in the service folder (`vendor/`), copied from `fixture/vendor/`.
 * - node: `ms` (the npm registry's own tarball) and the Prisma stand-in (`fixture/prisma`,
 *   packed with `npm pack`), both `file:vendor/<x>.tgz`, which npm extracts into node_modules;
 * - go: the module `pakashop.example/fixturekit` (`fixture/go/fixturekit`), vendored as
 *   `go mod vendor` lays it out, so `go build` uses `-mod=vendor` by itself;
 * - python: the wheel `pakashop_fixturekit` (`fixture/python/build_wheel.py`), named in
 *   requirements.txt by path with `--hash`.
 */
import { createHash } from "crypto";
import { execFile } from "child_process";
import { promises as fsp, readFileSync } from "fs";
import * as path from "path";
import { promisify } from "util";
import { CATALOG, Catalog, ServiceSpec } from "../../components/catalog";

/** One file of a service folder. */
export interface FixtureFile {
    /** Text, or bytes for the vendored archives. */
    readonly content: string | Buffer;
    /** Committed as mode 100755. */
    readonly executable?: boolean;
}

/** A service folder's files, keyed by POSIX path relative to `services/<id>/`. */
export type FixtureFiles = Readonly<Record<string, FixtureFile>>;

/** How a rendered release behaves. */
export interface RenderOptions {
    /** Render code that exits with status 1 as soon as it starts (but still builds). */
    readonly crashAtStart?: boolean;
}

/** The marker each commit gives the services it writes; the health body reports it. */
export const FIXTURE_MARKERS = { v1: "v1", v2: "v2", broken: "broken", v3: "v3" } as const;

/**
 * The service `v2` changes and `broken` breaks, unless told otherwise: the config service, a
 * Node service alone in the first tier (a one-service change that restarts the whole tier).
 */
export const DEFAULT_CHANGED_SERVICE = "config";

/**
 * Extra paths that answer like the health path. The gateway is the public entry point, and
 * its readiness path (`/api/v1/health/ready`) is probed from outside next to its health path.
 */
const EXTRA_HEALTH_PATHS: Readonly<Record<string, readonly string[]>> = {
    gateway: ["/api/v1/health/ready"],
};

/**
 * The runtimes the fixture needs: the seed's CI versions (Node 20, Go 1.22, Python 3.12).
 * Debian 12's Node 18, Go 1.19 and Python 3.11 can't build or run it; Debian 13's can.
 */
export const NODE_ENGINE = ">=20";
export const GO_VERSION = "1.22";

/** Folder of the templates, the vendored packages and the seed's deploy.sh. */
export const FIXTURE_DIR = path.join(__dirname, "fixture");

/** Where the seed's deploy.sh is kept (its text byte for byte) and where the monorepo has it. */
export const SEED_DEPLOY_SCRIPT = { template: "seed/deploy.sh", repoPath: "scripts/deploy.sh" } as const;

/**
 * An npm package the Node services depend on, vendored as `fixture/vendor/<name>-<version>.tgz`.
 * `license` and `bin` are the packed package.json's: npm copies them into package-lock.json.
 */
export interface VendoredNpmPackage {
    readonly name: string;
    readonly version: string;
    readonly license: string;
    readonly bin?: Readonly<Record<string, string>>;
}

/**
 * Every Node service's dependencies, by name. `ms` is the registry's tarball of ms 2.1.3
 * (`npm pack ms@2.1.3`, integrity as the registry publishes it). `prisma` is the stand-in:
 * the seed's deploy.sh runs `npx prisma migrate deploy` in every Node service, and npx would
 * go to the registry for a package the service doesn't have; a packed .tgz (not a `file:`
 * folder, which npm links as `node_modules/prisma -> ../vendor/prisma`, a link that breaks
 * once node_modules moves into a cache) is extracted like any registry package.
 */
export const NPM_VENDOR: readonly VendoredNpmPackage[] = [
    { name: "ms", version: "2.1.3", license: "MIT" },
    { name: "prisma", version: "0.0.0-e2e-fixture", license: "UNLICENSED", bin: { prisma: "prisma.js" } },
];

/** The Go services' vendored module (`fixture/go/fixturekit`), as `go mod vendor` records it. */
export const GO_VENDOR = { module: "pakashop.example/fixturekit", version: "v1.0.0", go: GO_VERSION, file: "fixturekit.go" } as const;

/** The Python services' wheel (`fixture/vendor/`, built by `fixture/python/build_wheel.py`). */
export const PYTHON_WHEEL = "pakashop_fixturekit-1.0.0-py3-none-any.whl";

/** File name of a vendored npm package's tarball. */
export function npmTarball(pkg: VendoredNpmPackage): string {
    return `${pkg.name}-${pkg.version}.tgz`;
}

const templateCache = new Map<string, Buffer>();

function templateBytes(relativePath: string): Buffer {
    let bytes = templateCache.get(relativePath);
    if (bytes === undefined) {
        bytes = readFileSync(path.join(FIXTURE_DIR, relativePath));
        templateCache.set(relativePath, bytes);
    }
    return bytes;
}

function template(relativePath: string): string {
    return templateBytes(relativePath).toString("utf8");
}

/**
 * Replaces each quoted placeholder `"__KEY__"` with the value as a JSON string. JSON string
 * literals are also valid JavaScript, Go and Python literals, so no per-language escaping.
 */
function fill(templatePath: string, values: Readonly<Record<string, string>>): string {
    let text = template(templatePath);
    for (const [key, value] of Object.entries(values)) {
        text = text.split(`"__${key}__"`).join(JSON.stringify(value));
    }
    const left = /"__[A-Z_]+__"/.exec(text);
    if (left) throw new Error(`fixture template ${templatePath}: placeholder ${left[0]} was not filled`);
    return text;
}

/** The paths a fixture service answers 200 on: its catalog health path, plus any extras. */
export function healthPaths(service: ServiceSpec): string[] {
    return [service.healthPath, ...(EXTRA_HEALTH_PATHS[service.id] ?? [])];
}

/** The JSON body a fixture service answers on its health paths. */
export function healthBody(serviceId: string, marker: string): { service: string; revision: string } {
    return { service: serviceId, revision: marker };
}

function json(value: unknown): FixtureFile {
    return { content: `${JSON.stringify(value, null, 2)}\n` };
}

function serverValues(service: ServiceSpec, marker: string): Record<string, string> {
    return { SERVICE: service.id, REVISION: marker, HEALTH_PATHS: healthPaths(service).join(",") };
}

/**
 * The backend owns the migrations, so the program runs `node_modules/.bin/prisma migrate
 * deploy` for it after `npm ci --omit=dev` (the stand-in counts these migration folders).
 */
function migrationFiles(): Record<string, FixtureFile> {
    return {
        "prisma/schema.prisma": {
            content: 'datasource db {\n  provider = "postgresql"\n  url      = env("DATABASE_URL")\n}\n',
        },
        // The stub reports how many migration folders it found.
        "prisma/migrations/20240101000000_init/migration.sql": {
            content: 'CREATE TABLE "fixture" ("id" SERIAL PRIMARY KEY);\n',
        },
    };
}

/** The `integrity` npm records for a tarball: `sha512-` and the base64 digest of its bytes. */
function npmIntegrity(bytes: Buffer): string {
    return `sha512-${createHash("sha512").update(bytes).digest("base64")}`;
}

/**
 * `npm ci` refuses to run without a lockfile, and must find it in sync with package.json.
 * This is what `npm install` (npm 9, 10 and 11 alike) writes for these manifests:
 * lockfileVersion 3, each vendored tarball `resolved` as `file:vendor/<x>.tgz` with the
 * sha512 of its bytes (tests/fixture.spec.ts compares with npm's own output).
 * `engines.node >= 20` (the seed's CI) with `engine-strict=true` in the service's .npmrc makes
 * `npm ci` fail with EBADENGINE on an older Node (https://docs.npmjs.com/cli/v10/using-npm/config#engine-strict).
 */
function nodeManifests(service: ServiceSpec): Record<string, FixtureFile> {
    const name = `pakashop-${service.id}`;
    const dependencies = Object.fromEntries(NPM_VENDOR.map((p) => [p.name, `file:vendor/${npmTarball(p)}`]));
    const manifest = {
        name,
        version: "1.0.0",
        private: true,
        description: `Pakashop ${service.displayName}: e2e test fixture`,
        license: "UNLICENSED",
        main: service.entryPoint,
        engines: { node: NODE_ENGINE },
        dependencies,
    };
    const packages: Record<string, unknown> = {
        "": { name, version: "1.0.0", license: "UNLICENSED", dependencies, engines: { node: NODE_ENGINE } },
    };
    const vendored: Record<string, FixtureFile> = {};
    for (const pkg of NPM_VENDOR) {
        const bytes = templateBytes(`vendor/${npmTarball(pkg)}`);
        vendored[`vendor/${npmTarball(pkg)}`] = { content: bytes };
        packages[`node_modules/${pkg.name}`] = {
            version: pkg.version,
            resolved: `file:vendor/${npmTarball(pkg)}`,
            integrity: npmIntegrity(bytes),
            license: pkg.license,
            ...(pkg.bin ? { bin: pkg.bin } : {}),
        };
    }
    return {
        "package.json": json(manifest),
        "package-lock.json": json({ name, version: "1.0.0", lockfileVersion: 3, requires: true, packages }),
        ".npmrc": { content: "engine-strict=true\n" },
        ...vendored,
        ...(service.runsMigrations ? migrationFiles() : {}),
    };
}

function nodeFiles(service: ServiceSpec, marker: string, crash: boolean): Record<string, FixtureFile> {
    const code = crash ? fill("node/crash.js", { SERVICE: service.id, REVISION: marker }) : fill("node/server.js", serverValues(service, marker));
    return { ...nodeManifests(service), [service.entryPoint]: { content: code } };
}

/**
 * The module's vendor folder exactly as `go mod vendor` (Go 1.24) writes it for a module that
 * requires {@link GO_VENDOR}: `vendor/modules.txt` (the `## explicit; go 1.22` line says go.mod
 * requires it directly, and the go version of its own go.mod) and the package's files (not its
 * go.mod). With a vendor folder and `go 1.14` or later in go.mod, `go build` defaults to
 * `-mod=vendor`: it reads nothing else, needs no go.sum entry and no network
 * (https://go.dev/ref/mod#vendoring).
 */
function goVendorFiles(): Record<string, FixtureFile> {
    return {
        "vendor/modules.txt": { content: `# ${GO_VENDOR.module} ${GO_VENDOR.version}\n## explicit; go ${GO_VENDOR.go}\n${GO_VENDOR.module}\n` },
        [`vendor/${GO_VENDOR.module}/${GO_VENDOR.file}`]: { content: template(`go/fixturekit/${GO_VENDOR.file}`) },
    };
}

function goFiles(service: ServiceSpec, marker: string, crash: boolean): Record<string, FixtureFile> {
    const code = crash ? fill("go/crash/main.go", { SERVICE: service.id, REVISION: marker }) : fill("go/server/main.go", serverValues(service, marker));
    // `go 1.22`, the seed's CI version: an older go refuses the module (GOTOOLCHAIN=local, no
    // toolchain download), and the code uses range over an integer (Go 1.22).
    return {
        "go.mod": { content: `module pakashop/services/${service.id}\n\ngo ${GO_VERSION}\n\nrequire ${GO_VENDOR.module} ${GO_VENDOR.version}\n` },
        ...goVendorFiles(),
        [path.posix.join(service.entryPoint, "main.go")]: { content: code },
    };
}

/**
 * The wheel is named by path, relative to the working directory (pip resolves `./` against
 * it, not against the file: the deploy runs pip in the service folder), and pinned by
 * `--hash`, which turns on pip's hash-checking mode: a changed wheel fails the install.
 * The wheel has no dependencies, so pip never asks an index for anything.
 */
function pythonFiles(service: ServiceSpec, marker: string, crash: boolean): Record<string, FixtureFile> {
    const code = crash ? fill("python/crash.py", { SERVICE: service.id, REVISION: marker }) : fill("python/server.py", serverValues(service, marker));
    const wheel = templateBytes(`vendor/${PYTHON_WHEEL}`);
    const sha256 = createHash("sha256").update(wheel).digest("hex");
    return {
        "requirements.txt": { content: `./vendor/${PYTHON_WHEEL} --hash=sha256:${sha256}\n` },
        [`vendor/${PYTHON_WHEEL}`]: { content: wheel },
        [service.entryPoint]: { content: code },
    };
}

/**
 * The files of one service's folder (`services/<id>/`) at a marker: an HTTP server on
 * `0.0.0.0:$PORT` answering `{"service": id, "revision": marker}` on its health paths and 404
 * elsewhere, stopping cleanly on SIGTERM; or, with `crashAtStart`, code that builds the same
 * way and exits with status 1 at once. Pure apart from reading the templates.
 */
export function renderServiceFiles(service: ServiceSpec, marker: string, options: RenderOptions = {}): FixtureFiles {
    if (!/^[A-Za-z0-9._-]+$/.test(marker)) throw new Error(`renderServiceFiles: marker ${JSON.stringify(marker)} is not a plain word`);
    const crash = options.crashAtStart ?? false;
    switch (service.language) {
        case "node":
            return nodeFiles(service, marker, crash);
        case "go":
            return goFiles(service, marker, crash);
        case "python":
            return pythonFiles(service, marker, crash);
    }
}

/** Options of {@link createReleaseRepository}. */
export interface ReleaseRepositoryOptions {
    /** The branch the commits go on; default `main` (the staging stack's branch). */
    readonly branch?: string;
    /** The one service `v2` changes; default {@link DEFAULT_CHANGED_SERVICE}. */
    readonly changedService?: string;
    /** The service `broken` breaks; default: the changed service. */
    readonly brokenService?: string;
    /** The catalog to take the services from; default {@link CATALOG}. */
    readonly catalog?: Catalog;
}

/** The repository {@link createReleaseRepository} made. */
export interface ReleaseRepository {
    /** Absolute path of the (non-bare) repository. */
    readonly path: string;
    /** The branch holding v1, v2, broken and v3 (its tip). */
    readonly branch: string;
    /** Full commit ids, each the parent of the next. */
    readonly commits: { readonly v1: string; readonly v2: string; readonly broken: string; readonly v3: string };
    /** The one service whose folder differs between v1 and v2. */
    readonly changedService: string;
    /** The one service whose folder differs between v2 and broken. */
    readonly brokenService: string;
}

/** Commit dates, one hour apart, so the repository (and its commit ids) are the same on every run. */
const COMMIT_DATES = {
    v1: "2024-01-01T00:00:00+00:00",
    v2: "2024-01-01T01:00:00+00:00",
    broken: "2024-01-01T02:00:00+00:00",
    v3: "2024-01-01T03:00:00+00:00",
} as const;

const IDENTITY = { name: "Pakashop E2E Fixture", email: "e2e-fixture@pakashop.invalid" };

/**
 * Git's environment: a fixed identity, and no system or user configuration, so signing,
 * hooks, templates or autocrlf settings of whoever runs the tests can't change the commits.
 * Variables that would point git at another repository are dropped.
 */
function gitEnvironment(date: string): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const key of ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR"]) delete env[key];
    return {
        ...env,
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_AUTHOR_NAME: IDENTITY.name,
        GIT_AUTHOR_EMAIL: IDENTITY.email,
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_NAME: IDENTITY.name,
        GIT_COMMITTER_EMAIL: IDENTITY.email,
        GIT_COMMITTER_DATE: date,
        TZ: "UTC",
    };
}

const execFileAsync = promisify(execFile);

async function git(repo: string, args: readonly string[], date: string = COMMIT_DATES.v1): Promise<string> {
    try {
        const { stdout } = await execFileAsync("git", ["-C", repo, ...args], { env: gitEnvironment(date), maxBuffer: 16 * 1024 * 1024 });
        return stdout.trim();
    } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`git ${args.join(" ")} in ${repo} failed: ${(e.stderr ?? "").trim() || e.message}`);
    }
}

async function writeFixtureFile(target: string, file: FixtureFile): Promise<void> {
    await fsp.mkdir(path.dirname(target), { recursive: true });
    await fsp.writeFile(target, file.content);
    // Explicit modes: git records the executable bit, and the umask must not change it.
    await fsp.chmod(target, file.executable ? 0o755 : 0o644);
}

/** Replaces `services/<id>/` with the rendered files (removing first, so no stale file stays). */
async function writeServiceFolder(repo: string, service: ServiceSpec, files: FixtureFiles): Promise<void> {
    const folder = path.join(repo, "services", service.id);
    await fsp.rm(folder, { recursive: true, force: true });
    for (const [relative, file] of Object.entries(files)) {
        await writeFixtureFile(path.join(folder, ...relative.split("/")), file);
    }
}

/**
 * The seed's scripts/deploy.sh, unchanged, as the seed's monorepo has it. The program
 * archives `services/<id>` only, so the script changes nothing the program deploys.
 */
async function writeSeedScripts(repo: string): Promise<void> {
    const file: FixtureFile = { content: templateBytes(SEED_DEPLOY_SCRIPT.template), executable: true };
    await writeFixtureFile(path.join(repo, ...SEED_DEPLOY_SCRIPT.repoPath.split("/")), file);
}

async function commitAll(repo: string, message: string, date: string): Promise<string> {
    await git(repo, ["add", "--all"], date);
    await git(repo, ["commit", "--quiet", "--no-verify", "-m", message], date);
    return git(repo, ["rev-parse", "HEAD"], date);
}

function lookUpService(catalog: Catalog, id: string, role: string): ServiceSpec {
    const service = catalog.services[id];
    if (!service) throw new Error(`createReleaseRepository: ${role} service ${id} is not in the catalog`);
    return service;
}

/** Refuses a non-empty folder: the fixture must not mix with (or delete) anything there. */
async function prepareEmptyDirectory(dir: string): Promise<void> {
    await fsp.mkdir(dir, { recursive: true });
    const entries = await fsp.readdir(dir);
    if (entries.length > 0) throw new Error(`createReleaseRepository: ${dir} is not empty`);
}

/**
 * Creates the services monorepo for the end-to-end tests at `dir` (created if missing; must
 * be empty): a normal git repository whose branch (`main` unless `opts.branch`) holds
 *
 * - `v1`: all catalog services, marker `v1`;
 * - `v2`: only the changed service's code (default `config`) rewritten, marker `v2`, to test
 *   that one service redeploys alone;
 * - `broken`: on top of v2, the broken service (default: the changed one) rewritten to exit
 *   with status 1 at start, to test the health gate's rollback;
 * - `v3`: every service's code at marker `v3` (the broken change gone), dependencies and
 *   manifests untouched: an upgrade of all services that installs no new package.
 *
 * Every commit also holds the seed's `scripts/deploy.sh` (mode 755), unchanged since v1.
 * A `production` branch points at `v1` (unless `opts.branch` is `production` itself). Identity
 * and dates are fixed, so the same options give the same commit ids on every run.
 */
export async function createReleaseRepository(dir: string, opts: ReleaseRepositoryOptions = {}): Promise<ReleaseRepository> {
    const catalog = opts.catalog ?? CATALOG;
    const branch = opts.branch ?? "main";
    const changed = lookUpService(catalog, opts.changedService ?? DEFAULT_CHANGED_SERVICE, "changed");
    const broken = lookUpService(catalog, opts.brokenService ?? changed.id, "broken");
    const repo = path.resolve(dir);
    await prepareEmptyDirectory(repo);
    // `--template=` copies no sample hooks; `-b` names the branch whatever init.defaultBranch says.
    await git(repo, ["init", "--quiet", "--template=", "-b", branch]);

    await writeSeedScripts(repo);
    for (const service of Object.values(catalog.services)) {
        await writeServiceFolder(repo, service, renderServiceFiles(service, FIXTURE_MARKERS.v1));
    }
    const v1 = await commitAll(repo, `v1: all ${Object.keys(catalog.services).length} services at marker v1`, COMMIT_DATES.v1);

    await writeServiceFolder(repo, changed, renderServiceFiles(changed, FIXTURE_MARKERS.v2));
    const v2 = await commitAll(repo, `v2: ${changed.id} at marker v2, nothing else changed`, COMMIT_DATES.v2);

    await writeServiceFolder(repo, broken, renderServiceFiles(broken, FIXTURE_MARKERS.broken, { crashAtStart: true }));
    const brokenCommit = await commitAll(repo, `broken: ${broken.id} exits with status 1 at start`, COMMIT_DATES.broken);

    for (const service of Object.values(catalog.services)) {
        await writeServiceFolder(repo, service, renderServiceFiles(service, FIXTURE_MARKERS.v3));
    }
    const v3 = await commitAll(repo, `v3: every service's code at marker v3, dependencies unchanged`, COMMIT_DATES.v3);

    if (branch !== "production") await git(repo, ["branch", "production", v1]);
    return { path: repo, branch, commits: { v1, v2, broken: brokenCommit, v3 }, changedService: changed.id, brokenService: broken.id };
}
