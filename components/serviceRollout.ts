/**
 * The rollout of the 19 services onto a backend host, as `@pulumi/command` remote steps:
 * bootstrap -> per service deploy (fetch, build, switch, health gate), tier after tier as the
 * seed's section 3.2 says, with nginx in front. The order is expressed with `dependsOn` only,
 * and every step re-runs only when the content hash of its script changes.
 */
import * as pulumi from "@pulumi/pulumi";
import { local, remote } from "@pulumi/command";
import { Catalog, unitName } from "./catalog";
import { sshConnection } from "./connection";
import { rolloutWaves, serviceDependencies } from "./rollout";
import { renderBootstrapScript } from "./scripts/bootstrap";
import { remoteStep } from "./remoteStep";
import { renderDeployScript, renderEnvironmentFile, renderRemoveScript } from "./scripts/deployService";
import { renderProxyScript } from "./scripts/proxy";
import { contentHash, scriptHeader } from "./scripts/shell";
import { renderUnit } from "./systemdUnit";

/** How long the deploy waits for a new host's sshd before giving up. */
export const SSH_WAIT_SECONDS = 600;

/** Arguments of {@link ServiceRollout}. */
export interface ServiceRolloutArgs {
    /** The stack name, written to every service's environment as `PAKASHOP_ENVIRONMENT`. */
    readonly stack: string;
    /** Address of the host. */
    readonly host: pulumi.Input<string>;
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
    /** Commit each service is deployed at. */
    readonly serviceRevisions: Readonly<Record<string, string>>;
    /** Git URL of the services monorepo. */
    readonly repositoryUrl: string;
    /** The stack's branch; revisions not on it are refused on the host. */
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
    /** Service ids per wave, in rollout order. */
    public readonly waves: string[][];

    constructor(name: string, args: ServiceRolloutArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:rollout:ServiceRollout", name, {}, opts);
        const sshPort = args.sshPort ?? 22;
        const infrastructure = args.infrastructure ?? [];
        const connection = sshConnection({ host: args.host, port: sshPort, user: args.sshUser, privateKey: args.privateKey, hostKey: args.hostKey });
        const step = (stepName: string, script: pulumi.Input<string>, dependsOn: pulumi.Resource[], extra: { stdin?: pulumi.Input<string>; deleteScript?: pulumi.Input<string> } = {}) =>
            remoteStep(stepName, { connection, sshUser: args.sshUser, script, ...extra }, { parent: this, dependsOn });

        this.sshReady = new local.Command(`${name}-ssh-ready`, {
            create: renderSshWaitScript(),
            interpreter: ["/bin/bash", "-c"],
            environment: { PAKASHOP_HOST: pulumi.output(args.host), PAKASHOP_PORT: String(sshPort) },
            triggers: [args.host],
            addPreviousOutputInEnv: false,
        }, { parent: this });

        this.bootstrap = step(`${name}-bootstrap`, renderBootstrapScript(), [this.sshReady]);
        const gateway = args.catalog.services["gateway"];
        const tlsBundle = args.originTls && pulumi.all([args.originTls.key, args.originTls.certificate]).apply(([key, cert]) => `${key.trim()}\n${cert.trim()}\n`);
        this.proxy = step(`${name}-proxy`, renderProxyScript(gateway ? gateway.port : 8000, tlsBundle !== undefined), [this.bootstrap], { stdin: tlsBundle });

        this.waves = rolloutWaves(args.catalog).map((wave) => [...wave.serviceIds]);
        const steps: Record<string, remote.Command> = {};
        for (const wave of this.waves) {
            for (const serviceId of wave) {
                const unitText = renderUnit(args.catalog, serviceId);
                const revision = args.serviceRevisions[serviceId];
                const environmentFile = pulumi.output(args.environment ?? {}).apply((shared) =>
                    renderEnvironmentFile({ ...shared, PAKASHOP_ENVIRONMENT: args.stack }));
                // The deploy's identity covers everything it installs, the environment included,
                // so the delete of a replaced step can tell it was superseded.
                const deployId = environmentFile.apply((env) =>
                    contentHash(serviceId, revision, unitText, env, String(args.healthTimeoutSeconds)).slice(0, 16));
                const script = deployId.apply((id) => renderDeployScript(args.catalog, serviceId, {
                    revision, unitText, healthTimeoutSeconds: args.healthTimeoutSeconds, deployId: id,
                    source: { repositoryUrl: args.repositoryUrl, branch: args.branch },
                }));
                const dependencies = serviceDependencies(args.catalog, serviceId);
                // Every service of a tier waits for every service of the tier before; the
                // first tier waits for the infrastructure tier instead.
                const after = dependencies.length > 0 ? dependencies.map((id) => steps[id]) : infrastructure;
                steps[serviceId] = step(`${name}-${serviceId}-deploy`, script, [this.bootstrap, ...after], {
                    stdin: environmentFile,
                    deleteScript: deployId.apply((id) => renderRemoveScript(serviceId, id)),
                });
            }
        }
        this.deploySteps = steps;
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
