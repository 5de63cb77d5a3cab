/**
 * The backend host's health as the load balancer sees it: `GET /healthz` on nginx answers 200
 * only when the gateway and every service it needs answer their own health paths. The target
 * group's health check asks this path (components/targetGroupSettings.ts), so a host whose
 * gateway is up but whose config service is down is taken out of traffic, not only one whose
 * gateway is down.
 *
 * What answers it: a small python3 (standard library only; python3 is on every host for the
 * Python services) HTTP server, `pakashop-health.service`, on 127.0.0.1:{@link FLEET_HEALTH_PORT}
 * behind nginx's `location = /healthz` (host/proxy.ts). Per request it checks every service of
 * {@link fleetHealthServices} concurrently, 2 s each, and answers `200 ok`, or `503` with the
 * failing service ids and nothing else (the path is not secret, but needs to tell nobody more).
 * The list is computed here from the catalog and written into the script, so it changes (and
 * the proxy step re-installs and restarts the server) exactly when the catalog does.
 *
 * Why not point the target group at the gateway's own health path: the gateway answers while
 * the config service it depends on is down (section 3.2: config first), and the load balancer
 * would then send traffic to a host that fails every request needing a flag.
 */
import { Catalog, INFRASTRUCTURE_TIER } from "../../components/catalog";
import { SANDBOX_DIRECTIVES } from "../units/sandbox";

/** The path the load balancer's health check asks every backend host's nginx for. */
export const FLEET_HEALTH_PATH = "/healthz";
/**
 * The loopback port of the aggregator behind nginx's `location = /healthz`. No service of the
 * catalog uses it, and none may: it is in the catalog's reserved ports (components/rollout.ts).
 */
export const FLEET_HEALTH_PORT = 8099;
/** The aggregator's unit. Its name is why no service may have the id `health`. */
export const FLEET_HEALTH_UNIT = "pakashop-health.service";
/** Where the proxy step installs the server (root-owned, read-only to the unit). */
export const FLEET_HEALTH_SCRIPT = "/usr/local/lib/pakashop/fleet-health.py";
/**
 * How long one service may take to answer. The load balancer's own timeout is 4 s
 * (TARGET_GROUP.healthCheck.timeoutSeconds): the checks run concurrently, so the whole answer
 * comes within about 2.5 s.
 */
export const FLEET_HEALTH_CHECK_TIMEOUT_SECONDS = 2;

/** One service the aggregator asks. */
export interface FleetHealthCheck {
    readonly id: string;
    readonly port: number;
    readonly healthPath: string;
}

/**
 * The gateway and every service of every tier the gateway's tier comes after, transitively
 * (section 3.2: today the config service), in rollout order with the gateway last. Services of
 * the gateway's own tier and of later tiers are not needed for the gateway to serve (a core or
 * supporting service down fails only the requests that need it), so they don't take the host
 * out of traffic.
 */
export function fleetHealthServices(catalog: Catalog): FleetHealthCheck[] {
    const gateway = catalog.services["gateway"];
    if (!gateway) throw new Error("fleetHealthServices: the catalog has no gateway service; the load balancer's health check needs one");
    const byId = new Map(catalog.tiers.map((t) => [t.id, t]));
    const before: string[] = [];
    for (let tier = byId.get(gateway.tier); tier && tier.after !== INFRASTRUCTURE_TIER; tier = byId.get(tier.after)) {
        if (before.includes(tier.after)) throw new Error(`fleetHealthServices: tier cycle at ${tier.after}`);
        before.unshift(tier.after);
    }
    const needed = before.flatMap((tierId) => Object.values(catalog.services).filter((s) => s.tier === tierId));
    return [...needed, gateway].map((s) => ({ id: s.id, port: s.port, healthPath: s.healthPath }));
}

/**
 * The server (python3, standard library only). `listenPort` is a parameter only so the unit
 * tests can run it beside anything else on the machine.
 */
export function renderFleetHealthServer(checks: readonly FleetHealthCheck[], listenPort: number = FLEET_HEALTH_PORT): string {
    // A JSON array of strings and integers is a valid Python literal; ids and paths are
    // validated by the catalog (letters, digits, - . _ ~ /), so nothing closes the literal.
    const literal = JSON.stringify(checks.map((c) => ({ id: c.id, port: c.port, path: c.healthPath })));
    return `#!/usr/bin/python3
# pakashop-infra: fleet health. Rendered by pakashop-infra (host/health/fleetHealth.ts); do not edit on the host.
# GET ${FLEET_HEALTH_PATH}: 200 "ok" when every service below answers 2xx within ${FLEET_HEALTH_CHECK_TIMEOUT_SECONDS} s, else 503 with the failing ids.
import concurrent.futures
import http.client
import http.server
import sys
import threading
import urllib.parse

LISTEN = ("127.0.0.1", ${listenPort})
PATH = "${FLEET_HEALTH_PATH}"
TIMEOUT_SECONDS = ${FLEET_HEALTH_CHECK_TIMEOUT_SECONDS}
CHECKS = ${literal}

# One pool for every request: a check stuck past its timeout keeps a worker, not the answer.
POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4 * len(CHECKS))
last_failing = None
last_lock = threading.Lock()


def answers(check):
    """Whether the service answers 2xx. http.client, not urllib: no proxy from the environment, no redirects."""
    connection = http.client.HTTPConnection("127.0.0.1", check["port"], timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", check["path"], headers={"User-Agent": "pakashop-health"})
        return 200 <= connection.getresponse().status < 300
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def failing_checks():
    futures = {POOL.submit(answers, check): check["id"] for check in CHECKS}
    done, _ = concurrent.futures.wait(futures, timeout=TIMEOUT_SECONDS + 0.5)
    return [futures[f] for f in futures if f not in done or not f.result()]


def note(failing):
    """Logs changes only: the load balancer asks every few seconds from every zone."""
    global last_failing
    with last_lock:
        if failing != last_failing:
            print("healthy" if not failing else "failing: " + " ".join(failing), file=sys.stderr, flush=True)
            last_failing = failing


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "pakashop-health"
    sys_version = ""

    def do_GET(self):
        self.answer(with_body=True)

    def do_HEAD(self):
        self.answer(with_body=False)

    def answer(self, with_body):
        if urllib.parse.urlsplit(self.path).path != PATH:
            status, text = 404, "not found\\n"
        else:
            failing = failing_checks()
            note(failing)
            status, text = (200, "ok\\n") if not failing else (503, " ".join(failing) + "\\n")
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


if __name__ == "__main__":
    server = Server(LISTEN, Handler)
    print("listening on %s:%d" % server.server_address[:2], file=sys.stderr, flush=True)
    server.serve_forever()
`;
}

/**
 * The aggregator's unit: a dynamic user (it owns no file), the services' sandbox, loopback
 * only (the address is in the script), restarted whatever made it stop, started at boot.
 */
export function renderFleetHealthUnit(): string {
    return [
        "# Managed by pakashop-infra (Pulumi): the load balancer's health check (host/health/fleetHealth.ts).",
        "[Unit]",
        "Description=Pakashop fleet health (the gateway and the services it needs, for the load balancer)",
        "After=network-online.target",
        "Wants=network-online.target",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=exec",
        "DynamicUser=yes",
        // -I: isolated (no PYTHON* variables, no user site, the script's folder not on the path).
        // A script run as __main__ is never cached as bytecode, so nothing is written.
        `ExecStart=/usr/bin/python3 -I ${FLEET_HEALTH_SCRIPT}`,
        "Restart=always",
        "RestartSec=2s",
        "TimeoutStopSec=10s",
        ...SANDBOX_DIRECTIVES,
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources",
        // CPython without ctypes writes no executable memory.
        "MemoryDenyWriteExecute=yes",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}
