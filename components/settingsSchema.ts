/**
 * The one schema of the program's settings (zod 4): each setting's type, default, description,
 * per-stack constraints and secret-ness, and the strict parsing of its raw value. Everything
 * else is derived from it: `Pulumi.yaml`'s `config:` block and README's settings table are
 * checked against it by tests/settingsSchema.spec.ts, and components/settings.ts builds
 * {@link StackSettings} from what it returns. A bad value becomes a {@link SettingError} naming
 * the setting, the value (`[secret]` for a secret), why, and the fix.
 *
 * Raw values are what Pulumi hands the program: strings (JSON text for lists and maps). Each
 * setting's zod schema parses that string, so "integers are integers" is decided on the text
 * as written (`0x400`, `1e3`, `12.0`, ` 12` are refused), not on what `Number()` makes of it.
 *
 * Decisions written down here (README, Configuration, says the same):
 * - *Test stacks* are stacks named `test`, `e2e`, or `test-<name>` / `e2e-<name>`. Only they may
 *   use a `file://` URL in any setting; no committed stack is one.
 * - *Offline placeholders*: the offline tools (tools/stackConfig.ts) replace encrypted values by
 *   placeholders they register with {@link registerOfflinePlaceholder}; a run whose secrets are
 *   such placeholders can deploy nothing. Only in such a run does production accept the
 *   all-zero `meilisearchSha256` the committed file holds (`npm run plan -- --stack production`
 *   in CI). A real `pulumi up`/`preview` decrypts the real secrets, so the same file is refused
 *   there until the real checksum is set. `runnerGithubActorIds: [0]` stays accepted everywhere:
 *   0 is no GitHub account, so the runner admits nobody (fail-safe, not a weakness).
 * - *Architecture*: the image is picked from the instance type: a `g` in the options after the
 *   generation (t4g, m7g, c6gn) means Graviton (arm64), anything else x86_64. Families where
 *   that rule is wrong or no Debian image runs are refused: `a1` (Graviton 1, arm64 without the
 *   `g`) and `mac*` (macOS hosts only).
 * - *Encrypted settings*: only declared-secret settings (`secret: true`) may be stored encrypted.
 *   Any other setting is used as a plain value and would end up in plain text in plans, state
 *   and resources, so storing it with `--secret` is refused (issue 11). Errors about a secret
 *   setting never show its value or anything derived from it (components/errors.ts,
 *   `secretAwareError`).
 * - *Namespaces*: a stack file may set only keys of the project's namespace or a provider's
 *   ({@link PROVIDER_NAMESPACES}); any other key (or one without a namespace) is read by nothing
 *   and is refused.
 * - *Redis memory*: `redisMaxMemoryMb` may use at most 75% of the Redis instance's memory (the
 *   rest is for the OS and the fork of an AOF rewrite); the instance type must be one whose
 *   memory the table below knows.
 */
import { domainToUnicode } from "url";
import * as ipaddr from "ipaddr.js";
import { z } from "zod";
import { Catalog, CATALOG, ServiceSpec } from "./catalog";
import { CONFIG_NAMESPACE, ConfigSource, full } from "./configReaders";
import { secretAwareError, SettingError } from "./errors";
import { validateCatalog } from "./rollout";
import { KeyFormatError, KeyIdentity, parsePrivateKey, parsePublicKeyLine } from "./sshKeys";
import { VERIFICATION_DEFAULTS, verificationSchema } from "./verificationSettings";

/** The branch each long-lived stack must deploy (seed section 1: main = staging, production = live). */
export const STACK_BRANCHES: Readonly<Record<string, string>> = { staging: "main", production: "production" };
/** The stack whose minimums are enforced and which owns what both stacks share. */
export const PRODUCTION_STACK = "production";
/** Production runs at least this many backend hosts (issue 13: losing a host or a zone must not take Pakashop down). */
export const PRODUCTION_MIN_BACKEND_HOSTS = 2;
/** Most backend hosts a stack may run: each is one more host-by-host step of every deploy. */
export const MAX_BACKEND_HOSTS = 12;
/** Production keeps automated database backups at least this many days. */
export const PRODUCTION_MIN_BACKUP_DAYS = 30;
/** Redis's eviction policies (redis.conf `maxmemory-policy`). */
export const REDIS_EVICTION_POLICIES = [
    "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
] as const;
/** Fields of `services.<id>` a stack may override. */
export const SERVICE_OVERRIDE_FIELDS = ["revision", "port", "tier", "healthPath"] as const;
/** Stack names that count as test stacks (see the module comment). */
export const TEST_STACK = /^(test|e2e)(-[a-z0-9-]+)?$/;

/** What a setting's value is, as `Pulumi.yaml` declares it (`map` has no Pulumi type). */
export type SettingKind = "string" | "integer" | "boolean" | "array" | "map";

/** Everything a rule may depend on besides the value. */
export interface ParseContext {
    readonly stack: string;
    readonly production: boolean;
    readonly testStack: boolean;
    /** Whether this run's secrets are offline placeholders (it can deploy nothing). */
    readonly offline: boolean;
}

interface RuleFailure { readonly why: string; readonly fix?: string }
/** A rule: returns why the value is refused (and maybe a fix of its own), or nothing. */
type Rule<T> = (value: T, ctx: ParseContext) => RuleFailure | string | undefined;

export interface SettingDefinition {
    readonly kind: SettingKind;
    readonly description: string;
    /** The default, as written in a stack file; none means required. */
    readonly default?: unknown;
    /** Declared secret: must be stored encrypted, and its value is never shown. */
    readonly secret?: boolean;
    /** The fix a message gives when a rule has none of its own. */
    readonly fix: string;
    /** The zod schema of the raw (string) value, giving the typed value. */
    readonly schema: (ctx: ParseContext) => z.ZodType<unknown, string>;
    /** For Pulumi.yaml: the type of array items. */
    readonly items?: "integer" | "string";
}

// ---- building blocks ---------------------------------------------------------------------

/** Runs `rules` in order and reports the first that fails, as a zod issue carrying the fix. */
function rules<T>(ctx: ParseContext, fix: string, list: Rule<T>[]) {
    return (value: T, zctx: z.RefinementCtx) => {
        for (const rule of list) {
            const failure = rule(value, ctx);
            if (failure === undefined) continue;
            const { why, fix: own } = typeof failure === "string" ? { why: failure, fix: undefined } : failure;
            zctx.addIssue({ code: "custom", message: why, params: { fix: own ?? fix } });
            return;
        }
    };
}

/** A string setting: generic URL rules first, then `list`. */
const text = (fix: string, ...list: Rule<string>[]) => (ctx: ParseContext) =>
    z.string().superRefine(rules<string>(ctx, fix, [noUrlCredentials, noFileUrl, ...list]));

const DECIMAL = /^(0|[1-9][0-9]*)$/;
/** An integer setting: written as plain decimal digits, within [min, max]. */
const integer = (min: number, max: number, why: string, ...list: Rule<number>[]) => (ctx: ParseContext) => {
    const fix = `set a whole number from ${min} to ${max}, written as plain digits`;
    return z.string()
        .superRefine(rules<string>(ctx, fix, [
            (v) => (v.trim() !== v ? "must be an integer without surrounding spaces" : undefined),
            (v) => (/^0[xob]/i.test(v) ? "must be a decimal integer, not hexadecimal, octal or binary" : undefined),
            (v) => (/^[0-9.]+e/i.test(v) ? "must be an integer written out, not in exponent notation" : undefined),
            (v) => (/^-?[0-9]+\.[0-9]*$/.test(v) ? "must be an integer, without a decimal point" : undefined),
            (v) => (/^0[0-9]/.test(v) ? "must be an integer without leading zeros" : undefined),
            (v) => (!DECIMAL.test(v) ? "must be a non-negative integer written in decimal digits" : undefined),
            (v) => (Number(v) < min || Number(v) > max ? `must be from ${min} to ${max} (${why})` : undefined),
        ]))
        .transform(Number)
        .superRefine(rules<number>(ctx, fix, list));
};

const boolean = () => (ctx: ParseContext) => z.string()
    .superRefine(rules<string>(ctx, "write true or false without quotes", [(v) => (v === "true" || v === "false" ? undefined : "must be true or false")]))
    .transform((v) => v === "true");

const choice = <T extends string>(choices: readonly T[]) => text(`pick one of ${choices.join(", ")}`,
    (v) => ((choices as readonly string[]).includes(v) ? undefined : `must be one of ${choices.join(", ")}`));

/** A structured (JSON) setting, checked by `schema` after parsing. */
const structured = <T>(example: string, schema: (ctx: ParseContext) => z.ZodType<T, unknown>) => (ctx: ParseContext) => z.string()
    .superRefine(rules<string>(ctx, `write it as YAML in the stack file, e.g. ${example}`, [(v) => {
        try {
            JSON.parse(v);
            return undefined;
        } catch {
            return "is not valid structured config";
        }
    }]))
    .transform((v) => JSON.parse(v) as unknown)
    .pipe(schema(ctx));

// ---- generic rules -----------------------------------------------------------------------

const URL_PATTERN = /\b([a-z][a-z0-9+.-]*):\/\/([^\s/?#]*)/i;
/** Credentials inside a URL (`https://user:token@host`) are refused in every setting. */
const noUrlCredentials: Rule<string> = (v) => (URL_PATTERN.exec(v)?.[2].includes("@")
    ? { why: "holds credentials inside a URL (user or token before '@'); a setting is printed in plans and logs", fix: "remove the credentials from the URL; give a token to the tool that needs it through its own secret" }
    : undefined);
const noFileUrl: Rule<string> = (v, ctx) => (!ctx.testStack && /\bfile:\/\//i.test(v)
    ? { why: `is a file:// URL, allowed only in test stacks (named test, e2e, test-<name> or e2e-<name>), not in stack ${ctx.stack}`, fix: "use the https:// address of the resource" }
    : undefined);

/** What a URL value shows in an error: the credentials replaced. */
export function redactUrlCredentials(value: string): string {
    return value.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, "$1[credentials]@");
}

/** A hostname: lower-case ASCII labels, no trailing dot; each way to get it wrong has its message. */
const hostnameRules: Rule<string>[] = [
    (v) => (v.endsWith(".") ? { why: "must not end with a dot (write the name without the root's trailing '.')", fix: `write ${v.replace(/\.+$/, "")}` } : undefined),
    (v) => (/[^\x00-\x7f]/.test(v) ? { why: "must be ASCII (an internationalized name goes in its xn-- form)", fix: "write the name's punycode (xn--) form" } : undefined),
    (v) => (v !== v.toLowerCase() ? { why: "must be lower case (Cloudflare and Vercel store names in lower case; rules compare exactly)", fix: `write ${v.toLowerCase()}` } : undefined),
    (v) => (/[^a-z0-9.-]/.test(v) ? "may hold only lower-case letters, digits, '-' and '.' (it ends up in Cloudflare rule expressions)" : undefined),
    (v) => (v.split(".").length < 2 ? "must be a domain name with at least two labels" : undefined),
    (v) => (v.split(".").some((label) => !LABEL.test(label)) ? "every label must be 1 to 63 letters, digits or inner '-'" : undefined),
    (v) => (v.length > 253 ? "must be at most 253 characters" : undefined),
    // An `xn--` label must be valid punycode (RFC 3492); node's domainToUnicode gives "" for one
    // that isn't, e.g. `xn--api-staging`.
    (v) => (v.split(".").some((label) => label.startsWith("xn--") && domainToUnicode(label) === "")
        ? { why: "has an xn-- label that is not valid punycode", fix: "write the name's real punycode form (e.g. from new URL('http://<name>').hostname)" } : undefined),
];
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Whether `value` is a lower-case DNS hostname: labels of letters, digits and inner '-', dot-separated. */
export function isHostname(value: string): boolean {
    return hostnameRules.every((rule) => rule(value, { stack: "", production: false, testStack: false, offline: false }) === undefined) && /\.[a-z]{2,63}$/.test(value);
}

const INSTANCE_TYPE = /^([a-z]+)(\d+)([a-z-]*)\.([a-z0-9]+)$/;
/** Graviton families carry a `g` in their options (t4g, m7g, c6gn); they need the arm64 image. */
export function architectureOf(instanceType: string): "x86_64" | "arm64" {
    const match = INSTANCE_TYPE.exec(instanceType);
    return match && match[3].includes("g") ? "arm64" : "x86_64";
}
const instanceTypeRules: Rule<string>[] = [
    (v) => (!INSTANCE_TYPE.test(v) ? "must be an EC2 instance type: family, generation, options, '.', size (e.g. t3.large, m7g.xlarge)" : undefined),
    (v) => (/^a1\./.test(v) ? { why: "a1 is Graviton 1: arm64, but without the 'g' the program reads the architecture from, so it would get the x86_64 image", fix: "use a Graviton 2+ type such as t4g.large or m6g.large" } : undefined),
    (v) => (/^mac\d/.test(v) ? { why: "mac instances run macOS on dedicated hosts only; there is no Debian image for them", fix: "use a Linux type such as t3.large or m6i.large" } : undefined),
];

// ---- instance memory ---------------------------------------------------------------------

/**
 * Memory in GiB of the instance types the Redis host may use. Sources: AWS, "Amazon EC2 instance
 * types: specifications" (https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html for
 * t3/t4g/m6i/m6g/m7g, .../mo.html for r6i/r6g, .../co.html for c6i): burstable types as listed;
 * otherwise memory = vCPUs x GiB per vCPU (m: 4, r: 8, c: 2), with medium = 1 vCPU (Graviton
 * only), large = 2 and <n>xlarge = 4n vCPUs, and each family's largest size.
 */
const BURSTABLE_GIB: Readonly<Record<string, number>> = { nano: 0.5, micro: 1, small: 2, medium: 4, large: 8, xlarge: 16, "2xlarge": 32 };
const FAMILIES: Readonly<Record<string, { readonly gibPerVcpu: number; readonly sizes: readonly string[] }>> = {
    m6i: { gibPerVcpu: 4, sizes: ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"] },
    m6g: { gibPerVcpu: 4, sizes: ["medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"] },
    m7g: { gibPerVcpu: 4, sizes: ["medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"] },
    r6i: { gibPerVcpu: 8, sizes: ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"] },
    r6g: { gibPerVcpu: 8, sizes: ["medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"] },
    c6i: { gibPerVcpu: 2, sizes: ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"] },
};
/** Memory of an instance type in MiB, or undefined when the table does not know it. */
export function instanceMemoryMiB(instanceType: string): number | undefined {
    const [family, size] = instanceType.split(".");
    // Own properties only: `t3.constructor` is no size.
    if (family === "t3" || family === "t4g") return Object.hasOwn(BURSTABLE_GIB, size) ? BURSTABLE_GIB[size] * 1024 : undefined;
    const spec = Object.hasOwn(FAMILIES, family) ? FAMILIES[family] : undefined;
    if (!spec || !spec.sizes.includes(size)) return undefined;
    const vcpus = size === "medium" ? 1 : size === "large" ? 2 : size === "xlarge" ? 4 : 4 * Number(size.replace("xlarge", ""));
    return vcpus * spec.gibPerVcpu * 1024;
}
/** Share of the Redis host's memory `maxmemory` may take. */
export const REDIS_MEMORY_SHARE = 0.75;

// ---- structured settings ------------------------------------------------------------------

const REVISION = /^[0-9a-f]{40}$/;
const revisionRule: Rule<string> = (v) => (REVISION.test(v) ? undefined
    : "must be a full 40-character lower-case git commit id (branch names and short ids move; a deploy must not)");
const isPrototypeName = (key: string) => key === "__proto__" || key in Object.prototype;

interface ServiceOverride { revision?: string; port?: number; tier?: string; healthPath?: string }

/** `services`: a map from catalog service id to overrides. */
function servicesSchema(ctx: ParseContext) {
    const known = Object.keys(CATALOG.services);
    return z.unknown().superRefine((raw, zctx) => {
        const fail = (path: (string | number)[], value: unknown, why: string, fix: string) =>
            zctx.addIssue({ code: "custom", message: why, path, params: { fix, value } });
        if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
            return fail([], raw, "must be a map from service id to overrides", "write services: { <id>: { revision: <commit> } }");
        }
        for (const id of Object.keys(raw)) {
            const override = (raw as Record<string, unknown>)[id];
            if (isPrototypeName(id)) return fail([id], id, "is an object-prototype name, not a service id", "remove it; use a service id of the catalog");
            if (!Object.prototype.hasOwnProperty.call(CATALOG.services, id)) {
                return fail([id], override, `is not a service of the catalog (${known.join(", ")})`, "correct the service id");
            }
            if (typeof override !== "object" || override === null || Array.isArray(override)) {
                return fail([id], override, "must be a map of overrides", `use fields ${SERVICE_OVERRIDE_FIELDS.join(", ")}`);
            }
            for (const field of Object.keys(override)) {
                const value = (override as Record<string, unknown>)[field];
                const at = [id, field];
                if (isPrototypeName(field)) return fail(at, field, "is an object-prototype name, not an override field", `use one of ${SERVICE_OVERRIDE_FIELDS.join(", ")}`);
                if (!(SERVICE_OVERRIDE_FIELDS as readonly string[]).includes(field)) {
                    return fail(at, value, "is not a field a stack may override", `use one of ${SERVICE_OVERRIDE_FIELDS.join(", ")}`);
                }
                if (field === "revision" && (typeof value !== "string" || revisionRule(value, ctx) !== undefined)) {
                    return fail(at, value, revisionRule(String(value), ctx) as string, `pulumi config set --path '${full("services")}.${id}.revision' "$(git rev-parse <commit>)"`);
                }
                if (field === "port" && (typeof value !== "number" || !Number.isInteger(value))) {
                    return fail(at, value, "must be an integer port number", "write the port as plain digits without quotes");
                }
                if ((field === "tier" || field === "healthPath") && typeof value !== "string") {
                    return fail(at, value, "must be a string", `write ${field} as text`);
                }
                if (typeof value === "string") {
                    for (const rule of [noUrlCredentials, noFileUrl]) {
                        const failure = rule(value, ctx);
                        if (failure && typeof failure !== "string") return fail(at, redactUrlCredentials(value), failure.why, failure.fix ?? "");
                    }
                }
            }
        }
    }).transform((raw) => raw as Record<string, ServiceOverride>);
}

/** `runnerGithubActorIds`: GitHub's numeric account ids; 0 is the committed placeholder (admits nobody). */
function actorIdsSchema() {
    const fix = `list the GitHub account ids allowed to run deploy, drift and backup jobs: pulumi config set --path '${full("runnerGithubActorIds")}[0]' <id> (gh api users/<login> --jq .id)`;
    return z.unknown().superRefine((raw, zctx) => {
        if (!Array.isArray(raw) || raw.length === 0) {
            zctx.addIssue({ code: "custom", message: "must list at least one GitHub account id", params: { fix, value: raw } });
            return;
        }
        raw.forEach((value: unknown, index: number) => {
            // Logins can be renamed and taken by someone else; ids never change. Only integers
            // pass (they end up in the runner webhook's regular expression).
            if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
                zctx.addIssue({ code: "custom", message: "must be a GitHub account's numeric id (an integer, not a login or text)", path: [index], params: { fix, value } });
            }
        });
    }).transform((raw) => raw as number[]);
}

// ---- the settings --------------------------------------------------------------------------

const ec2Fix = (example: string) => `use an EC2 instance type such as ${example}`;
const GITHUB_REPOSITORY = /^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/;
// CodeConnections ARNs: arn:aws:codeconnections:<region>:<account>:connection/<uuid>; connections
// made before the 2024 rename keep the codestar-connections service name
// (https://docs.aws.amazon.com/dtconsole/latest/userguide/rename.html).
const GITHUB_CONNECTION_ARN = /^arn:aws:(codeconnections|codestar-connections):[a-z]{2}(-[a-z]+)+-\d:\d{12}:connection\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const matching = (pattern: RegExp, why: string): Rule<string> => (v) => (pattern.test(v) ? undefined : why);
const ZERO_SHA256 = "0".repeat(64);

/** Every setting, in `Pulumi.yaml`'s order. */
/** An integer setting from `min` to `max` (`why` says what the range protects). */
function integerSetting(defaultValue: number, min: number, max: number, description: string, why: string) {
    return { kind: "integer", default: defaultValue, description, fix: `set a value from ${min} to ${max}`, schema: integer(min, max, why) } as const;
}

/** An owner/name GitHub repository setting with its default. */
function githubRepositorySetting(defaultValue: string, description: string) {
    const fix = `set e.g. ${defaultValue}`;
    return {
        kind: "string", default: defaultValue, description, fix,
        schema: text(fix, matching(GITHUB_REPOSITORY, "must be owner/name of the GitHub repository")),
    } as const;
}

/** A boolean that production must set true (`why` says what it protects). */
function trueInProduction(key: string, why: string) {
    return (ctx: ParseContext) => boolean()(ctx).superRefine(rules<boolean>(ctx, "", [(v) => (ctx.production && !v
        ? { why, fix: `set ${full(key)}: true in Pulumi.${ctx.stack}.yaml` } : undefined)]));
}

export const SETTINGS = {
    branch: {
        kind: "string", default: "main",
        description: "Git branch of the services monorepo this stack deploys. staging must be main, production must be production (seed section 1).",
        fix: "use a branch name such as main or production",
        schema: text("use a branch name such as main or production",
            matching(/^(?!-)(?!.*\.\.)(?!.*\/\/)[A-Za-z0-9._/-]{1,100}(?<![./])$/, "is not a valid git branch name"),
            (v, ctx) => {
                const expected = Object.hasOwn(STACK_BRANCHES, ctx.stack) ? STACK_BRANCHES[ctx.stack] : undefined;
                return expected !== undefined && v !== expected
                    ? { why: `stack ${ctx.stack} deploys branch ${expected} (seed section 1: main = staging, production = live)`, fix: `set ${full("branch")} to ${expected} in Pulumi.${ctx.stack}.yaml` }
                    : undefined;
            }),
    },
    revision: {
        kind: "string",
        description: "Full 40-character commit id of the services monorepo, on `branch`, that every service is deployed at. Required, no default: the stack file is the release manifest, and each release records it with npm run release -- --stack <stack> --revision <commit> (the deploy workflow does it on dispatch).",
        fix: `pulumi config set ${full("revision")} "$(git rev-parse <commit>)"`,
        schema: text(`pulumi config set ${full("revision")} "$(git rev-parse <commit>)"`, revisionRule),
    },
    services: {
        kind: "map", default: {},
        description: "Per-service overrides keyed by service id: revision (deploy one service at another commit), port, tier, healthPath. Example: services: { search: { revision: <commit> } }",
        fix: "write services: { <id>: { revision: <commit> } }",
        schema: structured("services: { search: { revision: <commit> } }", servicesSchema),
    },
    instanceType: {
        kind: "string", default: "t3.large",
        description: "EC2 instance type of each backend host (Graviton types such as t4g.large get the arm64 Debian image).",
        fix: ec2Fix("t3.large"),
        schema: text("pick a type from the EC2 instance types list, e.g. t3.large", ...instanceTypeRules),
    },
    backendHosts: {
        kind: "integer", default: 2,
        description: `Backend hosts behind the load balancer, 1 to ${MAX_BACKEND_HOSTS}, in the private subnets; host n goes in zone (n-1) mod availabilityZoneCount. Deploys roll host by host, so N-1 hosts always serve. Production requires at least ${PRODUCTION_MIN_BACKEND_HOSTS}; a lone host (staging) switches in service.`,
        fix: `set a value from 1 to ${MAX_BACKEND_HOSTS}`,
        schema: integer(1, MAX_BACKEND_HOSTS, "every host is one more host-by-host step of every deploy",
            (v, ctx) => (ctx.production && v < PRODUCTION_MIN_BACKEND_HOSTS
                ? {
                    why: `production runs at least ${PRODUCTION_MIN_BACKEND_HOSTS} backend hosts in ${PRODUCTION_MIN_BACKEND_HOSTS} availability zones, so a lost host or zone leaves one serving and a rolling deploy never takes the API down`,
                    fix: `set ${full("backendHosts")}: ${PRODUCTION_MIN_BACKEND_HOSTS} in Pulumi.${ctx.stack}.yaml`,
                }
                : undefined)),
    },
    rootVolumeSizeGiB: integerSetting(40, 20, 1024, "Size of each backend host's encrypted gp3 root volume, 20 to 1024 GiB.",
        "the Debian image, three runtimes and several releases of 19 services need the space"),
    sshUser: {
        kind: "string", default: "admin",
        description: "Login user of the host image; remote steps run under sudo unless it is root.",
        fix: "use admin, the Debian image's user",
        schema: text("use admin, the Debian image's user", matching(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a Linux user name (lower-case letters, digits, '_', '-')")),
    },
    deployPublicKey: {
        kind: "string",
        description: "OpenSSH public key authorized for sshUser (contents of the .pub file): ssh-ed25519, or ssh-rsa of at least 3072 bits. Required, no default.",
        fix: `pulumi config set ${full("deployPublicKey")} "$(cat deploy_key.pub)" (a key made by ssh-keygen -t ed25519)`,
        schema: text(`paste the contents of the .pub file made by ssh-keygen -t ed25519`, (v) => {
            let key: KeyIdentity;
            try {
                key = parsePublicKeyLine(v.trim());
            } catch (error) {
                return `${error instanceof KeyFormatError ? error.message : "is not an OpenSSH public key"} (must be one OpenSSH public key line: ssh-ed25519 or ssh-rsa)`;
            }
            if (key.type === "ssh-ed25519") return undefined;
            if (key.type === "ssh-rsa") {
                return key.bits >= 3072 ? undefined : { why: `is an RSA key of ${key.bits} bits; deploy keys must be ssh-ed25519 or RSA of at least 3072 bits`, fix: "make a new key with ssh-keygen -t ed25519 and set both halves" };
            }
            return { why: `is a ${key.type} key; deploy keys must be ssh-ed25519 or RSA of at least 3072 bits`, fix: "make a new key with ssh-keygen -t ed25519 and set both halves" };
        }),
    },
    deployPrivateKey: {
        kind: "string", secret: true,
        description: "The matching private key, set with pulumi config set --secret deployPrivateKey < key: no passphrase, the pair of deployPublicKey. Required, no default, never plain text.",
        fix: `pulumi config set --secret ${full("deployPrivateKey")} < deploy_key`,
        schema: text(`pulumi config set --secret ${full("deployPrivateKey")} < deploy_key`, (v) => {
            const parsed = parsePrivateKey(v);
            if (parsed.ok) return undefined;
            return parsed.reason === "passphrase"
                ? { why: `${parsed.detail}; the deploy runs unattended and can't type it`, fix: `remove it (ssh-keygen -p -N '' -f deploy_key), then pulumi config set --secret ${full("deployPrivateKey")} < deploy_key` }
                : parsed.detail;
        }),
    },
    healthTimeoutSeconds: integerSetting(90, 5, 600, "How long a service's deploy waits for systemd and its health endpoint before rolling it back, 5 to 600 seconds.",
        "the health gate must give a service time to start but still fail a deploy in bounded time"),
    vpcCidr: {
        kind: "string", default: "10.20.0.0/16",
        description: "Private IPv4 range of the stack's VPC (/16 to /20), written canonically; public and private subnets are carved from it per availability zone.",
        fix: "write a private range such as 10.20.0.0/16",
        schema: text("write a private range such as 10.20.0.0/16",
            matching(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,3}$/, "is not an IPv4 CIDR (a.b.c.d/n)"),
            (v) => (/(^|[./])0\d/.test(v)
                ? { why: "has leading zeros: tools disagree whether 010 is ten or octal eight, so the range is ambiguous", fix: `write ${v.replace(/(^|[./])0+(\d)/g, "$1$2")}` }
                : undefined),
            (v) => (ipaddr.IPv4.isValidFourPartDecimal(v.split("/")[0]) && Number(v.split("/")[1]) <= 32 ? undefined : "is not a valid CIDR (each part 0 to 255, prefix 0 to 32)"),
            (v) => ((ipaddr.parseCIDR(v)[0] as ipaddr.IPv4).range() !== "private" ? { why: "must be a private IPv4 range (10/8, 172.16/12, 192.168/16)", fix: "use e.g. 10.20.0.0/16" } : undefined),
            (v) => {
                const prefix = Number(v.split("/")[1]);
                return prefix < 16 || prefix > 20 ? { why: "must be a /16 to /20 (the subnets are carved as /24 to /28 from it)", fix: "use a /16" } : undefined;
            },
            (v) => {
                const network = ipaddr.IPv4.networkAddressFromCIDR(v).toString();
                return network !== v.split("/")[0] ? { why: "has host bits set past its prefix length", fix: `write ${network}/${v.split("/")[1]}` } : undefined;
            }),
    },
    availabilityZoneCount: {
        kind: "integer", default: 2,
        description: "Availability zones the VPC spans, 2 or 3 (RDS subnet groups and Multi-AZ need two).",
        fix: "set 2 or 3",
        schema: integer(2, 3, "RDS subnet groups and Multi-AZ need two zones"),
    },
    natGatewayPerZone: {
        kind: "boolean", default: false,
        description: "One NAT gateway per zone (private hosts keep their egress if a zone fails; each NAT is billed per hour and per GB) instead of one for the VPC.",
        fix: "write true or false without quotes", schema: boolean(),
    },
    databaseInstanceClass: {
        kind: "string", default: "db.t4g.micro",
        description: "RDS instance class of the PostgreSQL database.",
        fix: "use an RDS instance class such as db.t4g.micro",
        schema: text("use an RDS instance class such as db.t4g.micro", matching(/^db\.[a-z]+\d+[a-z-]*\.[a-z0-9]+$/, "must be an RDS instance class such as db.t4g.micro")),
    },
    databaseStorageGiB: integerSetting(20, 20, 65_536, "Allocated gp3 storage of the database, from 20 GiB.",
        "RDS gp3 storage starts at 20 GiB"),
    databaseMaxStorageGiB: integerSetting(100, 20, 65_536, "Ceiling of RDS storage autoscaling; at least databaseStorageGiB.",
        "the ceiling of storage autoscaling"),
    databaseBackupRetentionDays: {
        kind: "integer", default: 7,
        description: "Days RDS keeps automated backups, 7 to 35; production requires at least 30.",
        fix: "set a value from 7 to 35",
        schema: integer(7, 35, "RDS keeps automated backups 1 to 35 days; fewer than 7 leaves no week to notice a bad migration",
            (v, ctx) => (ctx.production && v < PRODUCTION_MIN_BACKUP_DAYS
                ? { why: `production keeps automated backups at least ${PRODUCTION_MIN_BACKUP_DAYS} days`, fix: `set ${full("databaseBackupRetentionDays")}: ${PRODUCTION_MIN_BACKUP_DAYS} in Pulumi.${ctx.stack}.yaml` }
                : undefined)),
    },
    databaseMultiAz: {
        kind: "boolean", default: false,
        description: "A standby database in a second zone (doubles the database cost); production requires true.",
        fix: "write true or false without quotes",
        schema: trueInProduction("databaseMultiAz", "production's database must be Multi-AZ (a standby in a second zone)"),
    },
    databaseDeletionProtection: {
        kind: "boolean", default: false,
        description: "RDS refuses to delete the database while true; production requires true.",
        fix: "write true or false without quotes",
        schema: trueInProduction("databaseDeletionProtection", "production's database must be protected from deletion"),
    },
    redisInstanceType: {
        kind: "string", default: "t3.small",
        description: "EC2 instance type of the Redis host: t3, t4g, m6i, m6g, m7g, r6i, r6g or c6i (the families whose memory the program knows).",
        fix: ec2Fix("t3.small"),
        schema: text(ec2Fix("t3.small"), ...instanceTypeRules, (v) => (instanceMemoryMiB(v) === undefined
            ? { why: "is not an instance type whose memory the program knows (t3, t4g, m6i, m6g, m7g, r6i, r6g, c6i sizes)", fix: "use one of those families, e.g. t3.small or r6i.large" } : undefined)),
    },
    redisMaxMemoryMb: integerSetting(1024, 64, 1_048_576, "Redis maxmemory in MB; at most 75% of the Redis instance's memory.",
        "Redis's maxmemory, below the host's memory"),
    redisEvictionPolicy: {
        kind: "string", default: "allkeys-lru",
        description: `Redis maxmemory-policy (${REDIS_EVICTION_POLICIES.join(", ")}).`,
        fix: `pick one of ${REDIS_EVICTION_POLICIES.join(", ")}`, schema: choice(REDIS_EVICTION_POLICIES),
    },
    searchInstanceType: {
        kind: "string", default: "t3.medium",
        description: "EC2 instance type of the Meilisearch host.",
        fix: ec2Fix("t3.medium"), schema: text(ec2Fix("t3.medium"), ...instanceTypeRules),
    },
    searchVolumeSizeGiB: integerSetting(20, 10, 16_384, "Size of Meilisearch's own encrypted gp3 data volume.",
        "Meilisearch's data volume"),
    meilisearchVersion: {
        kind: "string", default: "v1.7.6",
        description: "Pinned Meilisearch release tag (e.g. v1.7.6); the seed's CI uses v1.7.",
        fix: "set the tag of the release to run",
        schema: text("set the tag of the release to run", matching(/^v\d+\.\d+\.\d+$/, "must be a pinned release tag like v1.7.6 (never latest)")),
    },
    meilisearchSha256: {
        kind: "string",
        description: "SHA-256 of that release's binary for the search host's architecture; the host refuses any other download. Required, no default: verify it yourself (sha256sum). The all-zero placeholder is refused in production outside offline plans.",
        fix: "download meilisearch-linux-amd64 of that release and set the output of sha256sum",
        schema: text("download meilisearch-linux-amd64 of that release and set the output of sha256sum",
            matching(/^[0-9a-f]{64}$/, "must be the 64 lower-case hex digits of the binary's SHA-256"),
            (v, ctx) => (ctx.production && !ctx.offline && v === ZERO_SHA256
                ? "is the all-zero placeholder; production must pin the real checksum (offline plans accept it, a deploy does not)" : undefined)),
    },
    preDeployBackupRetentionDays: integerSetting(90, 7, 3650, "Days the production/ pre-deploy database dumps are kept (daily/ dumps are kept 30 days, as the seed's section 4.5).",
        "production/ pre-deploy dumps are the restore point of a bad release"),
    githubRepository: githubRepositorySetting("pakashop/pakashop", "owner/name of the services monorepo on GitHub (the Vercel project builds its frontend/ folder)."),
    workflowRepository: githubRepositorySetting("pakashop/pakashop-infra",
        "owner/name of this repository; its GitHub workflows assume the deploy, read-only and backup roles through OIDC."),
    createGithubOidcProvider: {
        kind: "boolean", default: false,
        description: "Whether this stack creates the AWS account's GitHub OIDC provider (token.actions.githubusercontent.com). IAM allows one per URL per account, so exactly one stack per account sets true. Each committed stack has its own account, so both set true; a further stack in the same account sets false, looks it up, and fails with instructions if it does not exist yet.",
        fix: "write true or false without quotes", schema: boolean(),
    },
    githubConnectionArn: {
        kind: "string",
        description: "ARN of the AWS CodeConnections connection to GitHub that the stack's in-VPC deploy runner (CodeBuild) uses. Created once per AWS account in the console and completed by installing the AWS Connector GitHub App. Required, no default.",
        fix: "create the GitHub connection once in the console (Developer Tools > Settings > Connections), finish its GitHub handshake, and set its ARN",
        schema: text("create the GitHub connection once in the console (Developer Tools > Settings > Connections), finish its GitHub handshake, and set its ARN",
            matching(GITHUB_CONNECTION_ARN, "must be the ARN of an AWS CodeConnections connection (arn:aws:codeconnections:<region>:<account>:connection/<id>)")),
    },
    runnerGithubActorIds: {
        kind: "array", items: "integer", default: [],
        description: "Numeric GitHub account ids (gh api users/<login> --jq .id) whose workflow runs may start jobs on the stack's in-VPC runner: those who dispatch or re-run deploys, merge to the stack's branch, own the services monorepo's dispatch tokens, and last edited the drift/backup schedules. No bot is added. 0 (the committed placeholder) admits nobody. Required.",
        fix: `pulumi config set --path '${full("runnerGithubActorIds")}[0]' <id>`,
        schema: structured("runnerGithubActorIds: [1234567]", actorIdsSchema),
    },
    zoneName: {
        kind: "string", default: "pakashop.store",
        description: "The Cloudflare zone both stacks share.",
        fix: "set the Cloudflare zone, e.g. pakashop.store", schema: text("set the Cloudflare zone, e.g. pakashop.store", ...hostnameRules),
    },
    cloudflareZoneId: {
        kind: "string",
        description: "Zone ID of zoneName (Cloudflare dashboard, zone overview). Required, no default.",
        fix: "copy the Zone ID from the zone's overview page in Cloudflare",
        schema: text("copy the Zone ID from the zone's overview page in Cloudflare", matching(/^[0-9a-f]{32}$/, "must be the zone's 32-character id")),
    },
    frontendHostname: {
        kind: "string", default: "staging.pakashop.store",
        description: "Hostname of the frontend (Vercel) for this stack; the apex or one label below it, carrying the stack name outside production.",
        fix: "set a hostname in the zone", schema: text("set a hostname in the zone", ...hostnameRules),
    },
    apiHostname: {
        kind: "string", default: "api-staging.pakashop.store",
        description: "Hostname of the API (the load balancer behind Cloudflare); one label below the zone, carrying the stack name outside production.",
        fix: "set a hostname in the zone", schema: text("set a hostname in the zone", ...hostnameRules),
    },
    vercelProjectName: {
        kind: "string", default: "pakashop-frontend",
        description: "Name of the Vercel project of the frontend (one project; production owns it, staging adds its domain).",
        fix: "set e.g. pakashop-frontend", schema: text("set e.g. pakashop-frontend", matching(/^[a-z0-9][a-z0-9-]{0,99}$/, "must be a Vercel project name (lower-case letters, digits, '-')")),
    },
    verification: {
        kind: "map", default: VERIFICATION_DEFAULTS,
        description: "What npm run verify checks after a deploy (Deploy staging's verification, the gate before production): smokePaths (each must answer 2xx), then a load test on loadPath with connections for at most durationSeconds and maxRequests, which fails below minRequests, above maxErrorRate (a fraction of non-2xx, errors and timeouts) or above maxP95LatencyMs; a request unanswered after requestTimeoutSeconds fails. A stack file may set any subset of the fields; the rest keep their defaults. Read by the verification tool, not by the program (which only validates it).",
        fix: `write ${full("verification")}: { maxErrorRate: 0.01, maxP95LatencyMs: 500 } in the stack file`,
        schema: structured("verification: { maxErrorRate: 0.01, maxP95LatencyMs: 500 }", () => verificationSchema(full("verification"))),
    },
} satisfies Record<string, SettingDefinition>;

export type SettingKey = keyof typeof SETTINGS;
export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];
export const EDGE_KEYS: readonly SettingKey[] = ["zoneName", "cloudflareZoneId", "frontendHostname", "apiHostname"];

/** The typed value of each setting. */
export type SettingValues = { [K in SettingKey]: z.output<ReturnType<(typeof SETTINGS)[K]["schema"]>> };

/**
 * Settings this program no longer reads, with what replaced them: a stack file that still sets
 * one gets the reason, not only "unknown setting".
 */
export const RETIRED_SETTINGS: Readonly<Record<string, string>> = {
    deployCidrs: "SSH is admitted only from the stack's in-VPC deploy runner and its EC2 Instance Connect Endpoint (no address outside the VPC reaches port 22)",
    repositoryUrl: "the hosts never fetch sources: the machine running Pulumi packs them from a local clone (PAKASHOP_SERVICES_REPO)",
};

// ---- offline placeholders ------------------------------------------------------------------

const offlinePlaceholders = new Map<string, string>();
/** Records that `value` of `fullKey` is an offline placeholder (tools/stackConfig.ts only). */
export function registerOfflinePlaceholder(fullKey: string, value: string): void {
    offlinePlaceholders.set(fullKey, value);
}
/** Whether `value` of `fullKey` is a placeholder this process substituted offline. */
export function isOfflinePlaceholder(fullKey: string, value: string | undefined): boolean {
    return value !== undefined && offlinePlaceholders.get(fullKey) === value;
}

// ---- parsing --------------------------------------------------------------------------------

/** Levenshtein distance, for namespace typos. */
function distance(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
        let previous = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const current = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
            previous = current;
        }
    }
    return row[b.length];
}
/** Whether `namespace` looks like a misspelling of the project's. */
export function looksLikeProjectNamespace(namespace: string): boolean {
    const squash = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");
    return namespace !== CONFIG_NAMESPACE
        && (squash(namespace) === squash(CONFIG_NAMESPACE) || distance(namespace.toLowerCase(), CONFIG_NAMESPACE) <= 2);
}

/** The definition of `key`, looked up as an own property only (never `constructor`, `__proto__`...). */
function definitionOf(key: string): SettingDefinition | undefined {
    return Object.hasOwn(SETTINGS, key) ? (SETTINGS as Record<string, SettingDefinition>)[key] : undefined;
}

/** Whether `key` is secret: declared secret, or stored encrypted. */
function isSecretSetting(source: ConfigSource, key: string): boolean {
    return definitionOf(key)?.secret === true || source.isSecret(key);
}

/**
 * Every error about a setting goes through here (and so through {@link secretAwareError}): for
 * a secret setting no part of the error shows its value or anything derived from it, and a
 * why/fix that compares with another setting (`mentions`) is replaced when that one is secret.
 */
function settingError(source: ConfigSource, key: string, value: unknown, why: string, fix: string,
    options: { setting?: string; values?: readonly unknown[]; mentions?: readonly string[]; fixNamesOnly?: boolean } = {}): SettingError {
    const secret = isSecretSetting(source, key);
    return secretAwareError(options.setting ?? full(key), secret || typeof value !== "string" ? value : redactUrlCredentials(value), why, fix, {
        secret,
        values: [value, source.get(key), ...(options.values ?? [])],
        mentions: (options.mentions ?? []).map((other) => ({ setting: full(other), secret: isSecretSetting(source, other) })),
        // A declared secret's own fix names only how to set it; any other setting gets a generic one.
        secretFix: definitionOf(key)?.secret ? definitionOf(key)?.fix : undefined,
        // A declared secret's rules are written for a secret: their fixes never use the value.
        fixNamesOnly: options.fixNamesOnly ?? definitionOf(key)?.secret === true,
    });
}

export function parseContext(source: ConfigSource, stack: string, production = stack === PRODUCTION_STACK): ParseContext {
    const offline = SETTING_KEYS.some((key) => source.isPlaceholder?.(key) === true);
    return { stack, production, testStack: TEST_STACK.test(stack), offline };
}

/** Namespaces a stack file may set besides the project's: the providers this program uses, and Pulumi's own. */
export const PROVIDER_NAMESPACES: readonly string[] = ["aws", "cloudflare", "vercel", "command", "random", "tls", "pulumi"];

/**
 * Refuses a full key (`namespace:key`) that nothing reads: no namespace, a misspelt project
 * namespace, or any namespace that is neither the project's nor a provider's. Nothing would
 * read it, so the setting it was meant to be would silently keep its default.
 */
export function checkNamespace(fullKey: string): void {
    const colon = fullKey.indexOf(":");
    const namespace = colon < 0 ? "" : fullKey.slice(0, colon);
    if (namespace === CONFIG_NAMESPACE || PROVIDER_NAMESPACES.includes(namespace)) return;
    const rest = colon < 0 ? fullKey : fullKey.slice(colon + 1);
    const suggestion = Object.hasOwn(SETTINGS, rest) || looksLikeProjectNamespace(namespace) ? `rename it to ${CONFIG_NAMESPACE}:${rest}` : undefined;
    const why = colon < 0
        ? `has no namespace, so the program would silently ignore it (settings are ${CONFIG_NAMESPACE}:<key>; providers' are <provider>:<key>)`
        : looksLikeProjectNamespace(namespace)
            ? `is outside the project namespace ${CONFIG_NAMESPACE} but looks like a misspelling of it, so the program would silently ignore it`
            : `is in namespace ${JSON.stringify(namespace)}, which is neither the project's (${CONFIG_NAMESPACE}) nor a provider's (${PROVIDER_NAMESPACES.join(", ")}), so nothing reads it`;
    throw new SettingError(fullKey, "[not read]", why,
        suggestion ?? `write it as ${CONFIG_NAMESPACE}:<setting> or <provider>:<key>, or remove it`);
}

function rejectUnknownKeys(source: ConfigSource): void {
    for (const fullKey of source.allKeys?.() ?? []) checkNamespace(fullKey);
    const known = new Set<string>(SETTING_KEYS);
    for (const key of source.keys()) {
        const retired = Object.hasOwn(RETIRED_SETTINGS, key) ? RETIRED_SETTINGS[key] : undefined;
        if (retired !== undefined) {
            throw settingError(source, key, source.get(key), `is no longer a setting: ${retired}`,
                `remove ${full(key)} from Pulumi.<stack>.yaml (README, "Reaching the hosts")`, { fixNamesOnly: true });
        }
        if (!known.has(key)) {
            const guess = SETTING_KEYS.find((k) => k.toLowerCase() === key.toLowerCase()) ?? SETTING_KEYS.find((k) => distance(k, key) <= 2);
            throw settingError(source, key, source.get(key), "is not a setting of this program",
                guess ? `did you mean ${full(guess)}?` : `remove it, or use one of: ${SETTING_KEYS.join(", ")}`, { fixNamesOnly: true });
        }
    }
}

/** The raw value of a setting, with the schema's default when unset. */
function rawValue(source: ConfigSource, key: SettingKey): string | undefined {
    const value = source.get(key);
    if (value !== undefined) return value;
    const fallback = (SETTINGS[key] as SettingDefinition).default;
    return fallback === undefined ? undefined : typeof fallback === "string" ? fallback : JSON.stringify(fallback);
}

/** Parses one setting; throws {@link SettingError}. */
function parseOne(source: ConfigSource, key: SettingKey, ctx: ParseContext): unknown {
    const definition = SETTINGS[key] as SettingDefinition;
    if (!definition.secret && source.isSecret(key)) {
        // Only declared-secret settings are kept secret: any other is used as a plain value.
        throw new SettingError(full(key), "[secret]",
            "is stored encrypted, but it is not a secret setting: its value would appear in plain text in plans, state and resources (only declared-secret settings are kept secret)",
            `store it plain with pulumi config set ${full(key)} <value> (without --secret)`);
    }
    const raw = rawValue(source, key);
    if (raw === undefined || raw.trim() === "") {
        throw settingError(source, key, raw, "is required", definition.fix);
    }
    if (definition.secret && !source.isSecret(key)) {
        // The value is in a stack file in plain text: say so without repeating it.
        throw new SettingError(full(key), "[plain text]", "must be stored encrypted, never in plain text", `remove it from the stack file and run pulumi config set --secret ${full(key)} ...`);
    }
    const result = definition.schema(ctx).safeParse(raw);
    if (result.success) return result.data;
    const issue = result.error.issues[0];
    const params = (issue as { params?: { fix?: string; value?: unknown } }).params;
    const secret = isSecretSetting(source, key);
    // Inside a secret value even the path (a map key) is the secret's content: name the setting only.
    const setting = secret ? full(key) : full(key) + issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
    const value = issue.path.length > 0 && params && "value" in params ? params.value : raw;
    throw settingError(source, key, value, issue.message, params?.fix || definition.fix, { setting, values: [raw, ...issue.path] });
}

/** Parses `keys` (all settings by default) and runs the rules between settings. */
export function parseSettings(source: ConfigSource, stack: string, options: { production?: boolean; keys?: readonly SettingKey[] } = {}): Partial<SettingValues> {
    const ctx = parseContext(source, stack, options.production);
    const keys = options.keys ?? SETTING_KEYS;
    if (!options.keys) rejectUnknownKeys(source);
    const values: Record<string, unknown> = {};
    for (const key of keys) values[key] = parseOne(source, key, ctx);
    for (const rule of CROSS_RULES) rule(values as Partial<SettingValues>, ctx, source);
    return values as Partial<SettingValues>;
}

export type CrossRule = (v: Partial<SettingValues>, ctx: ParseContext, source: ConfigSource) => void;

/**
 * A fleet of two or more hosts must span at least two availability zones: host n goes in zone
 * (n-1) mod availabilityZoneCount (components/backendFleet.ts), so that holds exactly when the
 * VPC spans two or more. `availabilityZoneCount` is at least 2 today, so no committed value
 * trips this; it is here so that lowering that minimum can't quietly put a fleet in one zone.
 */
export const fleetZoneSpreadRule: CrossRule = (v, _ctx, source) => {
    if (v.backendHosts === undefined || v.availabilityZoneCount === undefined) return;
    if (v.backendHosts < 2 || v.availabilityZoneCount >= 2) return;
    throw settingError(source, "backendHosts", v.backendHosts,
        `a fleet of ${v.backendHosts} hosts must span at least 2 availability zones, but availabilityZoneCount is ${v.availabilityZoneCount} (one zone's outage would take every host down)`,
        `set ${full("availabilityZoneCount")}: 2 or more, or ${full("backendHosts")}: 1`, { mentions: ["availabilityZoneCount"] });
};

/** Rules between settings; each runs only when the settings it reads were parsed. */
const CROSS_RULES: CrossRule[] = [
    fleetZoneSpreadRule,
    (v, _ctx, source) => {
        if (v.databaseStorageGiB === undefined || v.databaseMaxStorageGiB === undefined || v.databaseMaxStorageGiB >= v.databaseStorageGiB) return;
        throw settingError(source, "databaseMaxStorageGiB", v.databaseMaxStorageGiB, `must be at least databaseStorageGiB (${v.databaseStorageGiB})`, `set it to ${v.databaseStorageGiB} or more`,
            { mentions: ["databaseStorageGiB"] });
    },
    (v, _ctx, source) => {
        if (v.redisInstanceType === undefined || v.redisMaxMemoryMb === undefined) return;
        const memory = instanceMemoryMiB(v.redisInstanceType) as number;
        const limit = Math.floor(memory * REDIS_MEMORY_SHARE);
        if (v.redisMaxMemoryMb <= limit) return;
        throw settingError(source, "redisMaxMemoryMb", v.redisMaxMemoryMb,
            `is above what ${v.redisInstanceType} (${memory} MiB) can give Redis: at most ${limit} MB (75%; the rest is for the OS and the fork of an AOF rewrite)`,
            `set it to ${limit} or less, or pick a larger redisInstanceType`, { mentions: ["redisInstanceType"] });
    },
    (v, _ctx, source) => {
        if (v.deployPublicKey === undefined || v.deployPrivateKey === undefined) return;
        // An offline plan's placeholder private key belongs to no public key; nothing is deployed with it.
        if (source.isPlaceholder?.("deployPrivateKey")) return;
        const privateKey = parsePrivateKey(v.deployPrivateKey);
        const publicKey = parsePublicKeyLine(v.deployPublicKey.trim());
        if (privateKey.ok && privateKey.identity.fingerprint !== publicKey.fingerprint) {
            throw settingError(source, "deployPrivateKey", v.deployPrivateKey, "is not the private half of deployPublicKey (the deploy could not log in)",
                `set both halves of one pair: pulumi config set ${full("deployPublicKey")} "$(cat deploy_key.pub)" and pulumi config set --secret ${full("deployPrivateKey")} < deploy_key`,
                { mentions: ["deployPublicKey"] });
        }
    },
    (v, ctx, source) => {
        if (v.zoneName === undefined || v.frontendHostname === undefined || v.apiHostname === undefined) return;
        const zone = v.zoneName;
        for (const key of ["frontendHostname", "apiHostname"] as const) {
            const hostname = v[key] as string;
            if (hostname !== zone && !hostname.endsWith(`.${zone}`)) {
                throw settingError(source, key, hostname, `must be in the zone ${zone}`, `use a name such as api.${zone}`, { mentions: ["zoneName"] });
            }
            const label = hostname === zone ? "" : hostname.slice(0, -(zone.length + 1));
            if (label.includes(".")) {
                throw settingError(source, key, hostname, `must be the apex or one level below it: Cloudflare's universal certificate covers ${zone} and *.${zone} only`,
                    `use ${label.replace(/\./g, "-")}.${zone}`, { mentions: ["zoneName"] });
            }
            if (!ctx.production && !(label === ctx.stack || label.endsWith(`-${ctx.stack}`))) {
                throw settingError(source, key, hostname,
                    `outside production a hostname carries the stack name (${ctx.stack} or <name>-${ctx.stack}), so stacks sharing ${zone} never collide`,
                    `use ${label === "" ? ctx.stack : `${label}-${ctx.stack}`}.${zone}`, { mentions: ["zoneName"] });
            }
        }
        if (v.apiHostname === v.frontendHostname) {
            throw settingError(source, "apiHostname", v.apiHostname, "must differ from frontendHostname (the frontend is served by Vercel)", `use e.g. api.${zone}`,
                { mentions: ["frontendHostname", "zoneName"] });
        }
        if (v.apiHostname === zone) {
            throw settingError(source, "apiHostname", v.apiHostname, "must not be the zone apex (the apex is the production frontend)", `use api.${zone}`, { mentions: ["zoneName"] });
        }
    },
];

/** The catalog with the stack's `services` overrides applied and validated. */
export function applyServiceOverrides(overrides: Record<string, ServiceOverride>, revision: string): { catalog: Catalog; serviceRevisions: Record<string, string> } {
    const services: Record<string, ServiceSpec> = { ...CATALOG.services };
    const serviceRevisions: Record<string, string> = Object.fromEntries(Object.keys(CATALOG.services).map((id) => [id, revision]));
    for (const [id, override] of Object.entries(overrides)) {
        const { revision: own, ...fields } = override;
        if (own !== undefined) serviceRevisions[id] = own;
        services[id] = { ...services[id], ...fields };
    }
    const catalog: Catalog = { tiers: CATALOG.tiers, services };
    try {
        validateCatalog(catalog);
    } catch (error) {
        // Catalog errors name the catalog path; say which setting it came through.
        if (error instanceof SettingError) throw new SettingError(`${CONFIG_NAMESPACE}:${error.setting}`, error.value, error.rule, error.fix);
        throw error;
    }
    return { catalog, serviceRevisions };
}

// ---- derived documents -----------------------------------------------------------------------

/** A setting's declaration as `Pulumi.yaml` must hold it (`map` settings have no Pulumi type). */
export function pulumiDeclaration(key: SettingKey): Record<string, unknown> {
    const definition = SETTINGS[key] as SettingDefinition;
    const declaration: Record<string, unknown> = {};
    if (definition.kind !== "map") declaration.type = definition.kind;
    if (definition.items) declaration.items = { type: definition.items };
    if (definition.secret) declaration.secret = true;
    declaration.description = definition.description;
    if (definition.default !== undefined) declaration.default = definition.default;
    return declaration;
}

/** README's settings table, generated from the schema. */
export function renderSettingsTable(): string {
    const cell = (text: string) => text.replace(/\|/g, "\\|");
    return [
        "| setting | type | default | what |",
        "|---|---|---|---|",
        ...SETTING_KEYS.map((key) => {
            const d = SETTINGS[key] as SettingDefinition;
            const type = d.kind === "array" ? `array of ${d.items}` : d.kind;
            const fallback = d.default === undefined ? "(required)" : `\`${JSON.stringify(d.default)}\``;
            return `| \`${key}\` | ${type}${d.secret ? ", secret" : ""} | ${fallback} | ${cell(d.description)} |`;
        }),
    ].join("\n");
}
