/**
 * The whole platform of one stack (seed section 2): network, the backend fleet behind an
 * Application Load Balancer and its rolling service rollout (host by host), RDS PostgreSQL, the
 * Redis and Meilisearch hosts, the backup bucket, Cloudflare in front and the frontend on
 * Vercel, wired in the order of section 3.2.
 *
 * Two parts. The foundation (network, in-VPC deploy runner, Instance Connect Endpoint, GitHub
 * roles) needs nothing but AWS's APIs; the tiers need the runner (SSH from inside the VPC),
 * Cloudflare, Vercel and the services' sources. A new stack's first deploy creates the
 * foundation alone (tools/firstDeploy.ts); both parts keep the same resource names and parents
 * either way, so the later full deploy finds the foundation in place.
 */
import * as path from "path";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BackendFleet } from "./backendFleet";
import { Backups } from "./backups";
import { Cache } from "./cache";
import { Database } from "./database";
import { Edge } from "./edge";
import { Frontend } from "./frontend";
import { DeployRunner } from "./deployRunner";
import { GithubAccess } from "./githubAccess";
import { InstanceConnect } from "./instanceConnect";
import { LoadBalancer } from "./loadBalancer";
import { Network } from "./network";
import { Search } from "./search";
import { ServiceRollout } from "./serviceRollout";
import { architectureOf, StackSettings } from "./settings";
import { PRODUCTION_STACK } from "./settingsSchema";
import { bundleSources, ServiceSource } from "./sources";
import { assertNoCollisions, readZoneRoutes, ZoneRoute } from "./zoneRoutes";

/** Where the stack files are: the project folder, one up from components/. */
const PROJECT_DIR = path.resolve(__dirname, "..");

/** What the full deploy adds to the foundation. */
export interface PlatformTiers {
    readonly fleet: BackendFleet;
    readonly loadBalancer: LoadBalancer;
    readonly database: Database;
    readonly cache: Cache;
    readonly search: Search;
    readonly backups: Backups;
    readonly edge: Edge;
    readonly frontend: Frontend;
    /** One rollout per host, in ordinal order (`rollouts[0]` rolls host 1). */
    readonly rollouts: ServiceRollout[];
}

export class Platform extends pulumi.ComponentResource {
    public readonly network: Network;
    public readonly ci: GithubAccess;
    public readonly runner: DeployRunner;
    public readonly instanceConnect: InstanceConnect;
    /** Everything else; absent in a first deploy (`sources` undefined). */
    public readonly tiers?: PlatformTiers;

    /**
     * @param settings the validated settings (components/settings.ts)
     * @param sources each service's packed sources (components/sources.ts), packed before any
     *   resource is registered so a bad revision stops the program first; `undefined` builds the
     *   foundation only (a new stack's first deploy, tools/firstDeploy.ts)
     */
    constructor(name: string, settings: StackSettings, sources: Readonly<Record<string, ServiceSource>> | undefined, opts?: pulumi.ComponentResourceOptions) {
        // The other committed stacks' files are input too: validated (components/zoneRoutes.ts)
        // before anything is registered, so a bad value stops the program with its one-line error.
        const routes = sources ? readZoneRoutes(PROJECT_DIR, { stack: settings.stack, edge: settings.platform.edge }) : undefined;
        if (routes) assertNoCollisions(routes);
        super("pakashop:platform:Platform", name, {}, opts);
        const parent = { parent: this };
        const p = settings.platform;

        this.network = new Network(`${name}-network`, { stack: settings.stack, ...p.network }, parent);
        const { vpcId, privateSubnetIds } = this.network;

        // SSH reaches the hosts from inside the VPC only: the deploy runner and the Instance
        // Connect Endpoint, both in private subnets.
        this.runner = new DeployRunner(`${name}-runner`, {
            stack: settings.stack, vpcId, vpcCidr: p.network.vpcCidr, subnetIds: privateSubnetIds,
            workflowRepository: p.backups.workflowRepository, githubConnectionArn: p.ci.githubConnectionArn,
            allowedActorIds: p.ci.runnerGithubActorIds,
            dependsOn: this.network.natGateways,
        }, parent);
        this.instanceConnect = new InstanceConnect(`${name}-instance-connect`, {
            stack: settings.stack, vpcId, vpcCidr: p.network.vpcCidr, subnetId: privateSubnetIds[0],
        }, parent);
        // The GitHub OIDC provider first: the CI roles and the backup role trust it, and IAM
        // refuses a trust policy naming a provider that does not exist (components/githubAccess.ts).
        this.ci = new GithubAccess(`${name}-ci`, {
            stack: settings.stack, githubRepository: p.backups.workflowRepository, createOidcProvider: p.ci.createGithubOidcProvider,
        }, parent);

        if (sources && routes) this.tiers = this.createTiers(name, settings, sources, routes);
        this.registerOutputs({});
    }

    private createTiers(name: string, settings: StackSettings, sources: Readonly<Record<string, ServiceSource>>, routes: ZoneRoute[]): PlatformTiers {
        const parent = { parent: this };
        const p = settings.platform;
        const { vpcId, publicSubnetIds, privateSubnetIds, availabilityZones } = this.network;
        const sshSourceSecurityGroupIds = [this.runner.securityGroupId, this.instanceConnect.securityGroupId];

        // The Origin CA certificate first: the load balancer serves it (imported into ACM), and
        // nginx on every host serves it to the load balancer.
        const edge = new Edge(`${name}-edge`, {
            stack: settings.stack, zoneId: p.edge.zoneId, apiHostname: p.edge.apiHostname, frontendHostname: p.edge.frontendHostname,
            ownsSharedResources: p.edge.ownsSharedResources, routes,
        }, parent);
        const loadBalancer = new LoadBalancer(`${name}-lb`, {
            stack: settings.stack, vpcId, vpcCidr: p.network.vpcCidr, publicSubnetIds,
            certificate: edge.originCertificate, privateKey: edge.originKey,
            // Production's API must not be deleted by a stray destroy; staging's may.
            deletionProtection: settings.stack === PRODUCTION_STACK,
        }, parent);
        const fleet = new BackendFleet(`${name}-backend`, {
            stack: settings.stack,
            vpcId,
            privateSubnetIds,
            availabilityZones,
            hostCount: settings.backendHosts,
            instanceType: settings.instanceType,
            architecture: settings.architecture,
            rootVolumeSizeGiB: settings.rootVolumeSizeGiB,
            sshSourceSecurityGroupIds,
            // HTTPS from the load balancer only: the hosts have no public address at all.
            loadBalancerSecurityGroupId: loadBalancer.securityGroupId,
            deployPublicKey: settings.deployPublicKey,
        }, parent);
        const client = fleet.securityGroupId;
        const ssh = { deployPublicKey: settings.deployPublicKey, sshUser: settings.sshUser, privateKey: settings.deployPrivateKey };
        // Private hosts fetch packages through NAT.
        const provisionAfter = [...this.network.natGateways];

        const database = new Database(`${name}-database`, { stack: settings.stack, vpcId, subnetIds: privateSubnetIds, clientSecurityGroupId: client, backupClientSecurityGroupId: this.runner.securityGroupId, ...p.database }, parent);
        const cache = new Cache(`${name}-cache`, {
            stack: settings.stack, vpcId, subnetId: privateSubnetIds[0], instanceType: p.redis.instanceType, architecture: architectureOf(p.redis.instanceType),
            maxMemoryMb: p.redis.maxMemoryMb, evictionPolicy: p.redis.evictionPolicy, clientSecurityGroupId: client, sshSourceSecurityGroupIds, provisionAfter, ...ssh,
        }, parent);
        const search = new Search(`${name}-search`, {
            stack: settings.stack, vpcId, subnetId: privateSubnetIds[1 % privateSubnetIds.length], instanceType: p.search.instanceType,
            architecture: architectureOf(p.search.instanceType), volumeSizeGiB: p.search.volumeSizeGiB, version: p.search.version, sha256: p.search.sha256,
            clientSecurityGroupId: client, sshSourceSecurityGroupIds, provisionAfter, ...ssh,
        }, parent);
        const backups = new Backups(`${name}-backups`, {
            stack: settings.stack, preDeployRetentionDays: p.backups.preDeployRetentionDays, workflowRepository: p.backups.workflowRepository,
            githubOidcProvider: this.ci.oidcProvider, readOnlyRoleArn: this.ci.readOnlyRoleArn,
        }, parent);
        const frontend = new Frontend(`${name}-frontend`, {
            stack: settings.stack, projectName: p.frontend.projectName, githubRepository: p.backups.githubRepository, branch: settings.branch,
            frontendHostname: p.edge.frontendHostname, ownsProject: p.edge.ownsSharedResources, routes,
        }, parent);

        // The rolling deploy: every host prepares at once (nothing in a prepare waits for another
        // host), then host by host: drain, switch, return. Host n+1's drain waits for host n's
        // return, so at most one host is out of the target group at a time (never fewer than
        // N-1 serving), and a host whose gate fails stops the rollout there with the hosts after
        // it untouched on their previous release.
        const region = aws.getRegionOutput({}, parent).region;
        const sourceBundle = bundleSources(PROJECT_DIR, sources);
        const environment = pulumi.secret(pulumi.all({
            DATABASE_URL: database.url,
            REDIS_URL: cache.url,
            MEILI_HOST: search.url,
            MEILI_MASTER_KEY: search.masterKey,
        }));
        const rollouts: ServiceRollout[] = [];
        // No host leaves the target group before every host's releases are prepared: a prepare
        // that fails on any host stops the deploy before anything a host serves has changed. The
        // later hosts' prepare steps don't exist yet when the first host's drain is declared, so
        // the drains wait on a promise of them, kept once the loop has declared them all.
        let declareEveryPrepare: (steps: pulumi.Resource[]) => void = () => undefined;
        const everyPrepare = new Promise<pulumi.Resource[]>((resolve) => (declareEveryPrepare = resolve));
        fleet.hosts.forEach((host, i) => {
            const ordinal = i + 1;
            const previous = rollouts[i - 1];
            const rollout = new ServiceRollout(`${name}-rollout-${ordinal}`, {
                stack: settings.stack,
                // From the in-VPC runner: the host's private address (it has no other).
                host: host.privateIp,
                hostId: host.instanceId,
                hostKey: host.hostPublicKey,
                sshUser: settings.sshUser,
                privateKey: settings.deployPrivateKey,
                catalog: settings.catalog,
                sources,
                sourceBundle,
                branch: settings.branch,
                healthTimeoutSeconds: settings.healthTimeoutSeconds,
                // Section 3.2, step 1: the first service tier starts once all three are ready.
                infrastructure: [database.instance, cache.ready, search.ready],
                environment,
                originTls: { certificate: edge.originCertificate, key: edge.originKey },
                traffic: {
                    targetGroupArn: loadBalancer.targetGroupArn,
                    region,
                    after: everyPrepare.then((prepares) => [...prepares, ...(previous?.returnStep ? [previous.returnStep] : [])]),
                    fleetSize: settings.backendHosts,
                },
            }, parent);
            rollouts.push(rollout);
            if (rollouts.length === fleet.hosts.length) declareEveryPrepare(rollouts.flatMap((r) => Object.values(r.prepareSteps)));
            // Pulumi's record of the registration the rollout's -return step made: after it, so a
            // host whose gate failed (its -return never ran) gets no attachment either. And after
            // the -retire step, so that on the host's replacement or removal the attachment goes
            // first, then -retire's delete drains the host, then its services stop.
            loadBalancer.attach(`${name}-backend-${ordinal}-tg`, host.instanceId,
                [...(rollout.returnStep ? [rollout.returnStep] : [rollout.switchStep]), ...(rollout.retireStep ? [rollout.retireStep] : [])]);
        });
        // Cloudflare moves to the load balancer once every host is back and healthy in it.
        edge.routeApi({
            originHostname: loadBalancer.dnsName,
            originReady: rollouts.map((r) => r.returnStep ?? r.switchStep),
        });
        return { fleet, loadBalancer, database, cache, search, backups, edge, frontend, rollouts };
    }
}
