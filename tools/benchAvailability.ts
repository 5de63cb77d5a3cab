/**
 * `npm run bench:availability` (as root): how many requests fail while a deploy runs, for the
 * program's rolling deploy of a two-host fleet and for the seed's `deploy.sh` (run unchanged) on
 * one host, measured the same way: steady load (tests/e2e/load.ts, autocannon through
 * tools/loadProbe.ts) from Cloudflare's position on the test network, through the load balancer
 * standing in for the ALB (HAProxy configured from the program's target group), to the gateway's
 * health path, from before the deploy starts until after it ends. Also prints the fleet's rollout
 * time (the deploy's wall time, prepare on both hosts included).
 *
 * Each deploy is an upgrade of all 19 services (fixture v1 -> v3) onto hosts already running v1.
 * For deploy.sh, the second host is taken out of the load balancer (deploy.sh knows one host) and
 * the first host's services go; deploy.sh then installs and upgrades the seed's layout there,
 * behind the same nginx and load balancer.
 */
import { createSeedRemote, installSeedLayout, runSeedDeploy } from "../tests/e2e/seedDeploy";
import { LOAD_CONNECTIONS, LoadResult, underLoad, waitUntilServing, watchServing } from "../tests/e2e/load";
import { prepareStage } from "../tests/e2e/stage";
import { runHostBenchmark } from "./cli";

function report(label: string, result: { load: LoadResult; seconds: number }, extra = ""): void {
    const l = result.load;
    console.log(`${label.padEnd(22)} deploy ${result.seconds.toFixed(2).padStart(7)} s   requests ${String(l.requests).padStart(6)}   failed ${String(l.failed).padStart(5)} ` +
        `(errors ${l.errors}, timeouts ${l.timeouts}, non-2xx ${l.non2xx})${extra}`);
}

async function main(): Promise<void> {
    console.log(`availability benchmark: failed requests during an upgrade of all 19 services, ${LOAD_CONNECTIONS} connections from Cloudflare's position through the load balancer`);
    const stage = await prepareStage("avail", 38, { backendHosts: 2, healthTimeoutSeconds: 60 });
    const remote = await createSeedRemote(stage.repo.path, stage.segment.runnerAddress, { commit: stage.repo.commits.v1 });
    try {
        const { v1, v3 } = stage.repo.commits;
        // The program: first deploy of the fleet, then the rolling upgrade under load.
        await stage.deploy(v1);
        const watch = watchServing(stage);
        const fleet = await underLoad(stage, () => stage.deploy(v3));
        const serving = await watch.stop();
        if (fleet.error) throw fleet.error;
        report("program, 2-host fleet", fleet, `   fewest hosts in service ${serving.fewest}`);

        // The seed's way on one host behind the same load balancer: host 2 leaves it, host 1's
        // program services go, deploy.sh's layout comes.
        await stage.loadBalancer.runtime("set server targets/h2 state maint");
        const [host] = stage.hosts;
        // The 19 services' units and files go; nginx and the load balancer's health server stay.
        const wipe = await host.ssh(`units=$(cd /etc/systemd/system && ls pakashop-*.service | grep -v '^pakashop-health.service$')
            systemctl disable --now --quiet $units && (cd /etc/systemd/system && rm -f $units) && systemctl daemon-reload && rm -rf /opt/pakashop`);
        if (wipe.code !== 0) throw new Error(wipe.stderr);
        await installSeedLayout(host, { remoteUrl: remote.url, branch: stage.repo.branch, commit: v1 });
        const first = await runSeedDeploy(host);
        if (first.code !== 0) throw new Error(`deploy.sh (first deploy) failed: ${first.stderr.slice(-2000)}`);
        await waitUntilServing(stage, "h1", 60_000);
        await remote.setBranch(v3);
        const seed = await underLoad(stage, async () => {
            const run = await runSeedDeploy(host);
            if (run.code !== 0) throw new Error(`deploy.sh failed: ${run.stderr.slice(-2000)}`);
        });
        if (seed.error) throw seed.error;
        report("deploy.sh, one host", seed);
    } finally {
        await remote.close();
        await stage.teardown();
    }
}

runHostBenchmark(main);
