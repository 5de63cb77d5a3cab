/**
 * The seed's way of deploying, set up on a test host for the side-by-side benchmark
 * (`npm run bench:rollout`): the monorepo cloned at `/opt/pakashop`, one systemd unit per
 * service running straight from `services/<id>`, and the seed's `scripts/deploy.sh` (section
 * 5.2, committed unchanged in the fixture monorepo) run as the seed runs it. Nothing here
 * edits deploy.sh or its `sleep`s: the host is only given what the script takes for granted
 * (the clone with its `origin`, the units, the Python venvs it activates, a running nginx).
 *
 * ```ts
 * const remote = await createSeedRemote(repo.path, segment.runnerAddress, { commit: repo.commits.v1 });
 * await installSeedLayout(host, { remoteUrl: remote.url, branch: "main", commit: repo.commits.v1 });
 * const first = await runSeedDeploy(host);          // builds everything, starts all 19
 * await remote.setBranch(repo.commits.v3);
 * const upgrade = await runSeedDeploy(host);        // git pull, every service again
 * await removeSeedLayout(host);                      // the program can deploy from a clean host
 * await remote.close();
 * ```
 *
 * The program's layout uses the same unit names and `/opt/pakashop/services`, so the two can't
 * be on a host at once: {@link installSeedLayout} refuses a host with anything of the program's
 * on it, and {@link removeSeedLayout} leaves nothing of the seed's.
 */
import { execFile } from "child_process";
import { promises as fsp, createReadStream } from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { CATALOG, Catalog, ServiceSpec, unitName } from "../../components/catalog";
import { shellQuote } from "../../host/shell";
import { CommandResult } from "./testHostRun";

/** Where the seed's host keeps the monorepo clone (its working directory for deploy.sh). */
export const SEED_ROOT = "/opt/pakashop";

/** What the seed's workflow runs on the host, for the staging environment. */
export const SEED_DEPLOY_COMMAND = `cd ${SEED_ROOT} && ./scripts/deploy.sh staging`;

/** First line of every unit file the seed layout installs: how {@link removeSeedLayout} knows its own. */
export const SEED_UNIT_MARKER = "# pakashop seed layout (tests/e2e/seedDeploy.ts)";

/** The part of a TestHost these functions use: a root shell over SSH. */
export interface SeedHost {
    ssh(command: string, options?: { input?: string; timeoutMs?: number }): Promise<CommandResult>;
}

/** Options of {@link installSeedLayout}. */
export interface SeedLayoutOptions {
    /** The monorepo's URL as the host reaches it (credentials in it are fine: test remote). */
    readonly remoteUrl: string;
    /** The branch the clone is on, and deploy.sh pulls (`git rev-parse --abbrev-ref HEAD`). */
    readonly branch: string;
    /** The commit the clone starts at; the remote's branch must be it or a descendant. */
    readonly commit: string;
    /** The services to install units for; default {@link CATALOG} (deploy.sh names its 19 itself). */
    readonly catalog?: Catalog;
}

/** Options of {@link removeSeedLayout}. */
export interface RemoveSeedLayoutOptions {
    /**
     * Keep root's npm, Go and pip caches (deploy.sh builds as root, with root's HOME). By
     * default they go too, so the next deploy of either kind starts as cold as the first.
     */
    readonly keepCaches?: boolean;
}

/** What one run of deploy.sh did. */
export interface SeedDeployResult {
    /** Wall-clock seconds on this machine, SSH connection included. */
    readonly seconds: number;
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
}

/** deploy.sh sleeps 2 s per service and builds everything; SSH's default 120 s is too short. */
const DEPLOY_TIMEOUT_MS = 30 * 60_000;
const SETUP_TIMEOUT_MS = 10 * 60_000;

/** The unit's `ExecStart`: the seed runs each service from its folder of the clone. */
function execStart(service: ServiceSpec, dir: string): string {
    switch (service.language) {
        case "node":
            return `/usr/bin/node ${service.entryPoint}`;
        case "go":
            return `${dir}/bin/${service.id}`;
        case "python":
            return `${dir}/venv/bin/python ${service.entryPoint}`;
    }
}

/**
 * A service's unit in the seed layout: table 3.1's name and port, the service's folder of the
 * clone as working directory, as root (deploy.sh builds as root, so the files are root's).
 * No sandboxing or environment file: the fixture services need only `PORT`.
 */
export function renderSeedUnit(service: ServiceSpec): string {
    const dir = `${SEED_ROOT}/services/${service.id}`;
    return [
        SEED_UNIT_MARKER,
        "[Unit]",
        `Description=Pakashop ${service.displayName} (seed layout, deployed by scripts/deploy.sh)`,
        "After=network.target",
        "",
        "[Service]",
        "Type=simple",
        `WorkingDirectory=${dir}`,
        `Environment=PORT=${service.port}`,
        `ExecStart=${execStart(service, dir)}`,
        "Restart=on-failure",
        "RestartSec=1",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}

/** Fails (in the script) when a unit file of one of these names exists and is not the seed's. */
function refuseForeignUnits(units: readonly string[]): string {
    return `for unit in ${units.join(" ")}; do
  file=/etc/systemd/system/$unit
  if [[ -e $file ]] && [[ $(head -n 1 "$file") != "$marker" ]]; then
    fail "$file is not the seed layout's (the program's rollout?): remove that first"
  fi
done`;
}

/**
 * The script {@link installSeedLayout} runs as root: a fresh clone at `commit` on `branch`
 * (a previous seed clone is replaced; anything else at {@link SEED_ROOT} is refused), the
 * Python services' venvs (deploy.sh only activates them), the units written and enabled but
 * not started (nothing is built yet: deploy.sh's restarts start them), nginx running.
 */
export function renderSeedInstallScript(opts: SeedLayoutOptions): string {
    if (!/^[0-9a-f]{40}$/.test(opts.commit)) throw new Error(`installSeedLayout: commit ${JSON.stringify(opts.commit)} is not a full commit id`);
    const services = Object.values((opts.catalog ?? CATALOG).services);
    const units = services.map((s) => unitName(s.id));
    const writeUnits = services.map((s) => `cat > /etc/systemd/system/${unitName(s.id)} <<'UNIT'\n${renderSeedUnit(s)}UNIT`).join("\n");
    const venvs = services.filter((s) => s.language === "python").map((s) => `python3 -m venv ${shellQuote(`${SEED_ROOT}/services/${s.id}/venv`)}`);
    return `#!/usr/bin/env bash
set -euo pipefail
fail() { echo "installSeedLayout: $*" >&2; exit 1; }
root=${shellQuote(SEED_ROOT)}
marker=${shellQuote(SEED_UNIT_MARKER)}
${refuseForeignUnits(units)}
if [[ -e $root ]]; then
  # Only a clone is the seed's; the program's layout (releases, current links) is not.
  [[ -d $root/.git ]] || fail "$root exists and is not a git clone (the program's layout?): remove that first"
  rm -rf "$root"
fi
# deploy.sh runs npm, npx and go as root: they keep their caches under HOME.
[[ -n \${HOME:-} && -d $HOME ]] || fail "root has no HOME folder"
git clone --quiet --branch ${shellQuote(opts.branch)} ${shellQuote(opts.remoteUrl)} "$root"
git -C "$root" reset --quiet --hard ${shellQuote(opts.commit)}
[[ -x $root/scripts/deploy.sh ]] || fail "the monorepo has no executable scripts/deploy.sh"
${venvs.join("\n")}
${writeUnits}
systemctl daemon-reload
systemctl enable --quiet ${units.join(" ")}
# deploy.sh ends with \`systemctl reload nginx\`, which fails on a stopped nginx.
systemctl is-active --quiet nginx || systemctl start nginx
echo "seed layout installed: $root at $(git -C "$root" rev-parse HEAD) on $(git -C "$root" rev-parse --abbrev-ref HEAD), ${units.length} units enabled"
`;
}

/** The script {@link removeSeedLayout} runs: the seed's units, clone and (by default) caches go. */
export function renderSeedRemoveScript(catalog: Catalog = CATALOG, options: RemoveSeedLayoutOptions = {}): string {
    const units = Object.keys(catalog.services).map(unitName);
    const caches = options.keepCaches ? "" : `\n# Root's caches from deploy.sh's npm, go and pip.\nrm -rf "$HOME/.npm" "$HOME/.cache/go-build" "$HOME/go" "$HOME/.cache/pip"`;
    return `#!/usr/bin/env bash
set -euo pipefail
root=${shellQuote(SEED_ROOT)}
marker=${shellQuote(SEED_UNIT_MARKER)}
removed=0
for unit in ${units.join(" ")}; do
  file=/etc/systemd/system/$unit
  # Units of the program's rollout have the same names: leave those alone.
  if [[ ! -f $file ]] || [[ $(head -n 1 "$file") != "$marker" ]]; then continue; fi
  systemctl disable --now --quiet "$unit" || true
  rm -f "$file"
  removed=$((removed + 1))
done
systemctl daemon-reload
systemctl reset-failed 'pakashop-*' 2>/dev/null || true
if [[ -d $root/.git ]]; then rm -rf "$root"; fi${caches}
echo "seed layout removed: $removed units"
`;
}

async function runSetup(host: SeedHost, what: string, script: string): Promise<string> {
    const result = await host.ssh(script, { timeoutMs: SETUP_TIMEOUT_MS });
    if (result.code !== 0) throw new Error(`${what} failed (${result.code}):\n${result.stdout}${result.stderr}`);
    return result.stdout.trim();
}

/**
 * Puts the seed's host layout on a booted test host (one-time setup, not part of any timing):
 * see {@link renderSeedInstallScript}. Throws with the output when the script fails.
 * @returns the script's last line (the clone's commit and branch)
 */
export async function installSeedLayout(host: SeedHost, opts: SeedLayoutOptions): Promise<string> {
    return runSetup(host, "installSeedLayout", renderSeedInstallScript(opts));
}

/**
 * Runs the seed's deploy as its workflow does, `cd /opt/pakashop && ./scripts/deploy.sh
 * staging`, over SSH as root; timed on this machine's clock from before the SSH connection
 * to its end. Never throws for a failing deploy: see `code`.
 */
export async function runSeedDeploy(host: SeedHost): Promise<SeedDeployResult> {
    const started = process.hrtime.bigint();
    const result = await host.ssh(SEED_DEPLOY_COMMAND, { timeoutMs: DEPLOY_TIMEOUT_MS });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { seconds, code: result.code, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Stops, disables and removes the seed layout's units (only those it wrote), the clone and,
 * unless `keepCaches`, root's npm/Go/pip caches, so the program can be measured on the same
 * host from a clean state. Safe on a host without the layout.
 */
export async function removeSeedLayout(host: SeedHost, options: RemoveSeedLayoutOptions = {}): Promise<string> {
    return runSetup(host, "removeSeedLayout", renderSeedRemoveScript(CATALOG, options));
}

// ---- the remote the seed host pulls from ------------------------------------------------------

/** The monorepo served to the seed host, with a branch the benchmark moves. */
export interface SeedRemote {
    /** `http://<listenAddress>:<port>/pakashop.git` */
    readonly url: string;
    /** The served branch (`main` unless told otherwise). */
    readonly branch: string;
    /** Force-moves the served branch to `commit` (a commit of the fixture), so `git pull` gets it. */
    setBranch(commit: string): Promise<void>;
    /** Stops serving and removes the bare repository. */
    close(): Promise<void>;
}

/** Options of {@link createSeedRemote}. */
export interface SeedRemoteOptions {
    /** The branch to serve; default `main` (the staging branch). */
    readonly branch?: string;
    /** Where the branch starts; default the fixture's own tip of it. */
    readonly commit?: string;
}

const execFileAsync = promisify(execFile);

async function git(args: readonly string[]): Promise<string> {
    try {
        const { stdout } = await execFileAsync("git", args, { maxBuffer: 16 * 1024 * 1024, env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" } });
        return stdout.trim();
    } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`git ${args.join(" ")} failed: ${(e.stderr ?? "").trim() || e.message}`);
    }
}

/** Moves `refs/heads/<branch>` of the bare copy and refreshes what dumb-HTTP clients read. */
async function moveBranch(bare: string, branch: string, commit: string): Promise<void> {
    const id = await git(["-C", bare, "rev-parse", "--verify", "--quiet", `${commit}^{commit}`]).catch(() => "");
    if (!id) throw new Error(`createSeedRemote: ${commit} is not a commit of the fixture`);
    await git(["-C", bare, "update-ref", `refs/heads/${branch}`, id]);
    await git(["-C", bare, "update-server-info"]);
}

/** Serves the files of `bare` under `/pakashop.git/` to GET requests: git's "dumb" HTTP protocol. */
function serveFiles(bare: string): http.Server {
    return http.createServer((request, response) => {
        const relative = decodeURIComponent((request.url ?? "/").split("?")[0]).replace(/^\/pakashop\.git\//, "");
        const file = path.resolve(bare, relative);
        if (request.method !== "GET" || !file.startsWith(`${bare}/`)) {
            response.writeHead(404).end();
            return;
        }
        fsp.stat(file).then(
            (stat) => {
                if (!stat.isFile()) return void response.writeHead(404).end();
                response.writeHead(200, { "Content-Length": stat.size });
                createReadStream(file).pipe(response);
            },
            () => void response.writeHead(404).end(),
        );
    });
}

/**
 * Serves a bare copy of the fixture monorepo at `fixtureRepoPath` over HTTP on
 * `listenAddress` (the runner's address on the test network, which the host can reach),
 * the way tests/e2e/stage.ts serves it to the program's hosts: git's "dumb" protocol, static
 * files of the bare repository (repacked into one pack, so a pull is a few requests), no
 * authentication. The bare copy lives in a temporary folder until {@link SeedRemote.close}.
 */
export async function createSeedRemote(fixtureRepoPath: string, listenAddress: string, options: SeedRemoteOptions = {}): Promise<SeedRemote> {
    const branch = options.branch ?? "main";
    const work = await fsp.mkdtemp(path.join(os.tmpdir(), "pakashop-seed-remote-"));
    const bare = path.join(work, "pakashop.git");
    try {
        await git(["clone", "--quiet", "--bare", "--no-local", fixtureRepoPath, bare]);
        await git(["-C", bare, "repack", "-a", "-d", "--quiet"]);
        await moveBranch(bare, branch, options.commit ?? branch);
        // HEAD names the served branch, so a plain clone checks it out.
        await git(["-C", bare, "symbolic-ref", "HEAD", `refs/heads/${branch}`]);
        const server = serveFiles(bare);
        await new Promise<void>((resolve, reject) => {
            server.once("error", reject);
            server.listen(0, listenAddress, () => resolve());
        });
        const port = (server.address() as AddressInfo).port;
        const host = listenAddress.includes(":") ? `[${listenAddress}]` : listenAddress;
        return {
            url: `http://${host}:${port}/pakashop.git`,
            branch,
            setBranch: (commit) => moveBranch(bare, branch, commit),
            close: async () => {
                const closed = new Promise<void>((resolve) => server.close(() => resolve()));
                server.closeAllConnections();
                await closed;
                await fsp.rm(work, { recursive: true, force: true });
            },
        };
    } catch (error) {
        await fsp.rm(work, { recursive: true, force: true });
        throw error;
    }
}
