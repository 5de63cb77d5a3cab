/**
 * The rollout of the 19 services onto a backend host, as `@pulumi/command` steps:
 * bootstrap -> per service a copy of its sources (shipped from the machine running Pulumi)
 * and a deploy (unpack, build, switch, health gate), tier after tier as the seed's section 3.2
 * says, with nginx in front. The order is expressed with `dependsOn` only; a step re-runs when
 * its script or its host changes (a replaced host gets everything again), or when its secret
 * input changes.
 */
import * as pulumi from "@pulumi/pulumi";
import { local, remote } from "@pulumi/command";
import { Catalog, unitName } from "./catalog";
import { incomingSourceArchive } from "../host/layout";
import { sshConnection } from "./connection";
import { rolloutWaves, serviceDependencies } from "./rollout";
import { renderBootstrapScript } from "../host/bootstrap";
import { remoteStep, StepSummary } from "./remoteStep";
import { renderDeployScript, renderEnvironmentFile, renderRemoveScript } from "../host/deployService";
import { renderProxyScript } from "../host/proxy";
import { contentHash, scriptHeader } from "../host/shell";
import { ServiceSource } from "./sources";
import { renderUnit } from "../host/units/systemdUnit";

/** How long the deploy waits for a new host's sshd before giving up. */
export const SSH_WAIT_SECONDS = 600;

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
    /**
     * The stack's branch. Every revision was checked to be on it when the sources were packed;
     * the deploy steps show it to reviewers and to the policy pack.
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
}

export class ServiceRollout extends pulumi.ComponentResource {
    /** Waits for sshd on a new host. */
    public readonly sshReady: local.Command;
    /** Packages, users, folders. */
    public readonly bootstrap: remote.Command;
    /** nginx in front of the gateway. */
    public readonly proxy: remote.Command;
    /** One deploy step per service, keyed by service id. */
    public readonly deploySteps: Readonly<Record<string, remote.Command>>;
    /** One copy of the sources per service, keyed by service id. */
    public readonly sourceCopies: Readonly<Record<string, remote.CopyToRemote>>;
    /** Service ids per wave, in rollout order. */
    public readonly waves: string[][];

    constructor(name: string, args: ServiceRolloutArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:rollout:ServiceRollout", name, {}, opts);
        const sshPort = args.sshPort ?? 22;
        const infrastructure = args.infrastructure ?? [];
        const connection = sshConnection({ host: args.host, port: sshPort, user: args.sshUser, privateKey: args.privateKey, hostKey: args.hostKey });
        type StepExtras = { stdin?: pulumi.Input<string>; deleteScript?: pulumi.Input<string>; summary?: StepSummary };
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
        const gateway = args.catalog.services["gateway"];
        const tlsBundle = args.originTls && pulumi.all([args.originTls.key, args.originTls.certificate]).apply(([key, cert]) => `${key.trim()}\n${cert.trim()}\n`);
        this.proxy = step(`${name}-proxy`, renderProxyScript(gateway ? gateway.port : 8000, tlsBundle !== undefined), [this.bootstrap], { stdin: tlsBundle });

        this.waves = rolloutWaves(args.catalog).map((wave) => [...wave.serviceIds]);
        // Secret: endpoints and credentials. It reaches the host on standard input only, so a
        // change of it re-runs the deploys (an update) without touching their plain scripts.
        const environmentFile = pulumi.secret(pulumi.output(args.environment ?? {}).apply((shared) =>
            renderEnvironmentFile({ ...shared, PAKASHOP_ENVIRONMENT: args.stack })));
        const steps: Record<string, remote.Command> = {};
        const copies: Record<string, remote.CopyToRemote> = {};
        for (const wave of this.waves) {
            for (const serviceId of wave) {
                const service = args.catalog.services[serviceId];
                const source = args.sources[serviceId];
                if (!source) throw new pulumi.ResourceError(`no packed sources for service ${serviceId}`, this);
                const unitText = renderUnit(args.catalog, serviceId);
                // The deploy's identity: a hash of its whole script (everything it installs but
                // the secret environment), so any change that replaces the step gives a new id,
                // and the script with the id in it stays plain text a reviewer can read.
                const render = (deployId: string) => renderDeployScript(args.catalog, serviceId, {
                    revision: source.revision, unitText, healthTimeoutSeconds: args.healthTimeoutSeconds, deployId, source: { sha256: source.sha256 },
                });
                const deployId = contentHash(render("")).slice(0, 16);
                const script = render(deployId);
                // Sources go ahead of the tier order: copying changes nothing that runs.
                copies[serviceId] = new remote.CopyToRemote(`${name}-${serviceId}-source`, {
                    connection,
                    source: source.asset,
                    remotePath: incomingSourceArchive(serviceId),
                    triggers: [source.revision, source.sha256, args.hostId],
                }, { parent: this, dependsOn: [this.bootstrap] });
                const dependencies = serviceDependencies(args.catalog, serviceId);
                // Every service of a tier waits for every service of the tier before; the
                // first tier waits for the infrastructure tier instead.
                const after = dependencies.length > 0 ? dependencies.map((id) => steps[id]) : infrastructure;
                steps[serviceId] = step(`${name}-${serviceId}-deploy`, script, [this.bootstrap, copies[serviceId], ...after], {
                    stdin: environmentFile,
                    deleteScript: pulumi.output(args.hostId).apply((hostId) => renderRemoveScript(serviceId, deployId, hostId)),
                    summary: { service: serviceId, unit: unitName(serviceId), port: service.port, branch: args.branch, revision: source.revision, sources: source.sha256 },
                });
            }
        }
        this.deploySteps = steps;
        this.sourceCopies = copies;
        this.registerOutputs({
            waves: this.waves,
            units: Object.keys(steps).map(unitName),
        });
    }
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
