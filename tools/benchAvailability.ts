/**
 * `npm run bench:availability` (as root): how many requests fail while a deploy runs, for the
 * program and for the seed's `deploy.sh` (run unchanged), on the same fresh single test host
 * and fixture, measured the same way: steady load (tools/loadProbe.ts, autocannon) from
 * Cloudflare's position on the test network to the origin's public address on 443, through
 * nginx to the gateway's health path, from before the deploy starts until after it ends.
 *
 * Today the stack has one backend host, so both restart services in place and some requests
 * fail; the figure is the baseline the load-balanced fleet (issue 13) has to bring to zero.
 * Each deploy is an upgrade of all 19 services (fixture v1 -> v3) onto a host already running v1.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import { createSeedRemote, installSeedLayout, runSeedDeploy } from "../tests/e2e/seedDeploy";
import { prepareStage, Stage } from "../tests/e2e/stage";
import { runHostBenchmark } from "./cli";
import { PUBLIC } from "../tests/e2e/testNetwork";

/** Concurrent connections of the load (a steady trickle, not a stress test: 2 shared cores). */
const CONNECTIONS = 4;
/** Load before and after the deploy, so the measurement brackets it. */
const MARGIN_MS = 1500;

interface LoadResult {
    readonly requests: number;
    readonly failed: number;
    readonly errors: number;
    readonly timeouts: number;
    readonly non2xx: number;
}

/** Starts the load in the public namespace, from Cloudflare's address; stop() returns what it saw. */
function startLoad(stage: Stage): { stop(): Promise<LoadResult> } {
    const child: ChildProcess = spawn("ip", ["netns", "exec", stage.publicNetns, process.execPath, "--require", "./tools/register.js", "tools/loadProbe.ts",
        `https://${PUBLIC.backendAddress}/api/v1/health`, String(CONNECTIONS)], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d));
    child.stderr?.on("data", (d: Buffer) => (stderr += d));
    const ended = new Promise<void>((resolve) => child.on("close", () => resolve()));
    return {
        async stop() {
            child.kill("SIGTERM");
            await ended;
            const line = stdout.trim().split("\n").pop() ?? "";
            if (!line.startsWith("{")) throw new Error(`the load probe printed no result: ${stderr.trim() || stdout.trim()}`);
            return JSON.parse(line) as LoadResult;
        },
    };
}

async function underLoad(stage: Stage, deploy: () => Promise<unknown>): Promise<{ load: LoadResult; seconds: number }> {
    const load = startLoad(stage);
    await new Promise((resolve) => setTimeout(resolve, MARGIN_MS));
    const started = Date.now();
    await deploy();
    const seconds = (Date.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, MARGIN_MS));
    return { load: await load.stop(), seconds };
}

function report(label: string, result: { load: LoadResult; seconds: number }): void {
    const l = result.load;
    console.log(`${label.padEnd(10)} deploy ${result.seconds.toFixed(2).padStart(6)} s   requests ${String(l.requests).padStart(6)}   failed ${String(l.failed).padStart(5)} ` +
        `(errors ${l.errors}, timeouts ${l.timeouts}, non-2xx ${l.non2xx})`);
}

async function main(): Promise<void> {
    console.log(`availability benchmark: failed requests during an upgrade of all 19 services, one backend host, ${CONNECTIONS} connections from Cloudflare's position`);
    const stage = await prepareStage("avail", 38, 60);
    const remote = await createSeedRemote(stage.repo.path, stage.segment.runnerAddress, { commit: stage.repo.commits.v1 });
    try {
        // Only Cloudflare's address reaches the origin's 443: let the probe's connections come from it.
        execFileSync("ip", ["-n", stage.publicNetns, "route", "replace", `${PUBLIC.backendAddress}/32`, "dev", "eth0", "src", PUBLIC.cloudflareAddress]);
        const { v1, v3 } = stage.repo.commits;
        // The program: first deploy (also sets up nginx with the origin certificate), then the upgrade under load.
        await stage.deploy(v1);
        const program = await underLoad(stage, () => stage.deploy(v3));
        report("program", program);
        // The seed's way on the same host and nginx: the program's services go, deploy.sh's layout comes.
        await stage.engine.deleteUndeclared(true);
        const wipe = await stage.host.ssh("rm -rf /opt/pakashop");
        if (wipe.code !== 0) throw new Error(wipe.stderr);
        await installSeedLayout(stage.host, { remoteUrl: remote.url, branch: stage.repo.branch, commit: v1 });
        const first = await runSeedDeploy(stage.host);
        if (first.code !== 0) throw new Error(`deploy.sh (first deploy) failed: ${first.stderr.slice(-2000)}`);
        await remote.setBranch(v3);
        const seed = await underLoad(stage, async () => {
            const run = await runSeedDeploy(stage.host);
            if (run.code !== 0) throw new Error(`deploy.sh failed: ${run.stderr.slice(-2000)}`);
        });
        report("deploy.sh", seed);
    } finally {
        await remote.close();
        await stage.teardown();
    }
}

runHostBenchmark(main);
