/**
 * pakashop-infra: one program, two stacks (staging deploys `main`, production deploys
 * `production`). Settings are read and validated first; nothing is registered on bad input.
 */
import * as pulumi from "@pulumi/pulumi";
import { Platform } from "./components/platform";
import { pulumiConfigSource } from "./components/pulumiConfigSource";
import { CONFIG_NAMESPACE, readSettings } from "./components/settings";
import { packServiceSources } from "./components/sources";

const settings = readSettings(pulumiConfigSource(), pulumi.getStack());
// The hosts never fetch sources: this machine packs them from a local clone of the monorepo.
const sources = packServiceSources({
    projectDir: __dirname,
    branch: settings.branch,
    serviceRevisions: settings.serviceRevisions,
    revisionSetting: (id) => (settings.serviceRevisions[id] === settings.revision ? `${CONFIG_NAMESPACE}:revision` : `${CONFIG_NAMESPACE}:services.${id}.revision`),
});
const platform = new Platform(`pakashop-${settings.stack}`, settings, sources);

/** The origin address Cloudflare proxies to. Nothing SSHes to it: port 22 is closed to the internet. */
export const backendPublicIp = platform.backend.publicIp;
export const vpcId = platform.network.vpcId;
export const databaseEndpoint = platform.database.address;
/** For the backup jobs on the in-VPC runner (they connect with TLS verified against the RDS CA); a secret. */
export const databaseUrl = platform.database.url;
export const redisAddress = platform.cache.address;
export const meilisearchUrl = platform.search.url;
export const backupBucket = platform.backups.bucketName;
/** The role backup workflows assume (GitHub OIDC). */
export const backupWriterRoleArn = platform.backups.writerRoleArn;
export const frontendUrl = platform.frontend.url;
/** Roles the GitHub workflows assume through OIDC. */
export const deployRoleArn = platform.ci.deployRoleArn;
export const readOnlyRoleArn = platform.ci.readOnlyRoleArn;
export const apiUrl = `https://${settings.platform.edge.apiHostname}`;
/** Where deploys and the drift check connect, from the in-VPC runner. */
export const backendPrivateIp = platform.backend.privateIp;
/** For an interactive session through the Instance Connect Endpoint (docs/runbook.md). */
export const backendInstanceId = platform.backend.instanceId;
export const redisInstanceId = platform.cache.host.instance.id;
export const searchInstanceId = platform.search.host.instance.id;
export const instanceConnectEndpointId = platform.instanceConnect.endpointId;
/** The CodeBuild project of the in-VPC runner: jobs run on `codebuild-<this>-<run id>-<attempt>`. */
export const runnerProjectName = platform.runner.projectName;
/** The pinned SSH host key, as read from the host's console at its first boot. */
export const backendHostKey = platform.backend.hostPublicKey;
export const branch = settings.branch;
export const serviceRevisions = settings.serviceRevisions;
/** The rollout order of section 3.2, as service ids per wave. */
export const rolloutWaves = platform.rollout.waves;
