/**
 * `node --require ./tools/register.js tools/testhost.ts <command>` (as root): the end-to-end test hosts by hand.
 *
 *   smoke     boot a host, check systemd, ssh and a DynamicUser service across a reboot, destroy
 *             it and check nothing is left; prints timings
 *   rootfs    build (or find) the cached root filesystem and print its path
 *   clean     destroyAllTestHosts(): remove leftovers of crashed runs
 *
 * Exit codes: 0 ok, 1 a check failed, 2 bad command line.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import { ensureRootfs, destroyAllTestHosts, TestHost } from "../tests/e2e/testHost";
import { cgroupDir, HOSTS_DIR, NAME_PREFIX, netnsName } from "../tests/e2e/testHostResources";

const USAGE = "usage: node --require ./tools/register.js tools/testhost.ts <smoke|rootfs|clean>";
const SMOKE_NAME = "smoke";
/** Far from the low indexes tests are likely to pick, so a smoke run can go alongside them. */
const SMOKE_SUBNET = 250;
const SSH_ROUND_TRIPS = 5;

const UNIT = `[Unit]
Description=testhost smoke check: a static HTTP server under a dynamic user

[Service]
DynamicUser=yes
ExecStart=/usr/bin/python3 -m http.server 8080 --bind 0.0.0.0 --directory /usr/share/doc

[Install]
WantedBy=multi-user.target
`;

class CheckFailed extends Error {}

const timings: [string, number][] = [];

/** Runs a step, records its wall time and prints it as it finishes. */
async function timed<T>(label: string, step: () => Promise<T>): Promise<T> {
    const started = Date.now();
    const value = await step();
    const ms = Date.now() - started;
    timings.push([label, ms]);
    process.stdout.write(`  ${label.padEnd(44)} ${(ms / 1000).toFixed(2).padStart(7)} s\n`);
    return value;
}

function check(ok: boolean, what: string): void {
    if (!ok) throw new CheckFailed(what);
    process.stdout.write(`  ok: ${what}\n`);
}

async function expectOk(host: TestHost, command: string): Promise<string> {
    const result = await host.ssh(command);
    if (result.code !== 0) throw new CheckFailed(`\`${command}\` on ${host.name} exited ${result.code}: ${result.stdout}${result.stderr}`);
    return result.stdout.trim();
}

/** Fetches the service from this machine, outside the netns, polling while it starts. */
async function curlFromOutside(host: TestHost): Promise<string> {
    const url = `http://${host.address}:8080/`;
    let last = "";
    for (let attempt = 0; attempt < 100; attempt++) {
        const curl = spawnSync("curl", ["--noproxy", "*", "-sS", "--max-time", "2", "-o", "/dev/null", "-w", "%{http_code}", url], { encoding: "utf8" });
        last = `${curl.stdout}${curl.stderr}`.trim();
        if (curl.status === 0 && curl.stdout === "200") return curl.stdout;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new CheckFailed(`curl ${url} from outside did not get 200 within 10 s (last: ${last})`);
}

async function sshRoundTrip(host: TestHost): Promise<number> {
    const started = Date.now();
    for (let i = 0; i < SSH_ROUND_TRIPS; i++) await expectOk(host, "true");
    return (Date.now() - started) / SSH_ROUND_TRIPS;
}

/** What a destroyed host could have left behind; empty when nothing. */
function leftovers(host: TestHost, pids: number[]): string[] {
    const found: string[] = [];
    const netns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    if (netns.split("\n").some((line) => line.split(" ")[0] === netnsName(host.name))) found.push(`netns: ${netns.trim()}`);
    const mounts = spawnSync("mount", [], { encoding: "utf8" }).stdout.split("\n").filter((line) => line.includes(NAME_PREFIX) || line.includes(HOSTS_DIR));
    if (mounts.length) found.push(`mounts: ${mounts.join("; ")}`);
    const ps = spawnSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" }).stdout.split("\n");
    const processes = ps.filter((line) => pids.includes(Number(line.trim().split(" ")[0])) || line.includes(HOSTS_DIR));
    if (processes.length) found.push(`processes: ${processes.join("; ")}`);
    const links = spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).stdout.split("\n").filter((line) => line.includes(NAME_PREFIX));
    if (links.length) found.push(`links: ${links.join("; ")}`);
    for (const dir of [host.dir, host.rootfs, cgroupDir(host.name)]) {
        if (fs.existsSync(dir)) found.push(`path: ${dir}`);
    }
    return found;
}

async function smoke(): Promise<void> {
    process.stdout.write("testhost smoke check\n");
    await timed("clean leftovers (destroyAllTestHosts)", () => destroyAllTestHosts());
    await timed("root filesystem (build or cache)", () => ensureRootfs());
    const host = await timed(`boot ${SMOKE_NAME} (extract, keys, netns, systemd, sshd)`, () => TestHost.boot({ name: SMOKE_NAME, subnetIndex: SMOKE_SUBNET }));
    const pids: number[] = [host.pid1];
    try {
        process.stdout.write(`  boot: systemd ${host.bootReport?.state} after ${host.bootReport?.systemdMs} ms, ssh after ${host.bootReport?.sshMs} ms\n`);
        const state = (await host.exec(["systemctl", "is-system-running"])).stdout.trim();
        check(state === "running", `systemctl is-system-running says ${state}${host.bootReport?.failedUnits.length ? ` (failed: ${host.bootReport.failedUnits.join(", ")})` : ""}`);
        const average = await sshRoundTrip(host);
        timings.push(["ssh round trip (average)", average]);
        check(true, `ssh root@${host.address} true, ${SSH_ROUND_TRIPS} times, ${average.toFixed(0)} ms each on average`);
        await timed("install + enable --now a DynamicUser unit", async () => {
            await host.ssh("cat > /etc/systemd/system/smoke-http.service", { input: UNIT });
            await expectOk(host, "systemctl daemon-reload && systemctl enable --now smoke-http.service");
        });
        await timed("curl it from outside the netns", () => curlFromOutside(host));
        check(true, `http://${host.address}:8080/ answers 200 from outside`);
        const user = await expectOk(host, "ps -o user= -C python3");
        check(user !== "root" && user !== "", `the service runs as a dynamic user (${user})`);
        await timed("poweroff (SIGRTMIN+4)", () => host.poweroff());
        await timed("boot again", () => host.bootAgain());
        pids.push(host.pid1);
        check((await expectOk(host, "systemctl is-active smoke-http.service")) === "active", "smoke-http.service is active again after the reboot");
        await curlFromOutside(host);
        check(true, "and answers 200 from outside again");
    } finally {
        await timed("destroy", () => host.destroy());
    }
    const left = leftovers(host, pids);
    check(left.length === 0, `nothing left behind${left.length ? `: ${left.join("\n")}` : " (netns, mounts, processes, links, cgroup, rootfs)"}`);
}

export async function main(argv: string[]): Promise<number> {
    const [command, ...rest] = argv;
    if (rest.length || !["smoke", "rootfs", "clean"].includes(command)) {
        process.stderr.write(`${USAGE}\n`);
        return 2;
    }
    try {
        if (command === "rootfs") process.stdout.write(`${await ensureRootfs()}\n`);
        if (command === "clean") await destroyAllTestHosts();
        if (command === "smoke") await smoke();
        return 0;
    } catch (error) {
        process.stderr.write(`${error instanceof CheckFailed ? "check failed" : "error"}: ${error instanceof CheckFailed ? error.message : (error as Error).stack ?? error}\n`);
        return 1;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => {
        process.exitCode = code;
    });
}
