/**
 * Settings of the tiers around the backend host: network, RDS, Redis, Meilisearch, backups,
 * Cloudflare and Vercel. Secure settings are fixed in code; what may differ per stack is read
 * here, and production's minimums (backups, deletion protection, Multi-AZ) are enforced.
 */
import * as ipaddr from "ipaddr.js";
import { ConfigSource, full, parseJson, readBoolean, readChoice, readInteger, readMatching, required } from "./configReaders";
import { SettingError } from "./errors";

export const PLATFORM_SETTING_KEYS = [
    "vpcCidr",
    "availabilityZoneCount",
    "natGatewayPerZone",
    "databaseInstanceClass",
    "databaseStorageGiB",
    "databaseMaxStorageGiB",
    "databaseBackupRetentionDays",
    "databaseMultiAz",
    "databaseDeletionProtection",
    "redisInstanceType",
    "redisMaxMemoryMb",
    "redisEvictionPolicy",
    "searchInstanceType",
    "searchVolumeSizeGiB",
    "meilisearchVersion",
    "meilisearchSha256",
    "preDeployBackupRetentionDays",
    "githubRepository",
    "workflowRepository",
    "createGithubOidcProvider",
    "githubConnectionArn",
    "runnerGithubActorIds",
    "zoneName",
    "cloudflareZoneId",
    "frontendHostname",
    "apiHostname",
    "vercelProjectName",
] as const;

/** Redis's eviction policies (redis.conf `maxmemory-policy`). */
export const REDIS_EVICTION_POLICIES = [
    "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
] as const;

/** The stack whose minimums are enforced and which owns what both stacks share. */
export const PRODUCTION_STACK = "production";
/** Section 4.5: daily backups are kept 30 days. */
export const DAILY_BACKUP_RETENTION_DAYS = 30;
const PRODUCTION_MIN_BACKUP_DAYS = 30;

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

const INSTANCE_TYPE = /^[a-z]+\d+[a-z-]*\.[a-z0-9]+$/;
const DB_INSTANCE_CLASS = /^db\.[a-z]+\d+[a-z-]*\.[a-z0-9]+$/;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
/** Whether `value` is a lower-case DNS hostname: labels of letters, digits and inner '-', dot-separated. */
export function isHostname(value: string): boolean {
    return DOMAIN.test(value);
}
const GITHUB_CONNECTION_ARN = /^arn:aws:(codeconnections|codestar-connections):[a-z]{2}(-[a-z]+)+-\d:\d{12}:connection\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";

export function readPlatformSettings(source: ConfigSource, stack: string): PlatformSettings {
    const production = stack === PRODUCTION_STACK;
    const ec2Fix = "use an EC2 instance type such as t3.small";
    return {
        network: {
            vpcCidr: readVpcCidr(source),
            availabilityZoneCount: readInteger(source, "availabilityZoneCount", 2, 3, "RDS subnet groups and Multi-AZ need two zones"),
            natGatewayPerZone: readBoolean(source, "natGatewayPerZone"),
        },
        database: readDatabase(source, stack, production),
        redis: {
            instanceType: readMatching(source, "redisInstanceType", INSTANCE_TYPE, "must be an EC2 instance type", ec2Fix),
            maxMemoryMb: readInteger(source, "redisMaxMemoryMb", 64, 1_048_576, "Redis's maxmemory, below the host's memory"),
            evictionPolicy: readChoice(source, "redisEvictionPolicy", REDIS_EVICTION_POLICIES),
        },
        search: {
            instanceType: readMatching(source, "searchInstanceType", INSTANCE_TYPE, "must be an EC2 instance type", ec2Fix),
            volumeSizeGiB: readInteger(source, "searchVolumeSizeGiB", 10, 16_384, "Meilisearch's data volume"),
            version: readMatching(source, "meilisearchVersion", /^v\d+\.\d+\.\d+$/, "must be a pinned release tag like v1.7.6 (never latest)", "set the tag of the release to run"),
            sha256: readMatching(source, "meilisearchSha256", /^[0-9a-f]{64}$/, "must be the 64 lower-case hex digits of the binary's SHA-256",
                "download meilisearch-linux-amd64 of that release and set the output of sha256sum"),
        },
        backups: {
            preDeployRetentionDays: readInteger(source, "preDeployBackupRetentionDays", 7, 3650, "production/ pre-deploy dumps are the restore point of a bad release"),
            githubRepository: readMatching(source, "githubRepository", /^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/, "must be owner/name of the GitHub repository",
                "set e.g. pakashop/pakashop"),
            workflowRepository: readMatching(source, "workflowRepository", /^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/, "must be owner/name of the GitHub repository",
                "set e.g. pakashop/pakashop-infra"),
        },
        ci: {
            createGithubOidcProvider: readBoolean(source, "createGithubOidcProvider"),
            // CodeConnections ARNs: arn:aws:codeconnections:<region>:<account>:connection/<uuid>;
            // connections made before the 2024 rename keep the codestar-connections service name
            // (https://docs.aws.amazon.com/dtconsole/latest/userguide/rename.html).
            githubConnectionArn: readMatching(source, "githubConnectionArn", GITHUB_CONNECTION_ARN,
                "must be the ARN of an AWS CodeConnections connection (arn:aws:codeconnections:<region>:<account>:connection/<id>)",
                "create the GitHub connection once in the console (Developer Tools > Settings > Connections), finish its GitHub handshake, and set its ARN"),
            runnerGithubActorIds: readActorIds(source),
        },
        edge: readEdge(source, stack, production),
        frontend: {
            projectName: readMatching(source, "vercelProjectName", /^[a-z0-9][a-z0-9-]{0,99}$/, "must be a Vercel project name (lower-case letters, digits, '-')",
                "set e.g. pakashop-frontend"),
        },
    };
}

/**
 * `runnerGithubActorIds`: GitHub's numeric account ids (`gh api users/<login> --jq .id`), not
 * logins. Logins can be renamed and then taken by someone else; ids never change. They end up in
 * the runner webhook's regular expression, so only digits pass.
 */
function readActorIds(source: ConfigSource): number[] {
    const setting = full("runnerGithubActorIds");
    const fix = `list the GitHub account ids allowed to run deploy, drift and backup jobs: pulumi config set --path '${setting}[0]' <id> (gh api users/<login> --jq .id)`;
    const raw = parseJson(source, "runnerGithubActorIds", "runnerGithubActorIds: [1234567]");
    if (!Array.isArray(raw) || raw.length === 0) {
        throw new SettingError(setting, raw, "must list at least one GitHub account id", fix);
    }
    return raw.map((value: unknown, index: number) => {
        const text = typeof value === "number" ? String(value) : value;
        // 0 is the committed placeholder: no GitHub account has it, so the runner admits nobody.
        if (typeof text !== "string" || !/^(0|[1-9]\d{0,11})$/.test(text)) {
            throw new SettingError(`${setting}[${index}]`, value, "must be a GitHub account's numeric id (not a login)", fix);
        }
        return Number(text);
    });
}

function readVpcCidr(source: ConfigSource): string {
    const cidr = required(source, "vpcCidr", "set a private /16 such as 10.20.0.0/16");
    let address: ipaddr.IPv4 | ipaddr.IPv6;
    let prefix: number;
    try {
        [address, prefix] = ipaddr.parseCIDR(cidr);
    } catch {
        throw new SettingError(full("vpcCidr"), cidr, "is not a valid CIDR", "write a private range such as 10.20.0.0/16");
    }
    if (address.kind() !== "ipv4" || (address as ipaddr.IPv4).range() !== "private") {
        throw new SettingError(full("vpcCidr"), cidr, "must be a private IPv4 range (10/8, 172.16/12, 192.168/16)", "use e.g. 10.20.0.0/16");
    }
    if (prefix < 16 || prefix > 20) {
        throw new SettingError(full("vpcCidr"), cidr, "must be a /16 to /20 (the subnets are carved as /24 to /28 from it)", "use a /16");
    }
    if (ipaddr.IPv4.networkAddressFromCIDR(cidr).toString() !== address.toString()) {
        throw new SettingError(full("vpcCidr"), cidr, "has host bits set past its prefix length", `write ${ipaddr.IPv4.networkAddressFromCIDR(cidr).toString()}/${prefix}`);
    }
    return cidr;
}

function readDatabase(source: ConfigSource, stack: string, production: boolean): PlatformSettings["database"] {
    const storageGiB = readInteger(source, "databaseStorageGiB", 20, 65_536, "RDS gp3 storage starts at 20 GiB");
    const maxStorageGiB = readInteger(source, "databaseMaxStorageGiB", 20, 65_536, "the ceiling of storage autoscaling");
    if (maxStorageGiB < storageGiB) {
        throw new SettingError(full("databaseMaxStorageGiB"), maxStorageGiB, `must be at least databaseStorageGiB (${storageGiB})`, `set it to ${storageGiB} or more`);
    }
    const backupRetentionDays = readInteger(source, "databaseBackupRetentionDays", 7, 35, "RDS keeps automated backups 1 to 35 days; fewer than 7 leaves no week to notice a bad migration");
    const multiAz = readBoolean(source, "databaseMultiAz");
    const deletionProtection = readBoolean(source, "databaseDeletionProtection");
    if (production) {
        const fix = (key: string, value: string) => `set ${full(key)}: ${value} in Pulumi.${stack}.yaml`;
        if (backupRetentionDays < PRODUCTION_MIN_BACKUP_DAYS) {
            throw new SettingError(full("databaseBackupRetentionDays"), backupRetentionDays, `production keeps automated backups at least ${PRODUCTION_MIN_BACKUP_DAYS} days`, fix("databaseBackupRetentionDays", "30"));
        }
        if (!deletionProtection) {
            throw new SettingError(full("databaseDeletionProtection"), false, "production's database must be protected from deletion", fix("databaseDeletionProtection", "true"));
        }
        if (!multiAz) {
            throw new SettingError(full("databaseMultiAz"), false, "production's database must be Multi-AZ (a standby in a second zone)", fix("databaseMultiAz", "true"));
        }
    }
    return {
        instanceClass: readMatching(source, "databaseInstanceClass", DB_INSTANCE_CLASS, "must be an RDS instance class such as db.t4g.micro", "use an RDS instance class such as db.t4g.micro"),
        storageGiB, maxStorageGiB, backupRetentionDays, multiAz, deletionProtection,
    };
}

/**
 * The edge settings of `stack`. Exported so another stack's file (components/zoneRoutes.ts)
 * passes exactly the validation it passes in its own stack before production uses its values.
 */
export function readEdge(source: ConfigSource, stack: string, production = stack === PRODUCTION_STACK): PlatformSettings["edge"] {
    const zoneName = readMatching(source, "zoneName", DOMAIN, "must be a domain name", "set the Cloudflare zone, e.g. pakashop.store");
    const zoneId = readMatching(source, "cloudflareZoneId", /^[0-9a-f]{32}$/, "must be the zone's 32-character id", "copy the Zone ID from the zone's overview page in Cloudflare");
    const frontendHostname = readHostname(source, "frontendHostname", zoneName, stack, production);
    const apiHostname = readHostname(source, "apiHostname", zoneName, stack, production);
    if (apiHostname === frontendHostname) {
        throw new SettingError(full("apiHostname"), apiHostname, "must differ from frontendHostname (the frontend is served by Vercel)", `use e.g. api.${zoneName}`);
    }
    if (apiHostname === zoneName) {
        throw new SettingError(full("apiHostname"), apiHostname, "must not be the zone apex (the apex is the production frontend)", `use api.${zoneName}`);
    }
    return { zoneName, zoneId, frontendHostname, apiHostname, ownsSharedResources: production };
}

/**
 * A hostname in the zone, covered by Cloudflare's universal certificate (the apex or one label
 * below it). Outside production every hostname carries the stack's name (`staging`,
 * `api-staging`), so two stacks sharing the zone can never claim the same record.
 */
function readHostname(source: ConfigSource, key: string, zoneName: string, stack: string, production: boolean): string {
    const hostname = required(source, key, `set a hostname in ${zoneName}`);
    if (hostname !== zoneName && !hostname.endsWith(`.${zoneName}`)) {
        throw new SettingError(full(key), hostname, `must be in the zone ${zoneName}`, `use a name such as api.${zoneName}`);
    }
    const label = hostname === zoneName ? "" : hostname.slice(0, -(zoneName.length + 1));
    if (label !== "" && !new RegExp(`^${LABEL}$`).test(label)) {
        throw new SettingError(full(key), hostname,
            `must be the apex or one level below it: Cloudflare's universal certificate covers ${zoneName} and *.${zoneName} only`,
            `use ${label.replace(/\./g, "-")}.${zoneName}`);
    }
    if (!production && !(label === stack || label.endsWith(`-${stack}`))) {
        throw new SettingError(full(key), hostname,
            `outside production a hostname carries the stack name (${stack} or <name>-${stack}), so stacks sharing ${zoneName} never collide`,
            `use ${label === "" ? stack : `${label}-${stack}`}.${zoneName}`);
    }
    return hostname;
}
