/**
 * The switch script run whole with bash, on a stand-in host: temporary folders for the service,
 * unit and environment folders, a `systemctl` that keeps each unit's state in a file, and real
 * HTTP servers on 127.0.0.1 for the services that come up healthy. It covers what the real-host
 * end-to-end test does not reach: a tier where one service passes its gate and another fails, a
 * failed first deploy, and the removal of a service the catalog no longer lists.
 */
import { FLEET_HEALTH_UNIT } from "../host/health/fleetHealth";
import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { Catalog, INFRASTRUCTURE_TIER, ServiceSpec, unitName } from "../components/catalog";
import { renderSwitchScript } from "../host/switch/switchScript";
import { switchOnRoots } from "./support/switchPlan";

/** A free TCP port on 127.0.0.1 (listened on once, then released). */
async function freePort(): Promise<number> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
}

/** A small catalog: `config` alone in the first tier, then `good` and `bad` together. */
function smallCatalog(ports: Record<string, number>, ids: readonly string[]): Catalog {
    const service = (id: string, tier: string): ServiceSpec => ({
        id, displayName: id, port: ports[id], language: "node", tier, entryPoint: "src/index.js", healthPath: "/health", runsMigrations: false,
    });
    return {
        tiers: [
            { id: "config", step: 2, after: INFRASTRUCTURE_TIER, description: "first" },
            { id: "core", step: 3, after: "config", description: "second" },
        ],
        services: Object.fromEntries(ids.map((id) => [id, service(id, id === "config" ? "config" : "core")])),
    };
}

/** `systemctl` (and journalctl) for the stand-in host: unit state in files under `state`. */
function stubTools(bin: string, state: string): void {
    fs.writeFileSync(path.join(bin, "systemctl"), `#!/usr/bin/env bash
state='${state}'
verb=$1; shift
flags=(); units=()
for a in "$@"; do if [[ $a == -* ]]; then flags+=("$a"); else units+=("$a"); fi; done
echo "$verb \${units[*]}" >> "$state/calls"
case $verb in
  is-active) rc=0; for u in "\${units[@]}"; do if [[ -f $state/$u.active ]]; then echo active; else echo inactive; rc=3; fi; done; exit $rc ;;
  is-enabled) rc=0; for u in "\${units[@]}"; do if [[ -f $state/$u.enabled ]]; then echo enabled; else echo disabled; rc=1; fi; done; exit $rc ;;
  enable) for u in "\${units[@]}"; do touch "$state/$u.enabled"; done ;;
  disable) for u in "\${units[@]}"; do rm -f "$state/$u.enabled"; [[ " \${flags[*]} " == *" --now "* ]] && rm -f "$state/$u.active"; done ;;
  restart|start) for u in "\${units[@]}"; do touch "$state/$u.active"; done ;;
  stop) for u in "\${units[@]}"; do rm -f "$state/$u.active"; done ;;
  *) ;;
esac
exit 0
`, { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "journalctl"), "#!/bin/sh\necho 'journal line of the stand-in'\n", { mode: 0o755 });
}

/** Runs bash with a script and standard input, without blocking this process (the HTTP servers answer meanwhile). */
function bash(script: string, input: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const child = spawn("bash", ["-c", script], { env });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d));
        child.stderr.on("data", (d: Buffer) => (stderr += d));
        child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
        child.stdin.end(input);
    });
}

describe("switch on a stand-in host: partial failure, first deploy, removal", function () {
    this.timeout(60_000);
    let dir: string;
    let ports: Record<string, number>;
    const servers: http.Server[] = [];
    const folders = () => ({
        services: path.join(dir, "services"), units: path.join(dir, "units"), env: path.join(dir, "env"),
        run: path.join(dir, "run"), bin: path.join(dir, "bin"), state: path.join(dir, "state"),
    });

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-switch-"));
        for (const folder of Object.values(folders())) fs.mkdirSync(folder);
        stubTools(folders().bin, folders().state);
        ports = { config: await freePort(), good: await freePort(), bad: await freePort() };
        // config and good answer their health path; nothing listens on bad's port.
        for (const id of ["config", "good"]) {
            const server = http.createServer((request, response) => response.writeHead(request.url === "/health" ? 200 : 404).end("ok"));
            await new Promise<void>((resolve) => server.listen(ports[id], "127.0.0.1", resolve));
            servers.push(server);
        }
    });
    after(async () => {
        for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
        fs.rmSync(dir, { recursive: true, force: true });
    });

    /** Makes each release look prepared, renders the switch for the catalog and runs it. */
    async function runSwitch(catalog: Catalog, releases: Record<string, string>) {
        const f = folders();
        for (const [id, release] of Object.entries(releases)) {
            fs.mkdirSync(path.join(f.services, id, "releases", release), { recursive: true });
            fs.writeFileSync(path.join(f.services, id, "releases", release, ".pakashop-release"), "");
        }
        const text = switchOnRoots(renderSwitchScript(catalog, releases, { healthTimeoutSeconds: 1 }), f);
        // The stand-in host has no root: files are installed as the test's own user.
        const asUser = text.replace(/ -o root -g root/g, "");
        fs.rmSync(path.join(f.state, "calls"), { force: true });
        return bash(asUser, "DATABASE_URL=postgresql://secret-value@db/x\n", { ...process.env, PATH: `${f.bin}:${process.env.PATH}` });
    }
    const current = (id: string) => { try { return fs.readlinkSync(path.join(folders().services, id, "current")); } catch { return undefined; } };
    const deployed = (id: string) => { try { return fs.readFileSync(path.join(folders().services, id, "deployed"), "utf8").trim(); } catch { return undefined; } };
    const exists = (...parts: string[]) => fs.existsSync(path.join(dir, ...parts));

    it("a first deploy where one service of a tier fails its gate: the healthy one stays on its new release, the failed one is stopped and its files are gone, the step fails naming it", async () => {
        const catalog = smallCatalog(ports, ["config", "good", "bad"]);
        const releases = { config: "c1", good: "g1", bad: "b1" };
        const result = await runSwitch(catalog, releases);
        assert.equal(result.code, 1, result.stdout + result.stderr);
        assert.match(result.stdout, /tier config: switching config\n/);
        assert.match(result.stdout, /tier core: switching good bad\n/);
        assert.match(result.stdout, /config c1 healthy/);
        assert.match(result.stdout, /good g1 healthy/);
        assert.match(result.stdout, /bad: first deploy, nothing to roll back to; stopped/);
        assert.match(result.stderr, /----- journal of pakashop-bad\.service \(last 40 lines\) -----/);
        assert.match(result.stderr, new RegExp(`bad b1 did not become healthy within 1s \\(http://127\\.0\\.0\\.1:${ports.bad}/health\\); rolled back, later tiers not touched`));
        assert.doesNotMatch(result.stdout + result.stderr, /secret-value/);
        assert.deepEqual([current("config"), current("good"), current("bad")], ["releases/c1", "releases/g1", undefined]);
        assert.deepEqual([deployed("config"), deployed("good"), deployed("bad")], ["c1", "g1", undefined]);
        assert.ok(exists("units", unitName("good")) && exists("env", "good.env"));
        assert.ok(!exists("units", unitName("bad")) && !exists("env", "bad.env"), "the failed first deploy left its unit or environment");
        assert.ok(!exists("state", `${unitName("bad")}.active`) && !exists("state", `${unitName("bad")}.enabled`), "bad is still running or enabled");
        assert.equal(fs.statSync(path.join(dir, "env", "good.env")).mode & 0o777, 0o600);
    });

    it("the same plan again switches only the failed service: the healthy ones passed their gate and are left alone", async () => {
        const catalog = smallCatalog(ports, ["config", "good", "bad"]);
        const result = await runSwitch(catalog, { config: "c1", good: "g1", bad: "b1" });
        assert.equal(result.code, 1);
        assert.match(result.stdout, /tier config: nothing to switch/);
        assert.match(result.stdout, /tier core: switching bad\n/);
        const restarts = fs.readFileSync(path.join(dir, "state", "calls"), "utf8").split("\n").filter((l) => l.startsWith("restart "));
        assert.deepEqual(restarts, [`restart ${unitName("bad")}`]);
    });

    it("a catalog without the failed service removes what is left of it and any unlisted pakashop unit, and succeeds", async () => {
        // A service an older catalog had, fully installed.
        fs.mkdirSync(path.join(dir, "services", "old", "releases", "o1"), { recursive: true });
        fs.symlinkSync("releases/o1", path.join(dir, "services", "old", "current"));
        fs.writeFileSync(path.join(dir, "units", unitName("old")), "[Unit]\n");
        fs.writeFileSync(path.join(dir, "env", "old.env"), "A=1\n");
        for (const marker of ["active", "enabled"]) fs.writeFileSync(path.join(dir, "state", `${unitName("old")}.${marker}`), "");
        // The proxy step's health server: a pakashop unit, but no service; it must survive.
        fs.writeFileSync(path.join(dir, "units", FLEET_HEALTH_UNIT), "[Unit]\n");
        const catalog = smallCatalog(ports, ["config", "good"]);
        const result = await runSwitch(catalog, { config: "c1", good: "g1" });
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.match(result.stdout, /removed old/);
        assert.match(result.stdout, /switch: nothing to restart/);
        assert.ok(!exists("services", "old") && !exists("units", unitName("old")) && !exists("env", "old.env"), "old is left");
        assert.ok(!exists("state", `${unitName("old")}.active`), "old still runs");
        assert.ok(!exists("services", "bad"), "bad's folder is left");
        assert.ok(exists("units", FLEET_HEALTH_UNIT), "the switch removed the load balancer's health server");
        assert.doesNotMatch(result.stdout, /removed health/);
        assert.deepEqual([current("config"), current("good")], ["releases/c1", "releases/g1"]);
    });
});
