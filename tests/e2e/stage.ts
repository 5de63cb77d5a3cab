/**
 * The stage every real-host run needs: booted test hosts on a test network shaped like the
 * stack's (tests/e2e/testNetwork.ts: a private segment standing in for the VPC, with this
 * machine on it in the deploy runner's position, the backend fleet and the data hosts on it, and
 * HAProxy standing in for the Application Load Balancer, configured from the program's target
 * group (tests/e2e/loadBalancerStandin.ts) and the only thing linked to the public side), each
 * host and the load balancer behind a firewall rendered from the program's own security groups
 * (tests/e2e/securityGroups.ts); the fixture monorepo on this machine (the machine running
 * Pulumi; the hosts never get a copy of it); a copy of the project's stack file, which is the
 * release manifest every deploy reads (tools/release.ts edits it, as the deploy workflow does);
 * and a {@link CommandEngine} whose mocks give the program the hosts' instance ids and private
 * addresses. Host keys come the program's own way, from the instances' console output, through
 * a stand-in for EC2's console API (tests/e2e/consoleStandin.ts). The monorepo is also served
 * over HTTP on the private segment, behind a token, as GitHub serves a private repository: the
 * host can reach it but not read it, which the test checks. Used by the end-to-end test and the
 * rollout benchmark.
 */
import { execFileSync } from "child_process";
import { createHash, randomBytes } from "crypto";
import * as http from "http";
import { AddressInfo } from "net";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { meilisearchBinary } from "../../host/data/meilisearch";
import { SERVICES_REPOSITORY_ENV } from "../../components/sources";
import { checkHostDrift } from "../../tools/drift/check";
import { DriftReport } from "../../tools/drift/report";
import { PlannedResource, runOffline, OfflineRun, unwrapSecrets } from "../../tools/offlineRun";
import { ReleaseChange, ReleaseResult, setRevision, SERVICES_KEY } from "../../tools/release";
import { loadStackConfig, REPO_ROOT, StackConfig } from "../../tools/stackConfig";
import { readStackFile } from "../../components/stackFile";
import { CommandEngine, PlannedStep } from "./commandEngine";
import { ConsoleStandin, installConsoleStandin } from "./consoleStandin";
import { createReleaseRepository, ReleaseRepository } from "./fixture";
import { LoadBalancerStandin, startLoadBalancerStandin } from "./loadBalancerStandin";
import { admitRules, LOAD_BALANCER_TYPE, renderRuleset, SECURITY_GROUP_TYPE, securityGroupId } from "./securityGroups";
import { destroyAllTestHosts, ensureRootfs, TestHost } from "./testHost";
import { createNetwork, netnsName } from "./testHostResources";
import { applyRuleset, createPublicSide, createSegment, deleteStageNetwork, PrivateSegment, PUBLIC } from "./testNetwork";

const NS = "pakashop-infra";
const STACK = "staging";
const INSTANCE_TYPE = "aws:ec2/instance:Instance";

/** Per-service revision pins, as in `pakashop-infra:services`. */
export type ServiceRevisions = Record<string, { revision: string }>;

/** A backend host by its ordinal (`backend-1` is the program's `pakashop-<stack>-backend-1`). */
export type BackendRole = `backend-${number}`;
/** The hosts by the role the program gives them. */
export type Role = BackendRole | "redis" | "search";

/** The target group's ARN the mocks give the program (the shape AWS's ARNs have). */
export const TARGET_GROUP_ARN = "arn:aws:elasticloadbalancing:ap-south-1:111111111111:targetgroup/pakashop-staging-backend/0123456789abcdef";

export interface StageOptions {
    /** The stack's health gate, short so failure tests stay quick. @default 20 */
    readonly healthTimeoutSeconds?: number;
    /** Backend hosts to boot and to give the program (`backendHosts`). @default the stack file's */
    readonly backendHosts?: number;
}

/** What a preview of the program from the stack file found. */
export interface Preview {
    readonly run: OfflineRun;
    /** The command steps it would run (none when nothing changed). */
    readonly steps: PlannedStep[];
}

export interface Stage {
    /** The first backend host (`backend-1`). */
    readonly host: TestHost;
    /** Every backend host, `backend-1` first; all on the private segment only. */
    readonly hosts: readonly TestHost[];
    /** HAProxy standing in for the ALB; started from the program's first preview. */
    readonly loadBalancer: LoadBalancerStandin;
    /** The load balancer's namespace (on the segment and the public side). */
    readonly lbNetns: string;
    /** The Redis host: on the private segment only (a private subnet). */
    readonly redisHost: TestHost;
    /** The Meilisearch host, likewise private. */
    readonly searchHost: TestHost;
    /** The stand-in VPC; this machine is on it at `segment.runnerAddress`. */
    readonly segment: PrivateSegment;
    /** The namespace standing in for the internet, linked to the load balancer only (addresses: {@link PUBLIC}). */
    readonly publicNetns: string;
    readonly repo: ReleaseRepository;
    /** The monorepo served like a private repository: reachable from the backend host, token required. */
    readonly privateRemote: PrivateRemote;
    readonly engine: CommandEngine;
    /** The stand-in for EC2's console API the host-key steps call. */
    readonly console: ConsoleStandin;
    /** The project copy whose `Pulumi.staging.yaml` is the release manifest the deploys read. */
    readonly projectDir: string;
    /** The origin certificate the load balancer serves (self-signed: a client's only trust anchor for it), PEM file. */
    readonly originCertificateFile: string;
    /** The instance id each role has now. */
    instanceId(role: Role): string;
    /** The nft ruleset last applied to each host and the load balancer, rendered from the program's security groups. */
    readonly rulesets: Readonly<Record<Role | "loadBalancer", string>>;
    /** The stack outputs of the last successful deploy (`pulumi stack output`), secrets unwrapped. */
    readonly outputs: Record<string, unknown>;
    /**
     * The config `pulumi up` hands the program: the stack file as recorded, plus only the test
     * host's own facts (login user, deploy key, a short health timeout). Never a revision.
     */
    fileConfig(): StackConfig;
    /** Records a release in the stack file with tools/release.ts, as the deploy workflow does. */
    release(change: ReleaseChange): ReleaseResult;
    /** `pulumi up` of the stack file as recorded (no --config). */
    deployFromFile(): Promise<OfflineRun>;
    /**
     * Records `revision` and exactly the pins `services` in the stack file, then deploys it
     * (the deploy workflow's dispatch: bump the manifest, `pulumi up`).
     */
    deploy(revision: string, services?: ServiceRevisions): Promise<OfflineRun>;
    /**
     * What the workflows did before the manifest: `pulumi up --config revision=<revision>`,
     * which changes only the runner's copy of the stack file. The recorded file stays as it is.
     */
    deployWithOverride(revision: string): Promise<OfflineRun>;
    /** `pulumi preview` of the stack file as recorded: runs nothing, says what an up would do. */
    preview(): Promise<Preview>;
    /**
     * The host drift check (tools/drift.ts's check) the way the drift workflow runs it: the
     * stack file as recorded, against backend host `n`'s private address and pinned key from the
     * stack output `backendHosts`, from this machine (the runner's position).
     */
    driftCheck(n?: number): Promise<DriftReport>;
    /** From the next deploy on, backend host `n` (default 1) has a new instance id, as after a re-image. */
    replaceBackendInstance(n?: number): void;
    /** Destroys the hosts, the network and the fixture; safe to call twice. */
    teardown(): Promise<void>;
}

/** Where each role sits on the private segment (`10.216.<index>.<n>`); the runner is `.1`. */
function segmentHostNumber(role: Role): number {
    if (role === "redis") return 11;
    if (role === "search") return 12;
    const n = Number(role.slice("backend-".length));
    return n === 1 ? 10 : 20 + n;
}
/** The load balancer's address on the segment (its nodes' private side). */
const LOAD_BALANCER_HOST_NUMBER = 5;

/** The role of one of the program's instances (or of a resource named after one). */
function roleOf(resourceName: string): Role | undefined {
    if (resourceName.includes("-cache-")) return "redis";
    if (resourceName.includes("-search-")) return "search";
    const backend = /-backend-(\d+)-/.exec(resourceName);
    return backend ? `backend-${Number(backend[1])}` : undefined;
}

/**
 * @param name test host name (also its netns and cgroup); backend host n > 1 is `<name>-<n>`,
 *   the data hosts `<name>-redis` and `<name>-search`, the network `pkst-<name>-vpc`,
 *   `pkst-<name>-lb` and `pkst-<name>-pub`
 * @param index the private segment is 10.216.<index>.0/24; the hosts' veths are numbered from it
 * @param options the health gate (a number is taken as that, for older callers) and the fleet size
 */
export async function prepareStage(name: string, index: number, options: StageOptions | number = {}): Promise<Stage> {
    const { healthTimeoutSeconds = 20, backendHosts } = typeof options === "number" ? { healthTimeoutSeconds: options } : options;
    await destroyAllTestHosts();
    await ensureRootfs();
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-stage-"));
    const hosts: TestHost[] = [];
    const savedPath = process.env.PATH;
    let privateRemote: PrivateRemote | undefined;
    let loadBalancer: LoadBalancerStandin | undefined;
    const cleanUp = async () => {
        process.env.PATH = savedPath;
        await loadBalancer?.stop();
        loadBalancer = undefined;
        await privateRemote?.close();
        privateRemote = undefined;
        for (const host of hosts.splice(0)) await host.destroy();
        await deleteStageNetwork(name);
        fs.rmSync(workDir, { recursive: true, force: true });
    };
    try {
        const segment = await createSegment(name, index);
        const fleetSize = backendHosts ?? 1;
        const backendRoles: BackendRole[] = Array.from({ length: fleetSize }, (_, i) => `backend-${i + 1}` as BackendRole);
        const roles: Role[] = [...backendRoles, "redis", "search"];
        const hostName = (role: Role) => (role === "backend-1" ? name : role.startsWith("backend-") ? `${name}-${role.slice("backend-".length)}` : `${name}-${role}`);
        // The boots overlap; all of them settle before anything is cleaned up.
        const booting = roles.map((role, i) =>
            TestHost.boot({ name: hostName(role), subnetIndex: index + i, segment: segment.attachment(segmentHostNumber(role)) })
                .then((host) => (hosts.push(host), host)));
        const settled = await Promise.allSettled([createReleaseRepository(path.join(workDir, "repo")), ...booting]);
        const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) throw failed.reason;
        const [repo, ...booted] = settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [ReleaseRepository, ...TestHost[]];
        const hostOf = Object.fromEntries(roles.map((role, i) => [role, booted[i]])) as Record<Role, TestHost>;
        const fleet = backendRoles.map((role) => hostOf[role]);
        const [backend] = fleet;
        const { redis: redisHost, search: searchHost } = hostOf;
        // The load balancer's namespace: on the segment (its targets' side) and the public side.
        const lbNetns = netnsName(`${name}-lb`);
        const lbAddress = segment.attachment(LOAD_BALANCER_HOST_NUMBER).address;
        await createNetwork(`${name}-lb`, index + 20, segment.attachment(LOAD_BALANCER_HOST_NUMBER));
        const publicNetns = await createPublicSide(name, lbNetns, segment.cidr);
        // One deploy key for every host, as in the program: every host accepts the first backend's.
        const deployPublicKey = fs.readFileSync(path.join(backend.dir, "id_ed25519.pub"), "utf8");
        for (const other of booted.filter((h) => h !== backend)) fs.appendFileSync(path.join(other.rootfs, "root/.ssh/authorized_keys"), deployPublicKey);
        privateRemote = await servePrivately(repo.path, path.join(workDir, "served.git"), segment.runnerAddress);
        // No download here: the stand-in takes the pinned binary's place, so the provisioning
        // script skips the download and runs everything after it for real.
        const binary = path.join(searchHost.rootfs, meilisearchBinary(MEILISEARCH_VERSION));
        fs.mkdirSync(path.dirname(binary), { recursive: true });
        fs.copyFileSync(path.join(__dirname, "fixture", "meilisearch-standin.py"), binary);
        fs.chmodSync(binary, 0o755);

        // The release manifest: a copy of the project's stack file, edited only by tools/release.ts.
        const projectDir = path.join(workDir, "project");
        fs.mkdirSync(projectDir);
        for (const file of ["Pulumi.yaml", `Pulumi.${STACK}.yaml`]) fs.copyFileSync(path.join(REPO_ROOT, file), path.join(projectDir, file));

        // EC2's console and the target group's API, stood in for: the host-key, drain and return
        // steps run `aws` from PATH on this machine.
        const standinDir = path.join(workDir, "aws");
        const consoleStandin = installConsoleStandin(standinDir);
        process.env.PATH = `${consoleStandin.binDir}:${savedPath ?? "/usr/bin:/bin"}`;
        const generation = Object.fromEntries(roles.map((role) => [role, 0])) as Record<Role, number>;
        const instanceId = (role: Role) => `i-0${createHash("sha256").update(`${name}/${role}/${generation[role]}`).digest("hex").slice(0, 16)}`;
        const publishConsole = (role: Role) => consoleStandin.setConsole(instanceId(role), hostOf[role].hostPublicKey);
        for (const role of roles) publishConsole(role);

        // The names the program asks Cloudflare's Origin CA for (components/edge.ts): the API host
        // and, through the origin rule, the frontend host, whose /api/ paths the smoke check asks.
        const hostnames = readStackFile(projectDir, STACK)?.values ?? {};
        const origin = selfSignedOrigin(workDir, [`${NS}:apiHostname`, `${NS}:frontendHostname`].map((key) => String(hostnames[key])));
        const engine = new CommandEngine(async (args) => {
            switch (args.type) {
                case "tls:index/privateKey:PrivateKey":
                    return args.name.endsWith("-origin-key") ? { id: args.name, state: { ...args.inputs, privateKeyPem: origin.key } } : undefined;
                case "cloudflare:index/originCaCertificate:OriginCaCertificate":
                    return { id: args.name, state: { ...args.inputs, certificate: origin.certificate } };
                case SECURITY_GROUP_TYPE:
                    return { id: securityGroupId(args.name), state: { ...args.inputs } };
                case "aws:lb/targetGroup:TargetGroup":
                    return { id: TARGET_GROUP_ARN, state: { ...args.inputs, arn: TARGET_GROUP_ARN } };
                case LOAD_BALANCER_TYPE:
                    return { id: args.name, state: { ...args.inputs, dnsName: `${args.name}-1234567890.ap-south-1.elb.amazonaws.com`, arn: `arn:aws:elasticloadbalancing:ap-south-1:111111111111:loadbalancer/app/${args.name}/0123456789abcdef` } };
                case INSTANCE_TYPE: {
                    const role = roleOf(args.name);
                    if (!role || !(role in hostOf)) return undefined;
                    // A replaced instance gets a new id, as EC2 would give it.
                    return { id: instanceId(role), state: { ...args.inputs, privateIp: hostOf[role].address, publicIp: "", arn: `arn:aws:ec2:ap-south-1:111111111111:instance/${instanceId(role)}` } };
                }
                default:
                    return undefined;
            }
        });

        const fileConfig = (extra: Record<string, unknown> = {}): StackConfig => {
            const base = loadStackConfig(STACK, {
                [`${NS}:sshUser`]: "root",
                [`${NS}:deployPublicKey`]: deployPublicKey.trim(),
                [`${NS}:healthTimeoutSeconds`]: healthTimeoutSeconds,
                // The fleet's size is the test's choice, as a stack's file would set it.
                ...(backendHosts === undefined ? {} : { [`${NS}:backendHosts`]: backendHosts }),
                ...extra,
            }, projectDir);
            // The test host's real key, as a secret (the stack file only has a ciphertext).
            return { ...base, config: { ...base.config, [`${NS}:deployPrivateKey`]: backend.privateKey }, placeholderSecrets: [] };
        };
        // The sources come from the clone on this machine, as PAKASHOP_SERVICES_REPO gives them.
        const runProgram = (config: StackConfig) => runOffline(config, { hook: engine.hook, servicesRepository: repo.path });

        // The firewall follows the program's security groups: rendered from each run's recorded
        // groups and loaded into every host's namespace and the load balancer's, as AWS applies a
        // changed group at once.
        const rulesets = {} as Record<Role | "loadBalancer", string>;
        const placement = (resource: PlannedResource): string[] => {
            if (resource.type === INSTANCE_TYPE) {
                const role = roleOf(resource.name);
                return role && role in hostOf ? [hostOf[role].address] : [];
            }
            if (resource.type === LOAD_BALANCER_TYPE) return [lbAddress];
            // The deploy runner (the CodeBuild project in the runner group) is this machine.
            if (resource.type === "aws:codebuild/project:Project" && resource.name.endsWith("-runner-project")) return [segment.runnerAddress];
            // The Instance Connect Endpoint and the database have no stand-in here.
            return [];
        };
        const applyFirewall = async (run: OfflineRun) => {
            const instances = run.resources.filter((r) => r.type === INSTANCE_TYPE);
            if (instances.length !== roles.length) throw new Error(`stage: the program declares ${instances.length} instances; the stage booted ${roles.length} hosts (${roles.join(", ")})`);
            for (const instance of instances) {
                const role = roleOf(instance.name);
                if (!role || !(role in hostOf)) throw new Error(`stage: no test host plays instance ${instance.name}`);
                const ruleset = renderRuleset(instance.name, admitRules(run.resources, instance.name, placement));
                if (rulesets[role] !== ruleset) await applyRuleset(netnsName(hostOf[role].name), ruleset);
                rulesets[role] = ruleset;
            }
            const balancers = run.resources.filter((r) => r.type === LOAD_BALANCER_TYPE);
            if (balancers.length !== 1) throw new Error(`stage: the program declares ${balancers.length} load balancers, the stage stands in for one`);
            const ruleset = renderRuleset(balancers[0].name, admitRules(run.resources, balancers[0].name, placement));
            if (rulesets.loadBalancer !== ruleset) await applyRuleset(lbNetns, ruleset);
            rulesets.loadBalancer = ruleset;
        };
        const preview = async (): Promise<Preview> => {
            engine.beginRun("preview");
            const run = await runProgram(fileConfig());
            return { run, steps: engine.plan() };
        };
        // The groups exist before the first deploy reaches a host, as in AWS, where an instance
        // starts inside its groups: render them from a preview of the stack. (The manifest's
        // revision may not be in the fixture yet, and the groups don't depend on the sources:
        // this one preview plans without packing them.) The load balancer, likewise, exists
        // before any target is registered: configured from the same preview.
        engine.beginRun("preview");
        const firstPreview = await runOffline(fileConfig(), { hook: engine.hook });
        await applyFirewall(firstPreview);
        const serverName = (role: BackendRole) => role.replace("backend-", "h");
        loadBalancer = await startLoadBalancerStandin({
            netns: lbNetns,
            listenAddress: PUBLIC.loadBalancerAddress,
            run: firstPreview,
            servers: backendRoles.map((role) => ({ name: serverName(role), address: hostOf[role].address })),
            instances: Object.fromEntries(backendRoles.map((role) => [instanceId(role), serverName(role)])),
            targetGroupArn: TARGET_GROUP_ARN,
            standinDir,
        });
        const balancer = loadBalancer;

        let outputs: Record<string, unknown> = {};
        const up = async (config: StackConfig) => {
            engine.beginRun();
            const run = await runProgram(config);
            outputs = unwrapSecrets(run.outputs) as Record<string, unknown>;
            await applyFirewall(run);
            return run;
        };
        const release = (change: ReleaseChange) => setRevision(projectDir, STACK, change);
        const backendOutput = (n: number) => {
            const entry = ((outputs.backendHosts ?? []) as Record<string, unknown>[])[n - 1];
            if (!entry) throw new Error(`stage: the stack outputs have no backend host ${n}`);
            return entry;
        };
        return {
            host: backend,
            hosts: fleet,
            loadBalancer: balancer,
            lbNetns,
            redisHost,
            searchHost,
            segment,
            publicNetns,
            repo,
            privateRemote,
            engine,
            console: consoleStandin,
            projectDir,
            originCertificateFile: origin.certificateFile,
            instanceId,
            rulesets,
            get outputs() {
                return outputs;
            },
            fileConfig: () => fileConfig(),
            release,
            deployFromFile: () => up(fileConfig()),
            deploy: (revision, services = {}) => {
                release({ revision });
                const pinned = Object.keys((readStackFile(projectDir, STACK)?.values[SERVICES_KEY] ?? {}) as Record<string, unknown>);
                for (const service of pinned.filter((id) => !(id in services))) release({ service, clear: true });
                for (const [service, pin] of Object.entries(services)) release({ service, revision: pin.revision });
                return up(fileConfig());
            },
            deployWithOverride: (revision) => up(fileConfig({ [`${NS}:revision`]: revision })),
            preview,
            // The drift workflow checks the monorepo out too (services-sources): which release each
            // service should run follows from its folder's content at the recorded revision.
            driftCheck: (n = 1) => checkHostDrift(fileConfig(), {
                host: String(backendOutput(n).privateIp), hostKey: String(backendOutput(n).hostKey), user: "root", privateKey: backend.privateKey,
            }, { ...process.env, [SERVICES_REPOSITORY_ENV]: repo.path }),
            replaceBackendInstance: (n = 1) => {
                const role = `backend-${n}` as BackendRole;
                generation[role] += 1;
                publishConsole(role);
                balancer.setInstance(instanceId(role), serverName(role));
            },
            teardown: cleanUp,
        };
    } catch (error) {
        await cleanUp();
        throw error;
    }
}

/** The Meilisearch release the staging stack pins (Pulumi.yaml's default). */
const MEILISEARCH_VERSION = "v1.7.6";

/** A repository served over git's "dumb" HTTP protocol, readable only with a token. */
export interface PrivateRemote {
    /** `http://<gateway>:<port>/pakashop.git` */
    readonly url: string;
    /** The password of HTTP basic authentication (any user name). */
    readonly token: string;
    close(): Promise<void>;
}

/**
 * Serves a bare copy of `repository` on `address` (this machine's address on the private
 * segment, an address of the test's own namespace setup) like GitHub serves a private repository:
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
function selfSignedOrigin(dir: string, names: readonly string[]): { key: string; certificate: string; certificateFile: string } {
    const key = path.join(dir, "origin.key");
    const certificate = path.join(dir, "origin.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", certificate,
        "-days", "2", "-subj", `/CN=${names[0]}`, "-addext", `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}`], { stdio: "ignore" });
    return { key: fs.readFileSync(key, "utf8"), certificate: fs.readFileSync(certificate, "utf8"), certificateFile: certificate };
}
