/**
 * The stage every real-host run needs: booted test hosts, the fixture monorepo on this machine
 * (the machine running Pulumi; the hosts never get a copy of it), and a {@link CommandEngine}
 * whose mocks give the program the hosts' addresses and keys. The monorepo is also served over
 * HTTP on the backend host's network, behind a token, as GitHub serves a private repository:
 * the host can reach it but not read it, which the test checks. Used by the end-to-end test and
 * the rollout benchmark.
 */
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import * as http from "http";
import { AddressInfo } from "net";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { meilisearchBinary } from "../../components/scripts/meilisearch";
import { runOffline, OfflineRun } from "../../tools/offlineRun";
import { loadStackConfig, StackConfig } from "../../tools/stackConfig";
import { CommandEngine } from "./commandEngine";
import { createReleaseRepository, ReleaseRepository } from "./fixture";
import { destroyAllTestHosts, ensureRootfs, TestHost } from "./testHost";
import { netnsName } from "./testHostResources";

const NS = "pakashop-infra";

/** Per-service revision overrides, as in `pakashop-infra:services`. */
export type ServiceRevisions = Record<string, { revision: string }>;

export interface Stage {
    /** The backend host (public: reachable from this machine). */
    readonly host: TestHost;
    /** The Redis host, reachable only from the backend host (as in a private subnet). */
    readonly redisHost: TestHost;
    /** The Meilisearch host, likewise private. */
    readonly searchHost: TestHost;
    /** The data hosts' addresses as the backend host sees them. */
    readonly privateAddresses: { readonly redis: string; readonly search: string };
    readonly repo: ReleaseRepository;
    /** The monorepo served like a private repository: reachable from the backend host, token required. */
    readonly privateRemote: PrivateRemote;
    readonly engine: CommandEngine;
    /** The staging stack's config for the test host at these revisions, with the real key. */
    stackConfig(revision: string, services?: ServiceRevisions): StackConfig;
    /** Runs the program (staging) through the engine: one `pulumi up`. */
    deploy(revision: string, services?: ServiceRevisions): Promise<OfflineRun>;
    /** From the next deploy on, the backend instance has a new id, as after a re-image. */
    replaceBackendInstance(): void;
    /** Destroys the host and the fixture; safe to call twice. */
    teardown(): Promise<void>;
}

/**
 * @param name test host name (also its netns and cgroup)
 * @param subnetIndex the host gets 10.213.<subnetIndex>.2
 * @param healthTimeoutSeconds the stack's health gate, short so failure tests stay quick
 */
export async function prepareStage(name: string, subnetIndex: number, healthTimeoutSeconds = 20): Promise<Stage> {
    await destroyAllTestHosts();
    await ensureRootfs();
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-stage-"));
    const hosts: TestHost[] = [];
    let privateRemote: PrivateRemote | undefined;
    let backendGeneration = 0;
    try {
        const repo = await createReleaseRepository(path.join(workDir, "repo"));
        const booted = await TestHost.boot({ name, subnetIndex });
        hosts.push(booted);
        const redisHost = await TestHost.boot({ name: `${name}-redis`, subnetIndex: subnetIndex + 1 });
        hosts.push(redisHost);
        const searchHost = await TestHost.boot({ name: `${name}-search`, subnetIndex: subnetIndex + 2 });
        hosts.push(searchHost);
        // The data hosts are private: a link to the backend host only, like a private subnet
        // behind it. The deploy reaches them through the backend host as jump host.
        // One deploy key for every host, as in the program: the data hosts accept the backend's.
        const deployPublicKey = fs.readFileSync(path.join(booted.dir, "id_ed25519.pub"), "utf8");
        for (const data of [redisHost, searchHost]) fs.appendFileSync(path.join(data.rootfs, "root/.ssh/authorized_keys"), deployPublicKey);
        const privateAddresses = {
            redis: linkPrivately(booted, redisHost, subnetIndex + 1),
            search: linkPrivately(booted, searchHost, subnetIndex + 2),
        };
        privateRemote = await servePrivately(repo.path, path.join(workDir, "served.git"), booted.gateway);
        // No download here: the stand-in takes the pinned binary's place, so the provisioning
        // script skips the download and runs everything after it for real.
        const binary = path.join(searchHost.rootfs, meilisearchBinary(MEILISEARCH_VERSION));
        fs.mkdirSync(path.dirname(binary), { recursive: true });
        fs.copyFileSync(path.join(__dirname, "fixture", "meilisearch-standin.py"), binary);
        fs.chmodSync(binary, 0o755);

        const byRole = (resourceName: string): TestHost => (resourceName.includes("-cache-") ? redisHost : resourceName.includes("-search-") ? searchHost : booted);
        const addressOf = (host: TestHost) => (host === redisHost ? privateAddresses.redis : host === searchHost ? privateAddresses.search : booted.address);
        const origin = selfSignedOrigin(workDir);
        const engine = new CommandEngine(async (args) => {
            switch (args.type) {
                case "tls:index/privateKey:PrivateKey":
                    if (args.name.endsWith("-origin-key")) return { id: args.name, state: { ...args.inputs, privateKeyPem: origin.key } };
                    // A generated host key is what cloud-init would install: here, the test host's own.
                    return { id: args.name, state: { ...args.inputs, publicKeyOpenssh: `${byRole(args.name).hostPublicKey}\n`, privateKeyOpenssh: "held by the test host" } };
                case "cloudflare:index/originCaCertificate:OriginCaCertificate":
                    return { id: args.name, state: { ...args.inputs, certificate: origin.certificate } };
                case "aws:ec2/eip:Eip":
                case "aws:ec2/instance:Instance": {
                    const address = addressOf(byRole(args.name));
                    // A replaced backend instance gets a new id, as EC2 would give it.
                    const replaced = args.type === "aws:ec2/instance:Instance" && byRole(args.name) === booted && backendGeneration > 0;
                    return { id: replaced ? `${args.name}-${backendGeneration}` : args.name, state: { ...args.inputs, publicIp: address, privateIp: address } };
                }
                default:
                    return undefined;
            }
        });
        const stackConfig = (revision: string, services: ServiceRevisions = {}): StackConfig => {
            const base = loadStackConfig("staging", {
                [`${NS}:revision`]: revision,
                [`${NS}:services`]: services,
                [`${NS}:sshUser`]: "root",
                [`${NS}:deployCidrs`]: [`${booted.gateway}/32`],
                [`${NS}:deployPublicKey`]: fs.readFileSync(path.join(booted.dir, "id_ed25519.pub"), "utf8").trim(),
                [`${NS}:healthTimeoutSeconds`]: healthTimeoutSeconds,
            });
            // The test host's real key, as a secret (the stack file only has a placeholder).
            return { ...base, config: { ...base.config, [`${NS}:deployPrivateKey`]: booted.privateKey }, placeholderSecrets: [] };
        };
        return {
            host: booted,
            redisHost,
            searchHost,
            privateAddresses,
            repo,
            privateRemote: privateRemote as PrivateRemote,
            engine,
            stackConfig,
            // The sources come from the clone on this machine, as PAKASHOP_SERVICES_REPO gives them.
            deploy: (revision, services = {}) => {
                engine.beginRun();
                return runOffline(stackConfig(revision, services), { hook: engine.hook, servicesRepository: repo.path });
            },
            replaceBackendInstance: () => {
                backendGeneration += 1;
            },
            teardown: async () => {
                await privateRemote?.close();
                for (const host of hosts) await host.destroy();
                fs.rmSync(workDir, { recursive: true, force: true });
            },
        };
    } catch (error) {
        await privateRemote?.close();
        for (const host of hosts) await host.destroy();
        fs.rmSync(workDir, { recursive: true, force: true });
        throw error;
    }
}

/** The Meilisearch release the staging stack pins (Pulumi.yaml's default). */
const MEILISEARCH_VERSION = "v1.7.6";

/**
 * A point-to-point link between the backend host and a data host, in their own namespaces:
 * 10.214.<index>.1 on the backend side, .2 on the data host. Returns the data host's address.
 * The link goes when either namespace goes.
 */
function linkPrivately(backend: TestHost, data: TestHost, index: number): string {
    const [a, b] = [`pkst-l${index}a`, `pkst-l${index}b`];
    execFileSync("ip", ["link", "add", a, "netns", netnsName(backend.name), "type", "veth", "peer", "name", b, "netns", netnsName(data.name)]);
    const inside = (host: TestHost, ...args: string[]) => execFileSync("ip", ["netns", "exec", netnsName(host.name), "ip", ...args]);
    inside(backend, "addr", "add", `10.214.${index}.1/30`, "dev", a);
    inside(backend, "link", "set", a, "up");
    inside(data, "addr", "add", `10.214.${index}.2/30`, "dev", b);
    inside(data, "link", "set", b, "up");
    return `10.214.${index}.2`;
}

/** A repository served over git's "dumb" HTTP protocol, readable only with a token. */
export interface PrivateRemote {
    /** `http://<gateway>:<port>/pakashop.git` */
    readonly url: string;
    /** The password of HTTP basic authentication (any user name). */
    readonly token: string;
    close(): Promise<void>;
}

/**
 * Serves a bare copy of `repository` on `address` (this machine's end of the backend host's
 * veth: an address of the test's own namespace setup) like GitHub serves a private repository:
 * 401 without the token, the repository's files with it. Only GET of files inside the copy.
 */
async function servePrivately(repository: string, bareCopy: string, address: string): Promise<PrivateRemote> {
    execFileSync("git", ["clone", "--quiet", "--bare", repository, bareCopy]);
    execFileSync("git", ["-C", bareCopy, "update-server-info"]);
    const token = randomBytes(16).toString("hex");
    const expected = `Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`;
    const server = http.createServer((request, response) => {
        if (request.headers.authorization !== expected) {
            response.writeHead(401, { "WWW-Authenticate": 'Basic realm="pakashop"' }).end("authentication required\n");
            return;
        }
        const relative = decodeURIComponent((request.url ?? "/").split("?")[0]).replace(/^\/pakashop\.git\//, "");
        const file = path.resolve(bareCopy, relative);
        if (request.method !== "GET" || !file.startsWith(`${bareCopy}/`) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
            response.writeHead(404).end();
            return;
        }
        response.writeHead(200);
        fs.createReadStream(file).pipe(response);
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, address, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    return {
        url: `http://${address}:${port}/pakashop.git`,
        token,
        close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
}

/** A real key and certificate for nginx, standing in for Cloudflare's Origin CA. */
function selfSignedOrigin(dir: string): { key: string; certificate: string } {
    const key = path.join(dir, "origin.key");
    const certificate = path.join(dir, "origin.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", certificate,
        "-days", "2", "-subj", "/CN=api-staging.pakashop.store"], { stdio: "ignore" });
    return { key: fs.readFileSync(key, "utf8"), certificate: fs.readFileSync(certificate, "utf8") };
}
