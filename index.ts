/**
 * pakashop-infra: one program, two stacks (staging deploys `main`, production deploys
 * `production`). Settings are read and validated first; nothing is registered on bad input.
 */
import * as pulumi from "@pulumi/pulumi";
import { Platform } from "./components/platform";
import { pulumiConfigSource } from "./components/pulumiConfigSource";
import { CONFIG_NAMESPACE, readSettings } from "./components/settings";
import { markAsRunError, SettingError } from "./components/errors";
import { isFirstDeploy } from "./components/firstDeployMode";
import { packServiceSources } from "./components/sources";

/**
 * Runs `body`; a bad setting it throws leaves the program as a Pulumi RunError: the engine's
 * language host prints a RunError's message without a stack trace ("Always hide the stack for
 * RunErrors", @pulumi/pulumi cmd/run/run.js), where any other error is reported as "failed with
 * an unhandled exception" with its stack. The error stays a SettingError for the offline tools,
 * which print it as a block (tools/cli.ts).
 */
function reportingBadSettings<T>(body: () => T): T {
    try {
        return body();
    } catch (error) {
        if (error instanceof SettingError) markAsRunError(error);
        throw error;
    }
}

const settings = reportingBadSettings(() => readSettings(pulumiConfigSource(), pulumi.getStack()));
const name = `pakashop-${settings.stack}`;

/** A new stack's first deploy: the foundation only (components/firstDeployMode.ts). */
function deployFoundation(): Record<string, unknown> {
    const platform = new Platform(name, settings, undefined);
    return {
        vpcId: platform.network.vpcId,
        runnerProjectName: platform.runner.projectName,
        instanceConnectEndpointId: platform.instanceConnect.endpointId,
        deployRoleArn: platform.ci.deployRoleArn,
        readOnlyRoleArn: platform.ci.readOnlyRoleArn,
        branch: settings.branch,
    };
}

/** Every deploy after the first: the whole platform. */
function deployEverything(): Record<string, unknown> {
    // The hosts never fetch sources: this machine packs them from a local clone of the monorepo.
    const sources = packServiceSources({
        projectDir: __dirname,
        branch: settings.branch,
        serviceRevisions: settings.serviceRevisions,
        revisionSetting: (id) => (settings.serviceRevisions[id] === settings.revision ? `${CONFIG_NAMESPACE}:revision` : `${CONFIG_NAMESPACE}:services.${id}.revision`),
    });
    const platform = new Platform(name, settings, sources);
    const tiers = platform.tiers;
    if (!tiers) throw new Error("the platform was built without its tiers");
    return {
        /** The origin Cloudflare proxies to (the API record's CNAME target). */
        loadBalancerDnsName: tiers.loadBalancer.dnsName,
        /** The backend target group: where a host left out after a failed gate is returned by hand (docs/runbook.md, section 10). */
        backendTargetGroupArn: tiers.loadBalancer.targetGroupArn,
        /**
         * Every backend host, in ordinal order: where deploys, the drift check
         * (`npm run drift -- --hosts`) and engineers' sessions (docs/runbook.md) go, with the
         * pinned SSH host key read from each host's console at its first boot.
         */
        backendHosts: tiers.fleet.hosts.map((host, i) => ({
            name: `backend-${i + 1}`,
            instanceId: host.instanceId,
            privateIp: host.privateIp,
            hostKey: host.hostPublicKey,
            availabilityZone: host.availabilityZone,
        })),
        vpcId: platform.network.vpcId,
        databaseEndpoint: tiers.database.address,
        /** For the backup jobs on the in-VPC runner (they connect with TLS verified against the RDS CA); a secret. */
        databaseUrl: tiers.database.url,
        redisAddress: tiers.cache.address,
        meilisearchUrl: tiers.search.url,
        backupBucket: tiers.backups.bucketName,
        /** The role backup workflows assume (GitHub OIDC). */
        backupWriterRoleArn: tiers.backups.writerRoleArn,
        frontendUrl: tiers.frontend.url,
        /** Roles the GitHub workflows assume through OIDC. */
        deployRoleArn: platform.ci.deployRoleArn,
        readOnlyRoleArn: platform.ci.readOnlyRoleArn,
        apiUrl: `https://${settings.platform.edge.apiHostname}`,
        redisInstanceId: tiers.cache.host.instance.id,
        searchInstanceId: tiers.search.host.instance.id,
        instanceConnectEndpointId: platform.instanceConnect.endpointId,
        /** The CodeBuild project of the in-VPC runner: jobs run on `codebuild-<this>-<run id>-<attempt>`. */
        runnerProjectName: platform.runner.projectName,
        branch: settings.branch,
        serviceRevisions: settings.serviceRevisions,
        /** The rollout order of section 3.2, as service ids per wave (the same on every host). */
        rolloutWaves: tiers.rollouts[0].waves,
        /**
         * The release each service runs on every host: named by its folder's content and build
         * recipe, not by the commit, so the drift check compares what each host runs with what it should.
         */
        serviceReleases: tiers.rollouts[0].releases,
    };
}

// The stack's outputs: the returned object's properties.
export = reportingBadSettings(() => (isFirstDeploy(settings.stack) ? deployFoundation() : deployEverything()));
