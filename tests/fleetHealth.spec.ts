/**
 * The load balancer's health check on a backend host (host/health/fleetHealth.ts, host/proxy.ts):
 * which services it asks (from the catalog, transitively), the python3 server run for real on
 * this machine against small stub HTTP servers standing in for the services, the nginx location
 * that hides it from proxied traffic, its reserved port, and how the proxy step installs it.
 */
import { strict as assert } from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { CATALOG, Catalog, ServiceSpec } from "../components/catalog";
import { SettingError } from "../components/errors";
import { RESERVED_PORTS, validateCatalog } from "../components/rollout";
import {
    FLEET_HEALTH_PATH, FLEET_HEALTH_PORT, FLEET_HEALTH_SCRIPT, FLEET_HEALTH_UNIT, fleetHealthServices, renderFleetHealthServer, renderFleetHealthUnit,
} from "../host/health/fleetHealth";
import { renderNginxSite, renderProxyScript } from "../host/proxy";
import { onPath } from "./support/testTools";

describe("fleet health: which services the load balancer's health check needs", () => {
    it("the catalog's: the config service (the tier the gateway's comes after) and the gateway, no other", () => {
        assert.deepEqual(fleetHealthServices(CATALOG), [
            { id: "config", port: 3085, healthPath: "/health" },
            { id: "gateway", port: 8000, healthPath: "/api/v1/health" },
        ]);
    });

    it("transitively, from the catalog: every tier before the gateway's, not the gateway's own tier mates nor later tiers", () => {
        const svc = (id: string, tier: string, port: number): ServiceSpec => ({ ...CATALOG.services.config, id, tier, port });
        const catalog: Catalog = {
            tiers: [
                { id: "flags", step: 2, after: "infrastructure", description: "" },
                { id: "auth", step: 3, after: "flags", description: "" },
                { id: "edge", step: 4, after: "auth", description: "" },
                { id: "core", step: 5, after: "edge", description: "" },
            ],
            services: Object.fromEntries([
                svc("flags", "flags", 3001), svc("auth", "auth", 3002), svc("session", "auth", 3003),
                { ...CATALOG.services.gateway, tier: "edge" }, svc("edge-cache", "edge", 3004), svc("orders", "core", 3005),
            ].map((s) => [s.id, s])),
        };
        validateCatalog(catalog);
        assert.deepEqual(fleetHealthServices(catalog).map((c) => c.id), ["flags", "auth", "session", "gateway"]);
        assert.throws(() => fleetHealthServices({ tiers: CATALOG.tiers, services: { config: CATALOG.services.config } }), /no gateway/);
    });

    it(`port ${FLEET_HEALTH_PORT} is reserved: no catalog port uses it, and a service on it is refused; no service may be called 'health'`, () => {
        assert.ok(!Object.values(CATALOG.services).some((s) => s.port === FLEET_HEALTH_PORT));
        assert.match(String(RESERVED_PORTS.get(FLEET_HEALTH_PORT)), /pakashop-health\.service/);
        const onPort = { ...CATALOG, services: { ...CATALOG.services, search: { ...CATALOG.services.search, port: FLEET_HEALTH_PORT } } };
        assert.throws(() => validateCatalog(onPort), (e: unknown) => e instanceof SettingError && e.setting === "services.search.port" && e.value === FLEET_HEALTH_PORT
            && /taken by pakashop-health\.service/.test(e.rule));
        const named = { ...CATALOG, services: { ...CATALOG.services, health: { ...CATALOG.services.search, id: "health", port: 3999 } } };
        assert.throws(() => validateCatalog(named), (e: unknown) => e instanceof SettingError && e.setting === "services.health.id" && /pakashop-health\.service/.test(e.rule));
    });
});

/** A stand-in service: answers its health path with `status` (or never, with "hang"), counting requests. */
interface Stub {
    port: number;
    status: number | "hang" | "down";
    requests: number;
    server: http.Server;
}

async function startStub(): Promise<Stub> {
    const stub = { port: 0, status: 200, requests: 0 } as Stub;
    stub.server = http.createServer((_req, res) => {
        stub.requests += 1;
        if (stub.status === "hang") return; // never answers; the aggregator's timeout must
        res.writeHead(stub.status as number, { "content-type": "text/plain" }).end("stub\n");
    });
    await new Promise<void>((resolve) => stub.server.listen(0, "127.0.0.1", resolve));
    stub.port = (stub.server.address() as AddressInfo).port;
    return stub;
}

async function freePort(): Promise<number> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
}

function get(port: number, urlPath: string, method = "GET"): Promise<{ status: number; body: string; seconds: number }> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, path: urlPath, method, agent: false }, (res) => {
            let body = "";
            res.setEncoding("utf8").on("data", (d) => (body += d)).on("end", () => resolve({ status: res.statusCode ?? 0, body, seconds: (Date.now() - started) / 1000 }));
        });
        req.on("error", reject).end();
    });
}

describe("fleet health: the server, run for real against stub services", function () {
    this.timeout(60_000);
    const stubs: Record<string, Stub> = {};
    let dir: string;
    let port: number;
    let server: ChildProcess;
    let log = "";

    before(async function () {
        if (!onPath("python3")) this.skip();
        // The catalog with the three services a test needs at the stubs' ports: two the gateway
        // needs (config, gateway) and one it does not (search).
        for (const id of ["config", "gateway", "search"]) stubs[id] = await startStub();
        const services = Object.fromEntries(Object.values(CATALOG.services).map((s) => [s.id, stubs[s.id] ? { ...s, port: stubs[s.id].port } : s]));
        const checks = fleetHealthServices({ ...CATALOG, services });
        assert.deepEqual(checks.map((c) => c.id), ["config", "gateway"]);
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-fleet-health-"));
        port = await freePort();
        fs.writeFileSync(path.join(dir, "fleet-health.py"), renderFleetHealthServer(checks, port));
        // -I as in the unit; the environment's proxy must not matter (http.client ignores it).
        server = spawn("python3", ["-I", path.join(dir, "fleet-health.py")], {
            stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, http_proxy: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9" },
        });
        server.stderr?.setEncoding("utf8").on("data", (d: string) => (log += d));
        const deadline = Date.now() + 10_000;
        while (!log.includes("listening on") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        assert.match(log, new RegExp(`listening on 127\\.0\\.0\\.1:${port}`));
    });

    beforeEach(() => {
        for (const stub of Object.values(stubs)) {
            stub.status = 200;
            stub.requests = 0;
        }
    });

    after(async () => {
        server?.kill();
        for (const stub of Object.values(stubs)) {
            stub.server.closeAllConnections();
            await new Promise<void>((resolve) => stub.server.close(() => resolve()));
        }
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("every needed service up: 200 ok, each asked once", async () => {
        const answer = await get(port, FLEET_HEALTH_PATH);
        assert.deepEqual([answer.status, answer.body], [200, "ok\n"]);
        assert.deepEqual([stubs.config.requests, stubs.gateway.requests], [1, 1]);
        assert.equal(stubs.search.requests, 0, "a service the gateway does not need is not asked");
    });

    it("a needed service answering 500: 503 naming it, and nothing else", async () => {
        stubs.config.status = 500;
        const answer = await get(port, FLEET_HEALTH_PATH);
        assert.deepEqual([answer.status, answer.body], [503, "config\n"]);
    });

    it("a needed service down (nothing listening) or silent past 2 s: 503 naming each, within about 2.5 s", async () => {
        stubs.gateway.status = "hang";
        const closed = stubs.config;
        closed.server.closeAllConnections();
        await new Promise<void>((resolve) => closed.server.close(() => resolve()));
        try {
            const answer = await get(port, FLEET_HEALTH_PATH);
            assert.deepEqual([answer.status, answer.body], [503, "config gateway\n"]);
            assert.ok(answer.seconds >= 1.9 && answer.seconds < 3.5, `answered after ${answer.seconds} s`);
        } finally {
            await new Promise<void>((resolve) => closed.server.listen(closed.port, "127.0.0.1", resolve));
            stubs.gateway.server.closeAllConnections();
        }
    });

    it("a service the gateway does not need down: still 200", async () => {
        stubs.search.status = 503;
        const answer = await get(port, FLEET_HEALTH_PATH);
        assert.deepEqual([answer.status, answer.body], [200, "ok\n"]);
    });

    it("HEAD answers like GET without a body; any other path is 404 and asks no service", async () => {
        stubs.config.status = 500;
        const head = await get(port, FLEET_HEALTH_PATH, "HEAD");
        assert.deepEqual([head.status, head.body], [503, ""]);
        stubs.config.requests = 0;
        const other = await get(port, "/healthz/../admin");
        assert.equal(other.status, 404);
        assert.equal((await get(port, "/")).status, 404);
        assert.equal(stubs.config.requests, 0);
    });

    it("logs changes of the verdict only", async () => {
        const before = log;
        await get(port, FLEET_HEALTH_PATH);
        await get(port, FLEET_HEALTH_PATH);
        stubs.config.status = 500;
        await get(port, FLEET_HEALTH_PATH);
        await get(port, FLEET_HEALTH_PATH);
        // The server writes its line before it answers; give the pipe a moment to deliver it.
        await new Promise((r) => setTimeout(r, 200));
        const lines = log.slice(before.length).split("\n").filter(Boolean);
        assert.deepEqual(lines.slice(-1), ["failing: config"]);
        assert.equal(lines.filter((l) => l === "failing: config").length, 1);
    });
});

describe("fleet health: nginx and the proxy step", () => {
    it("nginx answers /healthz on both servers from the aggregator, and 404 to any request carrying X-Forwarded-For", () => {
        for (const originCertificate of [true, false]) {
            const site = renderNginxSite(8000, originCertificate);
            const servers = site.split(/^server \{$/m).slice(1);
            assert.equal(servers.length, 2);
            for (const server of servers) {
                const location = /^ {4}location = \/healthz \{\n([\s\S]*?)^ {4}\}$/m.exec(server);
                assert.ok(location, server);
                assert.deepEqual(location[1].split("\n").map((l) => l.trim()).filter(Boolean), [
                    `if ($http_x_forwarded_for != "") {`, "return 404;", "}",
                    `proxy_pass http://127.0.0.1:${FLEET_HEALTH_PORT};`, "proxy_http_version 1.1;", "proxy_connect_timeout 2s;", "proxy_read_timeout 5s;", "access_log off;",
                ]);
                // Everything else still goes to the gateway.
                assert.match(server, /location \/ \{\n\s+proxy_pass http:\/\/127\.0\.0\.1:8000;/);
            }
        }
    });

    it("with nginx installed: the site passes nginx -t (skipped here when nginx is not)", function () {
        if (!onPath("nginx") || !onPath("openssl")) this.skip();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-nginx-"));
        try {
            const cert = path.join(dir, "cert.pem");
            const key = path.join(dir, "key.pem");
            const made = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=test",
                "-keyout", key, "-out", cert, "-days", "1"], { encoding: "utf8" });
            assert.equal(made.status, 0, made.stderr);
            const site = renderNginxSite(8000, true).replaceAll("/etc/nginx/tls/origin.pem", cert).replaceAll("/etc/nginx/tls/origin.key", key)
                .replace(/listen (\[::\]:)?(80|443)( ssl)? default_server;/g, (_m, v6, p, ssl) => (v6 ? "" : `listen 127.0.0.1:${p === "80" ? 18080 : 18443}${ssl ?? ""};`));
            fs.writeFileSync(path.join(dir, "site.conf"), site);
            fs.writeFileSync(path.join(dir, "nginx.conf"), `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n  include ${dir}/site.conf;\n}\n`);
            const checked = spawnSync("nginx", ["-t", "-p", dir, "-c", path.join(dir, "nginx.conf")], { encoding: "utf8" });
            assert.equal(checked.status, 0, `${checked.stdout}${checked.stderr}`);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("the proxy step installs the server (from the catalog) and its unit, reloads systemd, enables it, restarts it only when either changed", () => {
        const script = renderProxyScript(CATALOG);
        const server = renderFleetHealthServer(fleetHealthServices(CATALOG));
        assert.ok(script.includes(`cat > "$tmp" <<'FLEET_HEALTH_EOF'\n${server}FLEET_HEALTH_EOF\n`), "the server script, verbatim, in a quoted heredoc");
        assert.ok(script.includes(`cat > "$tmp" <<'FLEET_HEALTH_UNIT_EOF'\n${renderFleetHealthUnit()}FLEET_HEALTH_UNIT_EOF\n`), "the unit, verbatim");
        assert.ok(script.includes(`if ! cmp -s "$tmp" ${FLEET_HEALTH_SCRIPT}; then`));
        assert.ok(script.includes(`if ! cmp -s "$tmp" /etc/systemd/system/${FLEET_HEALTH_UNIT}; then`));
        const order = ["systemctl daemon-reload", `systemctl enable --now --quiet ${FLEET_HEALTH_UNIT}`,
            `if (( health_changed )); then systemctl restart ${FLEET_HEALTH_UNIT}; fi`, `systemctl is-active --quiet ${FLEET_HEALTH_UNIT}`, "nginx -t -q"];
        const at = order.map((line) => script.indexOf(line));
        assert.ok(at.every((i) => i >= 0), JSON.stringify(at));
        assert.deepEqual([...at].sort((a, b) => a - b), at, "in this order: the health server runs before nginx proxies to it");
        // The server's checks are the catalog's: another gateway port changes the script.
        const moved = { ...CATALOG, services: { ...CATALOG.services, gateway: { ...CATALOG.services.gateway, port: 8001 } } };
        assert.ok(renderProxyScript(moved).includes('"port": 8001') || renderProxyScript(moved).includes('"port":8001'));
    });
});
