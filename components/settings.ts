/**
 * Reads and validates the stack's configuration once, at the start of the program. Every
 * setting is declared in `Pulumi.yaml` (type, description, default); the values come from
 * `Pulumi.<stack>.yaml`. A bad value stops the program before any resource is registered,
 * with an error naming the setting, the value and the fix.
 */
import * as pulumi from "@pulumi/pulumi";
import { Catalog, CATALOG, ServiceSpec } from "./catalog";
import { ConfigSource, CONFIG_NAMESPACE, full, parseJson, readInteger, required } from "./configReaders";
import { SettingError } from "./errors";
import { PLATFORM_SETTING_KEYS, PlatformSettings, readPlatformSettings } from "./platformSettings";
import { validateCatalog } from "./rollout";

export { CONFIG_NAMESPACE } from "./configReaders";
export type { ConfigSource } from "./configReaders";

/** The branch each long-lived stack must deploy (seed section 1: main = staging, production = live). */
export const STACK_BRANCHES: Readonly<Record<string, string>> = {
    staging: "main",
    production: "production",
};

/**
 * The stacks committed to this repository. A stack reads another stack's `Pulumi.<stack>.yaml`
 * (production's origin rules route every stack's frontend) only if it is one of these: a
 * developer's local `Pulumi.dev.yaml` in the folder never changes what production deploys.
 */
export const COMMITTED_STACKS: readonly string[] = Object.keys(STACK_BRANCHES);

/** The settings this program reads; `Pulumi.yaml` declares exactly these. */
export const SETTING_KEYS = [
    "branch",
    "revision",
    "services",
    "instanceType",
    "rootVolumeSizeGiB",
    "sshUser",
    "deployPublicKey",
    "deployPrivateKey",
    "healthTimeoutSeconds",
    ...PLATFORM_SETTING_KEYS,
] as const;
export type SettingKey = (typeof SETTING_KEYS)[number];

/** Fields of `services.<id>` a stack may override. */
const SERVICE_OVERRIDE_FIELDS = ["revision", "port", "tier", "healthPath"] as const;

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

const REVISION = /^[0-9a-f]{40}$/;
const BRANCH = /^(?!-)(?!.*\.\.)(?!.*\/\/)[A-Za-z0-9._/-]{1,100}(?<![./])$/;
const INSTANCE_TYPE = /^([a-z]+)(\d+)([a-z-]*)\.([a-z0-9]+)$/;
const SSH_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const PUBLIC_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( \S.*)?$/;
const PRIVATE_KEY = /^-----BEGIN ((?:OPENSSH |RSA |EC )?PRIVATE KEY)-----\n[\s\S]+\n-----END \1-----\n?$/;
const MIN_ROOT_VOLUME_GIB = 20;
const MAX_ROOT_VOLUME_GIB = 1024;

/** Reads all settings; throws {@link SettingError} on the first bad one. */
export function readSettings(source: ConfigSource, stack: string): StackSettings {
    rejectUnknownKeys(source);
    const branch = readBranch(source, stack);
    const revision = readRevision(source.get("revision"), full("revision"));
    const { catalog, serviceRevisions } = readServices(source, revision);
    const instanceType = readInstanceType(source);
    return {
        stack,
        branch,
        revision,
        serviceRevisions,
        catalog,
        instanceType,
        architecture: architectureOf(instanceType),
        rootVolumeSizeGiB: readInteger(source, "rootVolumeSizeGiB", MIN_ROOT_VOLUME_GIB, MAX_ROOT_VOLUME_GIB,
            "the Debian image, three runtimes and several releases of 19 services need the space"),
        sshUser: readSshUser(source),
        deployPublicKey: readPublicKey(source),
        deployPrivateKey: readPrivateKey(source),
        healthTimeoutSeconds: readInteger(source, "healthTimeoutSeconds", 5, 600,
            "the health gate must give a service time to start but still fail a deploy in bounded time"),
        platform: readPlatformSettings(source, stack),
    };
}

/**
 * Settings this program no longer reads, with what replaced them: a stack file that still sets
 * one gets the reason, not only "unknown setting".
 */
export const RETIRED_SETTINGS: Readonly<Record<string, string>> = {
    deployCidrs: "SSH is admitted only from the stack's in-VPC deploy runner and its EC2 Instance Connect Endpoint (no address outside the VPC reaches port 22)",
};

function rejectUnknownKeys(source: ConfigSource): void {
    const known = new Set<string>(SETTING_KEYS);
    for (const key of source.keys()) {
        const retired = RETIRED_SETTINGS[key];
        if (retired !== undefined) {
            throw new SettingError(full(key), source.isSecret(key) ? "[secret]" : source.get(key), `is no longer a setting: ${retired}`,
                `remove ${full(key)} from Pulumi.<stack>.yaml (README, "Reaching the hosts")`);
        }
        if (!known.has(key)) {
            const guess = SETTING_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
            throw new SettingError(full(key), source.isSecret(key) ? "[secret]" : source.get(key),
                "is not a setting of this program",
                guess ? `did you mean ${full(guess)}?` : `remove it, or use one of: ${SETTING_KEYS.join(", ")}`);
        }
    }
}


function readBranch(source: ConfigSource, stack: string): string {
    const branch = required(source, "branch", `pulumi config set ${full("branch")} <branch> -s ${stack}`);
    if (!BRANCH.test(branch)) {
        throw new SettingError(full("branch"), branch, "is not a valid git branch name", "use a branch name such as main or production");
    }
    const expected = STACK_BRANCHES[stack];
    if (expected !== undefined && branch !== expected) {
        throw new SettingError(full("branch"), branch,
            `stack ${stack} deploys branch ${expected} (seed section 1: main = staging, production = live)`,
            `set ${full("branch")} to ${expected} in Pulumi.${stack}.yaml`);
    }
    return branch;
}

function readRevision(value: string | undefined, setting: string): string {
    if (value === undefined || !REVISION.test(value)) {
        const path = setting.includes(".") ? `--path '${setting}'` : setting;
        throw new SettingError(setting, value,
            "must be a full 40-character lower-case git commit id (branch names and short ids move; a deploy must not)",
            `pulumi config set ${path} "$(git rev-parse <commit>)"`);
    }
    return value;
}


function readServices(source: ConfigSource, revision: string): { catalog: Catalog; serviceRevisions: Record<string, string> } {
    const raw = parseJson(source, "services", "services: { search: { revision: <commit> } }") ?? {};
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        throw new SettingError(full("services"), raw, "must be a map from service id to overrides", "write services: { <id>: { revision: <commit> } }");
    }
    const known = Object.keys(CATALOG.services);
    const services: Record<string, ServiceSpec> = { ...CATALOG.services };
    const serviceRevisions: Record<string, string> = Object.fromEntries(known.map((id) => [id, revision]));
    for (const [id, override] of Object.entries(raw as Record<string, unknown>)) {
        const at = `${full("services")}.${id}`;
        if (!services[id]) {
            throw new SettingError(at, override, `is not a service of the catalog (${known.join(", ")})`, "correct the service id");
        }
        if (typeof override !== "object" || override === null || Array.isArray(override)) {
            throw new SettingError(at, override, "must be a map of overrides", `use fields ${SERVICE_OVERRIDE_FIELDS.join(", ")}`);
        }
        for (const [field, value] of Object.entries(override as Record<string, unknown>)) {
            switch (field) {
                case "revision":
                    serviceRevisions[id] = readRevision(typeof value === "string" ? value : String(value), `${at}.revision`);
                    break;
                case "port":
                    if (typeof value !== "number") {
                        throw new SettingError(`${at}.port`, value, "must be a number", "write the port without quotes");
                    }
                    services[id] = { ...services[id], port: value };
                    break;
                case "tier":
                case "healthPath":
                    if (typeof value !== "string") {
                        throw new SettingError(`${at}.${field}`, value, "must be a string", `write ${field} as text`);
                    }
                    services[id] = { ...services[id], [field]: value };
                    break;
                default:
                    throw new SettingError(`${at}.${field}`, value, "is not a field a stack may override",
                        `use one of ${SERVICE_OVERRIDE_FIELDS.join(", ")}`);
            }
        }
    }
    const catalog: Catalog = { tiers: CATALOG.tiers, services };
    try {
        validateCatalog(catalog);
    } catch (error) {
        // Catalog errors name the catalog path; say which setting it came through.
        if (error instanceof SettingError) {
            throw new SettingError(`${CONFIG_NAMESPACE}:${error.setting}`, error.value, error.rule, error.fix);
        }
        throw error;
    }
    return { catalog, serviceRevisions };
}

function readInstanceType(source: ConfigSource): string {
    const type = required(source, "instanceType", "set an EC2 instance type such as t3.large");
    if (!INSTANCE_TYPE.test(type)) {
        throw new SettingError(full("instanceType"), type,
            "must be an EC2 instance type: family, generation, options, '.', size (e.g. t3.large, m7g.xlarge)",
            "pick a type from the EC2 instance types list");
    }
    return type;
}

/** Graviton families carry a `g` in their options (t4g, m7g, c6gn); they need the arm64 image. */
export function architectureOf(instanceType: string): "x86_64" | "arm64" {
    const match = INSTANCE_TYPE.exec(instanceType);
    return match && match[3].includes("g") ? "arm64" : "x86_64";
}


function readSshUser(source: ConfigSource): string {
    const user = required(source, "sshUser", "set the image's login user (admin on Debian)");
    if (!SSH_USER.test(user)) {
        throw new SettingError(full("sshUser"), user, "must be a Linux user name (lower-case letters, digits, '_', '-')", "use admin, the Debian image's user");
    }
    return user;
}

function readPublicKey(source: ConfigSource): string {
    const key = required(source, "deployPublicKey", `pulumi config set ${full("deployPublicKey")} "$(cat deploy_key.pub)"`);
    if (!PUBLIC_KEY.test(key.trim())) {
        throw new SettingError(full("deployPublicKey"), key, "must be one OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa)",
            "paste the contents of the .pub file made by ssh-keygen -t ed25519");
    }
    return key.trim();
}

function readPrivateKey(source: ConfigSource): pulumi.Output<string> {
    const how = `pulumi config set --secret ${full("deployPrivateKey")} < deploy_key`;
    const key = required(source, "deployPrivateKey", how);
    if (!source.isSecret("deployPrivateKey")) {
        // The value is in a stack file in plain text: say so without repeating it.
        throw new SettingError(full("deployPrivateKey"), "[plain text]", "must be stored encrypted, never in plain text", `remove it from the stack file and run ${how}`);
    }
    if (!PRIVATE_KEY.test(key.replace(/\r\n/g, "\n"))) {
        throw new SettingError(full("deployPrivateKey"), "[secret]", "is not a PEM or OpenSSH private key", how);
    }
    return pulumi.secret(key.replace(/\r\n/g, "\n"));
}
