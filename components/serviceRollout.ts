/**
 * The rollout of the 19 services onto a backend host, as `@pulumi/command` steps, in two
 * phases (host/ holds what runs on the host):
 *
 * 1. Prepare (no effect on any running service): per service, a copy of its sources (shipped
 *    from the machine running Pulumi) and a prepare step that unpacks them into a release
 *    folder named by the release's content, with its dependencies from the host's content-keyed
 *    cache, and builds it. All at once, right after the bootstrap; the host shares its cores
 *    among them (host/prepare/prepareScript.ts).
 * 2. Switch: one step per host, after every prepare step and the infrastructure tier. Tier by
 *    tier as the seed's section 3.2 says, it points each changed service at its prepared
 *    release, restarts the tier's changed services together and holds them to a health gate,
 *    rolling a failed one back and leaving later tiers alone (host/switch/switchScript.ts).
 *
 * A release is named by what it is built from (the service folder's git tree and the recipe),
 * so a new monorepo commit that leaves a service's folder alone changes none of that service's
 * inputs: nothing is copied, built or restarted for it. No change at all runs no command.
 *
 * Behind a load balancer (`traffic`), the switch is wrapped in two local steps on the machine
 * running Pulumi (components/scripts/targetGroup.ts): `-drain` takes the host out of the
 * target group and waits until it has drained, `-return` puts it back and waits until the load
 * balancer reports it healthy. Each host's drain waits for the previous host's return
 * (`traffic.after`), so hosts switch one at a time and never fewer than N-1 serve. A switch that
 * fails its gate rolls its host back and fails: its `-return` never runs, the host stays out of
 * the target group on its previous release, and the later hosts are never drained.
 */
import * as pulumi from "@pulumi/pulumi";
import { local, remote } from "@pulumi/command";
import { Catalog, unitName } from "./catalog";
import * as path from "path";
import { HOST_LAYOUT } from "../host/layout";
import { sshConnection } from "./connection";
import { rolloutWaves } from "./rollout";
import { renderBootstrapScript } from "../host/bootstrap";
import { remoteStep, StepSummary } from "./remoteStep";
import { releaseIdOf, renderPrepareScript } from "../host/prepare/prepareScript";
import { renderEnvironmentFile, renderSwitchScript } from "../host/switch/switchScript";
import { renderDestroyScript } from "../host/switch/destroyScript";
import { renderProxyScript } from "../host/proxy";
import { scriptHeader } from "../host/shell";
import { ServiceSource, SourceBundle } from "./sources";
import { renderDrainScript, renderRetireCreateScript, renderRetireScript, renderReturnScript } from "./scripts/targetGroup";
import { TARGET_GROUP } from "./targetGroupSettings";
import { createHash } from "crypto";

/** The switch's first trigger: constant, so the switch is replaced only with its host. */
export const SWITCH_SUMMARY = { step: "switch" } as const;

/** How long the deploy waits for a new host's sshd before giving up. */
export const SSH_WAIT_SECONDS = 600;

/**
 * The bounds of the drain and return steps, from the target group's settings: a deregistered
 * target stays `draining` for the whole deregistration delay, then `unused`
 * (components/targetGroupSettings.ts), so the drain waits the delay plus a minute. A newly
 * registered target is healthy after its first passing check; one whose first check fails is
 * `unhealthy` and then needs `healthyThreshold` passes `intervalSeconds` apart: the return (and
 * the drain's wait for the other hosts) waits that plus two minutes (a gateway still warming up).
 */
export const TRAFFIC_TIMING = {
    drainWaitSeconds: TARGET_GROUP.deregistrationDelaySeconds + 60,
    healthyWaitSeconds: TARGET_GROUP.healthCheck.healthyThreshold * TARGET_GROUP.healthCheck.intervalSeconds + 120,
    /** DescribeTargetHealth is a throttled API; every 2 s per running step is far below its limit. */
    pollSeconds: 2,
} as const;

/** Where a host's traffic comes from: a load balancer's target group, and the host before it. */
export interface TrafficArgs {
    /** ARN of the target group the host is registered in (port {@link TARGET_GROUP}.port). */
    readonly targetGroupArn: pulumi.Input<string>;
    /** The region of the target group (the AWS CLI's `--region`). */
    readonly region: pulumi.Input<string>;
    /**
     * What this host's drain waits for besides its own host's steps: the previous host's
     * `-return` step, so hosts switch one at a time (none for the first host), and every other
     * host's prepare steps. A promise, when they are declared after this rollout.
     */
    readonly after: pulumi.Resource[] | Promise<pulumi.Resource[]>;
    /**
     * How many backend hosts the stack runs: a fleet of one switches in service (out of the
     * group it would serve nobody); in a fleet of two or more, a drain that finds no other host
     * in service refuses (components/scripts/targetGroup.ts).
     */
    readonly fleetSize: number;
}

/** Arguments of {@link ServiceRollout}. */
export interface ServiceRolloutArgs {
    /** The stack name, written to every service's environment as `PAKASHOP_ENVIRONMENT`. */
    readonly stack: string;
    /** Address of the host. */
    readonly host: pulumi.Input<string>;
    /** The host's instance id: when it changes (a replaced host), every step runs again. */
    readonly hostId: pulumi.Input<string>;
    /** The host's pinned SSH host key line. */
    readonly hostKey: pulumi.Input<string>;
    /** SSH user; steps run under `sudo -n` unless it is root. */
    readonly sshUser: string;
    /** Deploy private key (a Pulumi secret). */
    readonly privateKey: pulumi.Input<string>;
    /** @default 22 */
    readonly sshPort?: number;
    /** The catalog (with the stack's overrides applied). */
    readonly catalog: Catalog;
    /** Each service's packed sources at the revision it is deployed at (components/sources.ts). */
    readonly sources: Readonly<Record<string, ServiceSource>>;
    /** The same tarballs side by side in one folder, for the one copy step (`bundleSources`). */
    readonly sourceBundle: SourceBundle;
    /**
     * The stack's branch. Every revision was checked to be on it when the sources were packed;
     * every prepare step shows it to reviewers and to the policy pack.
     */
    readonly branch: string;
    /** Health gate timeout per service. */
    readonly healthTimeoutSeconds: number;
    /**
     * Section 3.2 step 1 (Redis, PostgreSQL, Meilisearch): the first service tier waits for them.
     * @default []
     */
    readonly infrastructure?: pulumi.Resource[];
    /**
     * Endpoints and credentials every service gets in its EnvironmentFile (a secret; it reaches
     * the host on standard input and is written 0600).
     * @default {}
     */
    readonly environment?: pulumi.Input<Record<string, string>>;
    /**
     * The Cloudflare Origin CA certificate and its key (PEM) for nginx; without them nginx
     * serves Debian's snakeoil certificate (fine only where nothing validates it).
     * @default none
     */
    readonly originTls?: { readonly certificate: pulumi.Input<string>; readonly key: pulumi.Input<string> };
    /**
     * The load balancer's target group the host serves in. With it, the switch runs between a
     * `-drain` step (out of the target group, drained) and a `-return` step (back in, healthy);
     * without it, the host switches in place, as a lone host does.
     * @default none
     */
    readonly traffic?: TrafficArgs;
}

export class ServiceRollout extends pulumi.ComponentResource {
    /** Waits for sshd on a new host. */
    public readonly sshReady: local.Command;
    /** Packages, users, folders. */
    public readonly bootstrap: remote.Command;
    /** nginx in front of the gateway. */
    public readonly proxy: remote.Command;
    /** The copy of every service's sources, in one SFTP session. */
    public readonly sourceCopy: remote.CopyToRemote;
    /** One prepare step per service (unpack, dependencies, build), keyed by service id. */
    public readonly prepareSteps: Readonly<Record<string, remote.Command>>;
    /** The host's switch: tier by tier, restart onto the prepared releases, health gate. */
    public readonly switchStep: remote.Command;
    /** With `traffic`: takes the host out of the target group before its switch. */
    public readonly drainStep?: local.Command;
    /** With `traffic`: puts the host back after its switch and waits until it is healthy. */
    public readonly returnStep?: local.Command;
    /**
     * With `traffic`: does nothing on create; its delete (host replaced or removed, stack
     * destroyed) drains the host before the switch's delete stops its services. The target
     * group attachment must depend on it, so that it is deleted first.
     */
    public readonly retireStep?: local.Command;
    /** The release each service runs after this rollout, keyed by service id. */
    public readonly releases: Readonly<Record<string, string>>;
    /** Service ids per wave, in rollout order. */
    public readonly waves: string[][];

    constructor(name: string, args: ServiceRolloutArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:rollout:ServiceRollout", name, {}, opts);
        const sshPort = args.sshPort ?? 22;
        const infrastructure = args.infrastructure ?? [];
        const connection = sshConnection({ host: args.host, port: sshPort, user: args.sshUser, privateKey: args.privateKey, hostKey: args.hostKey });
        type StepExtras = { stdin?: pulumi.Input<string>; deleteScript?: pulumi.Input<string>; summary?: StepSummary; onScriptChange?: "replace" | "update" };
        const step = (stepName: string, script: pulumi.Input<string>, dependsOn: pulumi.Resource[], extra: StepExtras = {}) =>
            remoteStep(stepName, { connection, sshUser: args.sshUser, script, hostId: args.hostId, ...extra }, { parent: this, dependsOn });

        this.sshReady = new local.Command(`${name}-ssh-ready`, {
            create: renderSshWaitScript(),
            interpreter: ["/bin/bash", "-c"],
            environment: { PAKASHOP_HOST: pulumi.output(args.host), PAKASHOP_PORT: String(sshPort) },
            triggers: [args.host, args.hostId],
            addPreviousOutputInEnv: false,
        }, { parent: this });

        this.bootstrap = step(`${name}-bootstrap`, pulumi.output(args.hostId).apply((hostId) => renderBootstrapScript(args.sshUser, hostId)), [this.sshReady]);
        const tlsBundle = args.originTls && pulumi.all([args.originTls.key, args.originTls.certificate]).apply(([key, cert]) => `${key.trim()}\n${cert.trim()}\n`);
        const proxyScript = renderProxyScript(args.catalog, tlsBundle !== undefined);

        this.waves = rolloutWaves(args.catalog).map((wave) => [...wave.serviceIds]);
        // Phase 1, every service at once: its sources, then its release. Nothing here waits for
        // a tier, and nothing here touches a running service.
        // The 19 tarballs go in one copy: a service whose folder did not change ships the same
        // bytes, and the copy runs only when some service's sources changed.
        this.sourceCopy = new remote.CopyToRemote(`${name}-sources`, {
            connection,
            source: args.sourceBundle.archive,
            remotePath: path.posix.dirname(HOST_LAYOUT.incoming),
            triggers: [args.sourceBundle.digest, args.hostId],
        }, { parent: this, dependsOn: [this.bootstrap] });
        const prepares: Record<string, remote.Command> = {};
        const releases: Record<string, string> = {};
        for (const serviceId of this.waves.flat()) {
            const service = args.catalog.services[serviceId];
            const source = args.sources[serviceId];
            if (!source) throw new pulumi.ResourceError(`no packed sources for service ${serviceId}`, this);
            const releaseId = releaseIdOf(service, source.tree);
            releases[serviceId] = releaseId;
            prepares[serviceId] = step(`${name}-${serviceId}-prepare`, renderPrepareScript(service, { releaseId, sha256: source.sha256 }), [this.bootstrap, this.sourceCopy], {
                summary: { service: serviceId, branch: args.branch, release: releaseId, tree: source.tree, sources: source.sha256 },
            });
        }

        // Phase 2, one session for the host: tier after tier, only what changed is restarted.
        // Secret: endpoints and credentials. They reach the host on standard input only, so a
        // change of them re-runs the switch without touching its plain script.
        const environmentFile = pulumi.secret(pulumi.output(args.environment ?? {}).apply((shared) =>
            renderEnvironmentFile({ ...shared, PAKASHOP_ENVIRONMENT: args.stack })));
        const switchScript = renderSwitchScript(args.catalog, releases, { healthTimeoutSeconds: args.healthTimeoutSeconds });
        // With a load balancer: the drain runs exactly when the switch does. The switch runs again
        // when its script (a release) or its standard input (the environment file) changes, so the
        // drain carries a digest of the two. Secret: it hashes credentials.
        // The proxy step (nginx's site, the load balancer's health check) changes what the host
        // serves too: it runs inside the same window, so the digest covers it and its standard
        // input (the origin certificate and key).
        const traffic = args.traffic;
        const switchDigest = traffic && pulumi.secret(pulumi.all([environmentFile, tlsBundle ?? ""]).apply(([environment, tls]) =>
            switchDigestOf([switchScript, proxyScript, tls], environment)));
        const trafficStep = (stepName: "drain" | "return" | "retire", script: string, dependsOn: pulumi.Input<pulumi.Resource[]>, runsAfter: pulumi.Input<unknown>, deleteScript?: string) =>
            new local.Command(`${name}-${stepName}`, {
                create: script,
                delete: deleteScript,
                interpreter: ["/bin/bash", "-c"],
                environment: trafficEnvironment(traffic as TrafficArgs, args.hostId),
                triggers: [{ step: stepName }, runsAfter, args.hostId],
                addPreviousOutputInEnv: false,
            }, { parent: this, dependsOn });
        // Out of traffic as late as possible: once every release is prepared and the previous
        // host is back. Then the proxy and the switch, in the drained window.
        const drainAfter = [this.bootstrap, ...Object.values(prepares), ...infrastructure];
        this.drainStep = traffic && trafficStep("drain", renderDrainScript(),
            Array.isArray(traffic.after) ? [...drainAfter, ...traffic.after] : traffic.after.then((after) => [...drainAfter, ...after]), switchDigest);
        this.proxy = step(`${name}-proxy`, proxyScript, [this.bootstrap, ...(this.drainStep ? [this.drainStep] : [])], { stdin: tlsBundle });
        this.switchStep = step(`${name}-switch`, switchScript,
            [this.bootstrap, ...Object.values(prepares), ...infrastructure, ...(this.drainStep ? [this.drainStep, this.proxy] : [])], {
                stdin: environmentFile,
                deleteScript: pulumi.output(args.hostId).apply((hostId) => renderDestroyScript(hostId)),
                // Its delete removes every service: it must only ever run on destroy or for a
                // replaced host, never for an older copy of the same step (remoteStep.ts). So its
                // triggers are a constant and the host id: nothing else may go in them (a changed
                // trigger is a replacement, whose old copy's delete would then wipe the host).
                summary: SWITCH_SUMMARY,
                onScriptChange: "update",
            });
        // The return follows every drain, not the switch digest: its triggers hold the drain's
        // output, which differs on every run (the drain prints a run token). Else a failed deploy
        // followed by a redeploy of the good revision would drain the host again (the drain's
        // digest changed back) while neither the switch nor the return re-ran (their recorded
        // state is the good revision's, as the engine keeps a failed update's old state), and
        // the host would stay out of the target group.
        this.returnStep = this.drainStep && trafficStep("return", renderReturnScript(), [this.switchStep], this.drainStep.stdout);
        // Replaced with its host only (its triggers are the host id): its delete drains the old host.
        this.retireStep = traffic && trafficStep("retire", renderRetireCreateScript(), [this.switchStep], "host", renderRetireScript());
        this.prepareSteps = prepares;
        this.releases = releases;
        this.registerOutputs({
            waves: this.waves,
            units: this.waves.flat().map(unitName),
            releases,
        });
    }
}

/**
 * What the drain re-runs on: the scripts of the steps in the drained window (the switch, the
 * proxy) and their standard input (the proxy's TLS bundle, the switch's environment file), the
 * inputs whose change runs those steps again. Each part is followed by a NUL.
 */
export function switchDigestOf(scripts: readonly string[], environmentFile: string): string {
    const hash = createHash("sha256");
    for (const part of [...scripts, environmentFile]) hash.update(part).update("\0");
    return hash.digest("hex");
}

/** The drain and return steps' environment (components/scripts/targetGroup.ts): no secret. */
function trafficEnvironment(traffic: TrafficArgs, hostId: pulumi.Input<string>): Record<string, pulumi.Input<string>> {
    return {
        PAKASHOP_TARGET_GROUP_ARN: traffic.targetGroupArn,
        PAKASHOP_INSTANCE_ID: hostId,
        PAKASHOP_REGION: traffic.region,
        PAKASHOP_TARGET_PORT: String(TARGET_GROUP.port),
        PAKASHOP_DRAIN_WAIT_SECONDS: String(TRAFFIC_TIMING.drainWaitSeconds),
        PAKASHOP_HEALTHY_WAIT_SECONDS: String(TRAFFIC_TIMING.healthyWaitSeconds),
        PAKASHOP_POLL_SECONDS: String(TRAFFIC_TIMING.pollSeconds),
        PAKASHOP_FLEET_SIZE: String(traffic.fleetSize),
    };
}

/** Polls the host's SSH port from the machine running Pulumi, bounded by {@link SSH_WAIT_SECONDS}. */
export function renderSshWaitScript(): string {
    return `${scriptHeader("ssh-ready")}
deadline=$((SECONDS + ${SSH_WAIT_SECONDS}))
until (exec 3<>"/dev/tcp/$PAKASHOP_HOST/$PAKASHOP_PORT") 2>/dev/null; do
  ((SECONDS < deadline)) || fail "no SSH on $PAKASHOP_HOST:$PAKASHOP_PORT after ${SSH_WAIT_SECONDS}s"
  sleep 3
done
log "SSH is up on $PAKASHOP_HOST:$PAKASHOP_PORT"
`;
}
