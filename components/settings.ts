/**
 * Reads and validates the stack's configuration once, at the start of the program, through
 * the one settings schema (components/settingsSchema.ts: type, default, description,
 * per-stack rules and secret-ness of every setting; `Pulumi.yaml` declares the same, checked
 * by a test). A bad value stops the program before any resource is registered, with an error
 * naming the setting, the value (never a secret's) and the fix.
 */
import * as pulumi from "@pulumi/pulumi";
import { Catalog } from "./catalog";
import { CONFIG_NAMESPACE, ConfigSource } from "./configReaders";
import { SettingError } from "./errors";
import { PlatformSettings } from "./platformSettings";
import { applyServiceOverrides, architectureOf, parseSettings, PRODUCTION_STACK, SettingValues, STACK_BRANCHES } from "./settingsSchema";

export { CONFIG_NAMESPACE } from "./configReaders";
export type { ConfigSource } from "./configReaders";
export { architectureOf, RETIRED_SETTINGS, SETTING_KEYS, STACK_BRANCHES } from "./settingsSchema";
export type { SettingKey } from "./settingsSchema";

/**
 * The stacks committed to this repository. A stack reads another stack's `Pulumi.<stack>.yaml`
 * (production's origin rules route every stack's frontend) only if it is one of these: a
 * developer's local `Pulumi.dev.yaml` in the folder never changes what production deploys.
 */
export const COMMITTED_STACKS: readonly string[] = Object.keys(STACK_BRANCHES);

/** The validated settings the program is built from. */
export interface StackSettings {
    readonly stack: string;
    /** Git branch of the services monorepo this stack deploys. */
    readonly branch: string;
    /** The stack's revision: every service's commit unless `services.<id>.revision` overrides it. */
    readonly revision: string;
    /** The commit each service is deployed at (the stack's revision unless overridden). */
    readonly serviceRevisions: Readonly<Record<string, string>>;
    /** The seed's catalog with this stack's overrides applied and validated. */
    readonly catalog: Catalog;
    readonly instanceType: string;
    /** How many backend hosts the fleet runs (`backendHosts`; production at least 2). */
    readonly backendHosts: number;
    /** CPU architecture implied by the instance type (Graviton families are arm64). */
    readonly architecture: "x86_64" | "arm64";
    readonly rootVolumeSizeGiB: number;
    readonly sshUser: string;
    /** OpenSSH public key installed for `sshUser`. */
    readonly deployPublicKey: string;
    /** The matching private key, always a Pulumi secret. */
    readonly deployPrivateKey: pulumi.Output<string>;
    readonly healthTimeoutSeconds: number;
    /** The network, data tiers, backups, edge and frontend. */
    readonly platform: PlatformSettings;
}

/** Reads all settings; throws {@link SettingError} on the first bad one. */
export function readSettings(source: ConfigSource, stack: string): StackSettings {
    const v = parseSettings(source, stack) as SettingValues;
    const production = stack === PRODUCTION_STACK;
    let applied: ReturnType<typeof applyServiceOverrides>;
    try {
        applied = applyServiceOverrides(v.services, v.revision);
    } catch (error) {
        // A catalog error names the override's path and value: neither may come from a secret.
        if (error instanceof SettingError && source.isSecret("services")) throw new SettingError(`${CONFIG_NAMESPACE}:services`, "[secret]", error.rule, error.fix);
        throw error;
    }
    const { catalog, serviceRevisions } = applied;
    return {
        stack,
        branch: v.branch,
        revision: v.revision,
        serviceRevisions,
        catalog,
        instanceType: v.instanceType,
        backendHosts: v.backendHosts,
        architecture: architectureOf(v.instanceType),
        rootVolumeSizeGiB: v.rootVolumeSizeGiB,
        sshUser: v.sshUser,
        deployPublicKey: v.deployPublicKey.trim(),
        deployPrivateKey: pulumi.secret(v.deployPrivateKey.replace(/\r\n/g, "\n")),
        healthTimeoutSeconds: v.healthTimeoutSeconds,
        platform: {
            network: { vpcCidr: v.vpcCidr, availabilityZoneCount: v.availabilityZoneCount, natGatewayPerZone: v.natGatewayPerZone },
            database: {
                instanceClass: v.databaseInstanceClass,
                storageGiB: v.databaseStorageGiB,
                maxStorageGiB: v.databaseMaxStorageGiB,
                backupRetentionDays: v.databaseBackupRetentionDays,
                multiAz: v.databaseMultiAz,
                deletionProtection: v.databaseDeletionProtection,
            },
            redis: { instanceType: v.redisInstanceType, maxMemoryMb: v.redisMaxMemoryMb, evictionPolicy: v.redisEvictionPolicy },
            search: { instanceType: v.searchInstanceType, volumeSizeGiB: v.searchVolumeSizeGiB, version: v.meilisearchVersion, sha256: v.meilisearchSha256 },
            backups: { preDeployRetentionDays: v.preDeployBackupRetentionDays, githubRepository: v.githubRepository, workflowRepository: v.workflowRepository },
            ci: { createGithubOidcProvider: v.createGithubOidcProvider, githubConnectionArn: v.githubConnectionArn, runnerGithubActorIds: v.runnerGithubActorIds },
            edge: { zoneName: v.zoneName, zoneId: v.cloudflareZoneId, frontendHostname: v.frontendHostname, apiHostname: v.apiHostname, ownsSharedResources: production },
            frontend: { projectName: v.vercelProjectName },
        },
    };
}
