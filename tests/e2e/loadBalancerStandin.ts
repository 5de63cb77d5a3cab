/**
 * HAProxy (Debian's) standing in for the stack's Application Load Balancer in the end-to-end
 * test, configured from what the program gives AWS: the target group's health check and
 * deregistration delay, the HTTPS listener's port and the certificate it imports into ACM, all
 * read from the recorded inputs of an offline run, never from the program's constants. It runs
 * in a namespace of its own, linked to the private segment (where the targets are) and to the
 * public side (where Cloudflare's edge is), as the ALB's nodes sit in the public subnets.
 *
 * What it reproduces of the ALB, each from AWS's documentation:
 * - TLS ends at the listener; the load balancer connects to each target's 443 over TLS without
 *   checking its certificate ("the load balancer ... does not validate the certificate",
 *   ELB User Guide, "Health checks for your target groups" / target group protocol HTTPS).
 * - Health checks: `<protocol> <path>` every `interval` seconds, `timeout` per check, a target
 *   is taken in after `healthyThreshold` passes in a row and out after `unhealthyThreshold`
 *   failures, and no client request reaches a target that is not healthy.
 * - Round robin between healthy targets (the ALB's default routing algorithm), X-Forwarded-For
 *   added to every proxied request (not to health checks), a failed connection to a target is
 *   an error to the client (the ALB does not retry another target).
 * - Registration and deregistration go through the AWS CLI stand-in (fixture/elbv2-standin.js),
 *   which plays them on HAProxy's runtime API with the ALB's `initial`/`draining` semantics.
 * - Not reproduced: the ALB's fail-open when every target is unhealthy (it then routes to all);
 *   HAProxy answers 503 instead. The tests never rely on either.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { OfflineRun, PlannedResource, unwrapSecrets } from "../../tools/offlineRun";

const TARGET_GROUP_TYPE = "aws:lb/targetGroup:TargetGroup";
const LISTENER_TYPE = "aws:lb/listener:Listener";
const CERTIFICATE_TYPE = "aws:acm/certificate:Certificate";
/** The HAProxy backend holding the targets (one server per backend host). */
const BACKEND = "targets";

/** What the program declared for its target group and listener, as AWS would get it. */
export interface TargetGroupSettings {
    readonly port: number;
    readonly protocol: string;
    readonly listenerPort: number;
    readonly healthCheck: {
        readonly path: string;
        readonly protocol: string;
        readonly matcher: string;
        readonly intervalSeconds: number;
        readonly timeoutSeconds: number;
        readonly healthyThreshold: number;
        readonly unhealthyThreshold: number;
    };
    readonly deregistrationDelaySeconds: number;
    /** The certificate the listener serves (the ACM import's body and key), PEM. */
    readonly certificatePem: string;
    readonly privateKeyPem: string;
}

function only(run: OfflineRun, type: string): PlannedResource {
    const found = run.resources.filter((r) => r.type === type);
    if (found.length !== 1) throw new Error(`load balancer stand-in: expected one ${type} in the run, found ${found.length}`);
    return found[0];
}

/** The target group's, listener's and certificate's recorded inputs. */
export function targetGroupSettingsOf(run: OfflineRun): TargetGroupSettings {
    const group = unwrapSecrets(only(run, TARGET_GROUP_TYPE).inputs) as Record<string, unknown>;
    const listener = unwrapSecrets(only(run, LISTENER_TYPE).inputs) as Record<string, unknown>;
    const certificate = unwrapSecrets(only(run, CERTIFICATE_TYPE).inputs) as Record<string, unknown>;
    const check = (group.healthCheck ?? {}) as Record<string, unknown>;
    const number = (value: unknown, what: string) => {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) throw new Error(`load balancer stand-in: the target group's ${what} is ${JSON.stringify(value)}, not a whole number`);
        return n;
    };
    const text = (value: unknown, what: string) => {
        if (typeof value !== "string" || value === "") throw new Error(`load balancer stand-in: ${what} is ${JSON.stringify(value)}`);
        return value;
    };
    return {
        port: number(group.port, "port"),
        protocol: text(group.protocol, "the target group's protocol"),
        listenerPort: number(listener.port, "listener port"),
        healthCheck: {
            path: text(check.path, "the health check's path"),
            protocol: text(check.protocol, "the health check's protocol"),
            matcher: text(check.matcher, "the health check's matcher"),
            intervalSeconds: number(check.interval, "health check interval"),
            timeoutSeconds: number(check.timeout, "health check timeout"),
            healthyThreshold: number(check.healthyThreshold, "healthy threshold"),
            unhealthyThreshold: number(check.unhealthyThreshold, "unhealthy threshold"),
        },
        deregistrationDelaySeconds: number(group.deregistrationDelay, "deregistration delay"),
        certificatePem: text(certificate.certificateBody, "the imported certificate"),
        privateKeyPem: text(certificate.privateKey, "the imported certificate's key"),
    };
}

/** One target: the HAProxy server name and the host's address on the private segment. */
export interface StandinServer {
    readonly name: string;
    readonly address: string;
}

/** HAProxy's configuration for `settings`, listening on `listenAddress`. */
export function renderHaproxyConfig(settings: TargetGroupSettings, listenAddress: string, servers: readonly StandinServer[], files: { socket: string; pem: string }): string {
    const check = settings.healthCheck;
    if (settings.protocol !== "HTTPS" || check.protocol !== "HTTPS") throw new Error(`load balancer stand-in: only HTTPS targets and checks are stood in for (${settings.protocol}, ${check.protocol})`);
    if (!/^\d{3}$/.test(check.matcher)) throw new Error(`load balancer stand-in: only a single status code matcher is stood in for, not ${check.matcher}`);
    if (!/^\/[A-Za-z0-9._~/-]*$/.test(check.path)) throw new Error(`load balancer stand-in: refusing health check path ${JSON.stringify(check.path)}`);
    return [
        "# Rendered by tests/e2e/loadBalancerStandin.ts from the program's target group and listener.",
        "global",
        `    stats socket ${files.socket} mode 600 level admin`,
        "defaults",
        "    mode http",
        "    option forwardfor",
        "    timeout connect 10s",
        // The ALB's idle timeout (60 s by default and as the program sets it).
        "    timeout client 60s",
        "    timeout server 60s",
        `    timeout check ${check.timeoutSeconds}s`,
        "frontend listener",
        `    bind ${listenAddress}:${settings.listenerPort} ssl crt ${files.pem}`,
        `    default_backend ${BACKEND}`,
        `backend ${BACKEND}`,
        "    balance roundrobin",
        `    option httpchk GET ${check.path}`,
        `    http-check expect status ${check.matcher}`,
        // Every target starts outside the group (maintenance) until the rollout registers it.
        `    default-server check check-ssl ssl verify none inter ${check.intervalSeconds}s rise ${check.healthyThreshold} fall ${check.unhealthyThreshold} disabled`,
        ...servers.map((s) => `    server ${s.name} ${s.address}:${settings.port}`),
        "",
    ].join("\n");
}

/** HAProxy's view of one server. */
export interface ServerState {
    readonly name: string;
    /** Taking requests: in the group (not in maintenance) and passing its checks. */
    readonly serving: boolean;
    /** HAProxy's operational state: 0 down, 1 stopping, 2 up, 3 starting. */
    readonly operational: number;
    /** In maintenance: outside the target group. */
    readonly maintenance: boolean;
}

export interface LoadBalancerStandin {
    readonly settings: TargetGroupSettings;
    /**
     * Maps an instance id to the server of the host playing it. A replaced instance's new id
     * takes the server over: the old id is detached (it keeps its registration state, and never
     * touches HAProxy again).
     */
    setInstance(instanceId: string, serverName: string): void;
    /** Every server's state, by name. */
    servers(): Promise<Record<string, ServerState>>;
    /** A command on HAProxy's runtime API. */
    runtime(command: string): Promise<string>;
    /** Stops HAProxy. */
    stop(): Promise<void>;
}

function runtimeCommand(socket: string, command: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const connection = net.connect(socket);
        let out = "";
        connection.on("data", (d: Buffer) => (out += d));
        connection.on("error", reject);
        connection.on("end", () => resolve(out));
        connection.end(`${command}\n`);
    });
}

/**
 * Starts HAProxy in `netns`, listening on `listenAddress`, and writes the elbv2 half of the AWS
 * CLI stand-in's configuration into `standinDir` (the folder of tests/e2e/consoleStandin.ts,
 * whose `aws` hands `elbv2` calls on).
 */
export async function startLoadBalancerStandin(args: {
    /** The namespace to run in; this machine's own when absent. */
    readonly netns?: string;
    readonly listenAddress: string;
    readonly run: OfflineRun;
    readonly servers: readonly StandinServer[];
    readonly instances: Readonly<Record<string, string>>;
    readonly targetGroupArn: string;
    readonly standinDir: string;
}): Promise<LoadBalancerStandin> {
    const settings = targetGroupSettingsOf(args.run);
    const dir = path.join(args.standinDir, "elbv2");
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const socket = path.join(dir, "admin.sock");
    const pem = path.join(dir, "listener.pem");
    fs.writeFileSync(pem, `${settings.certificatePem.trim()}\n${settings.privateKeyPem.trim()}\n`, { mode: 0o600 });
    const configFile = path.join(dir, "haproxy.cfg");
    fs.writeFileSync(configFile, renderHaproxyConfig(settings, args.listenAddress, args.servers, { socket, pem }));
    const standinConfig = {
        socket, backend: BACKEND, targetGroupArn: args.targetGroupArn, port: settings.port,
        deregistrationDelaySeconds: settings.deregistrationDelaySeconds, servers: { ...args.instances } as Record<string, string>,
        detached: [] as string[],
    };
    const writeStandinConfig = () => fs.writeFileSync(path.join(dir, "config.json"), `${JSON.stringify(standinConfig, null, 2)}\n`);
    writeStandinConfig();
    fs.copyFileSync(path.join(__dirname, "fixture", "elbv2-standin.js"), path.join(args.standinDir, "bin", "elbv2-standin.js"));
    fs.writeFileSync(path.join(args.standinDir, "node-path"), process.execPath);

    const haproxy = ["haproxy", "-f", configFile, "-db"];
    const [command, ...commandArgs] = args.netns ? ["ip", "netns", "exec", args.netns, ...haproxy] : haproxy;
    const child: ChildProcess = spawn(command, commandArgs, { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    child.stdout?.on("data", (d: Buffer) => (log += d));
    child.stderr?.on("data", (d: Buffer) => (log += d));
    const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
    const deadline = Date.now() + 10_000;
    for (;;) {
        if (child.exitCode !== null) throw new Error(`haproxy exited at start (is it installed?):\n${log}`);
        if (fs.existsSync(socket) && (await runtimeCommand(socket, "show info").catch(() => "")).includes("Name: HAProxy")) break;
        if (Date.now() > deadline) {
            child.kill("SIGKILL");
            throw new Error(`haproxy did not open its runtime socket within 10 s:\n${log}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return {
        settings,
        setInstance: (instanceId, serverName) => {
            for (const [id, server] of Object.entries(standinConfig.servers)) {
                if (server === serverName && id !== instanceId && !standinConfig.detached.includes(id)) standinConfig.detached.push(id);
            }
            standinConfig.servers[instanceId] = serverName;
            writeStandinConfig();
        },
        servers: async () => {
            const out = await runtimeCommand(socket, `show servers state ${BACKEND}`);
            const states: Record<string, ServerState> = {};
            for (const line of out.split("\n")) {
                const f = line.trim().split(/\s+/);
                if (f.length < 7 || !/^\d+$/.test(f[0])) continue;
                const operational = Number(f[5]);
                // srv_admin_state bit 0x01 (SRV_ADMF_FMAINT, HAProxy src/server.h): in maintenance, set
                // by the configuration's `disabled` and by the runtime API's `state maint` alike (seen
                // here with HAProxy 2.6: 5 while disabled or in maint, 4 once ready again).
                const maintenance = (Number(f[6]) & 0x01) !== 0;
                states[f[3]] = { name: f[3], operational, maintenance, serving: !maintenance && operational === 2 };
            }
            return states;
        },
        runtime: (command) => runtimeCommand(socket, command),
        stop: async () => {
            if (child.exitCode === null) child.kill("SIGTERM");
            await exited;
        },
    };
}

