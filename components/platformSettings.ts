/**
 * The shape of the settings of the tiers around the backend host: network, RDS, Redis,
 * Meilisearch, backups, Cloudflare and Vercel. Their types, defaults, descriptions and
 * production minimums (backups, deletion protection, Multi-AZ) live in the one schema,
 * components/settingsSchema.ts; components/settings.ts fills this shape from it.
 */
import { ConfigSource } from "./configReaders";
import { EDGE_KEYS, parseSettings, PRODUCTION_STACK, SettingValues } from "./settingsSchema";

export { isHostname, PRODUCTION_STACK, REDIS_EVICTION_POLICIES } from "./settingsSchema";

/** Section 4.5: daily backups are kept 30 days. */
export const DAILY_BACKUP_RETENTION_DAYS = 30;

export interface PlatformSettings {
    readonly network: {
        readonly vpcCidr: string;
        readonly availabilityZoneCount: number;
        /** One NAT gateway per zone (survives a zone outage) or one for the VPC (cheaper). */
        readonly natGatewayPerZone: boolean;
    };
    readonly database: {
        readonly instanceClass: string;
        readonly storageGiB: number;
        readonly maxStorageGiB: number;
        readonly backupRetentionDays: number;
        readonly multiAz: boolean;
        readonly deletionProtection: boolean;
    };
    readonly redis: { readonly instanceType: string; readonly maxMemoryMb: number; readonly evictionPolicy: string };
    readonly search: { readonly instanceType: string; readonly volumeSizeGiB: number; readonly version: string; readonly sha256: string };
    readonly backups: {
        readonly preDeployRetentionDays: number;
        /** The services monorepo (the frontend project builds from it). */
        readonly githubRepository: string;
        /** This repository: its workflows assume the AWS roles through OIDC. */
        readonly workflowRepository: string;
    };
    readonly ci: {
        /** Whether this stack creates the account's GitHub OIDC provider (one per account; see components/githubAccess.ts). */
        readonly createGithubOidcProvider: boolean;
        /**
         * The AWS CodeConnections connection to GitHub the in-VPC runner's CodeBuild project
         * authenticates with (created once per account in the console; README, one-time setup).
         */
        readonly githubConnectionArn: string;
        /** GitHub account ids (numbers) whose workflow runs may start a job on the in-VPC runner. */
        readonly runnerGithubActorIds: readonly number[];
    };
    readonly edge: {
        readonly zoneName: string;
        readonly zoneId: string;
        readonly frontendHostname: string;
        readonly apiHostname: string;
        /** Production owns what both stacks share: zone settings, WAF, origin rules, the Vercel project. */
        readonly ownsSharedResources: boolean;
    };
    readonly frontend: { readonly projectName: string };
}

/**
 * The edge settings of `stack`, through the same schema and rules as in its own stack.
 * Exported so another stack's file (components/zoneRoutes.ts) passes exactly the validation it
 * passes in its own stack before production uses its values.
 */
export function readEdge(source: ConfigSource, stack: string, production = stack === PRODUCTION_STACK): PlatformSettings["edge"] {
    const v = parseSettings(source, stack, { production, keys: EDGE_KEYS }) as SettingValues;
    return { zoneName: v.zoneName, zoneId: v.cloudflareZoneId, frontendHostname: v.frontendHostname, apiHostname: v.apiHostname, ownsSharedResources: production };
}
