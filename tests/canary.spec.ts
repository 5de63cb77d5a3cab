/**
 * Canary: a distinctive value in every secret setting (deployPrivateKey, and settings stored
 * encrypted that are not declared secret), every error path that can be triggered with it, and
 * every plan format; the canary (and the key material around it) appears in no output.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { settingErrorBlock } from "../components/errors";
import { readSettings } from "../components/settings";
import { runOffline } from "../tools/offlineRun";
import { formatPlan, FORMATS, planDocument } from "../tools/planFormat";
import { switchWaves } from "../tools/planModel";
import { checkPolicies, loadPackConfig } from "../tools/policyCheck";
import { configSource } from "./helpers";
import { withSecrets } from "./settings.spec";
import { plan, projectCopy } from "./settingsSchema.spec";
import { ed25519Key, encryptedPem, openSshEd25519 } from "./support/sshTestKeys";

const NS = "pakashop-infra";
const CANARY = "CANARY-7f3a9c1e-do-not-print";
const KEY = ed25519Key("deploy@canary");
/** A valid deploy key whose comment is the canary (inside the base64 body, and its lines). */
const CANARY_KEY = openSshEd25519(KEY, { comment: CANARY });
const BODY_LINES = CANARY_KEY.split("\n").filter((l) => l && !l.startsWith("-----"));

function assertClean(output: string, where: string): void {
    assert.ok(!output.includes(CANARY), `${where} prints the canary`);
    for (const line of [...BODY_LINES, ...KEY.pem.split("\n").filter((l) => l && !l.startsWith("-----"))]) {
        assert.ok(!output.includes(line), `${where} prints key material`);
    }
}

/** Runs `body`, returns everything it threw as text (message, block, stack). */
function errorText(body: () => unknown): string {
    try {
        body();
    } catch (error) {
        const e = error as Error;
        return [e.message, e.stack, "setting" in e ? settingErrorBlock(e as never) : ""].join("\n");
    }
    assert.fail("expected an error");
}

describe("canary: secret values appear in no output", function () {
    this.timeout(180_000);
    const publicKey = { [`${NS}:deployPublicKey`]: KEY.publicLine };
    const read = (stack: string, overrides: Record<string, unknown>, secrets: Record<string, string>) =>
        () => readSettings(configSource(withSecrets(stack, overrides, secrets)), stack);

    const ERROR_PATHS: [string, () => unknown][] = [
        ["a private key that is only the canary", read("staging", publicKey, { [`${NS}:deployPrivateKey`]: CANARY })],
        ["a canary inside a PEM armor", read("staging", publicKey, { [`${NS}:deployPrivateKey`]: `-----BEGIN OPENSSH PRIVATE KEY-----\n${CANARY}\n-----END OPENSSH PRIVATE KEY-----\n` })],
        ["the canary key for another public key", read("staging", { [`${NS}:deployPublicKey`]: ed25519Key().publicLine }, { [`${NS}:deployPrivateKey`]: CANARY_KEY })],
        ["the canary key with a passphrase", read("staging", publicKey, { [`${NS}:deployPrivateKey`]: openSshEd25519(KEY, { comment: CANARY, cipher: "aes256-ctr" }) })],
        ["the canary key as passphrase PEM", read("staging", publicKey, { [`${NS}:deployPrivateKey`]: encryptedPem(KEY) })],
        ["the canary key in production with a placeholder checksum", read("production", publicKey, { [`${NS}:deployPrivateKey`]: CANARY_KEY })],
        ["the canary as an encrypted sshUser", read("staging", publicKey, { [`${NS}:deployPrivateKey`]: CANARY_KEY, [`${NS}:sshUser`]: CANARY })],
        ["the canary as an encrypted vpcCidr", read("staging", publicKey, { [`${NS}:deployPrivateKey`]: CANARY_KEY, [`${NS}:vpcCidr`]: CANARY })],
        ["the canary as an encrypted unknown setting", read("staging", publicKey, { [`${NS}:deployPrivateKey`]: CANARY_KEY, [`${NS}:deployKey`]: CANARY })],
        ["the canary as an encrypted retired setting", read("staging", publicKey, { [`${NS}:deployPrivateKey`]: CANARY_KEY, [`${NS}:deployCidrs`]: CANARY })],
        ["the canary as an encrypted services map (the id is a path)", read("staging", publicKey, { [`${NS}:deployPrivateKey`]: CANARY_KEY, [`${NS}:services`]: JSON.stringify({ [CANARY]: {} }) })],
        ["the canary as an encrypted services port clash", read("staging", publicKey, { [`${NS}:deployPrivateKey`]: CANARY_KEY, [`${NS}:services`]: JSON.stringify({ search: { port: 3006, healthPath: `/${CANARY}` } }) })],
        ["the canary as an encrypted runner id", read("staging", publicKey, { [`${NS}:deployPrivateKey`]: CANARY_KEY, [`${NS}:runnerGithubActorIds`]: JSON.stringify([CANARY]) })],
    ];
    /**
     * Canaries that pass every format rule and fail only a later rule or a rule between settings
     * (issue 11): a rule's fix derived from the value (lower-cased, canonicalised) and the values
     * a rule between settings compares must not show either. Each lists the forms that must not appear.
     */
    const HOST = "API-CANARY7F3A.pakashop.store";
    const LATE_CANARIES: [string, Record<string, string>, string[]][] = [
        ["an upper-case encrypted apiHostname", { [`${NS}:apiHostname`]: HOST }, [HOST, HOST.toLowerCase(), "canary7f3a"]],
        ["an upper-case encrypted frontendHostname", { [`${NS}:frontendHostname`]: "CANARY7F3A-staging.pakashop.store" }, ["canary7f3a"]],
        ["an upper-case encrypted zoneName", { [`${NS}:zoneName`]: "CANARY7F3A.store" }, ["canary7f3a"]],
        ["an encrypted apiHostname outside the zone", { [`${NS}:apiHostname`]: "api-staging.canary7f3a.store" }, ["canary7f3a"]],
        ["an encrypted apiHostname two levels below the zone", { [`${NS}:apiHostname`]: "canary7f3a.api-staging.pakashop.store" }, ["canary7f3a"]],
        ["an encrypted apiHostname without the stack name", { [`${NS}:apiHostname`]: "canary7f3a.pakashop.store" }, ["canary7f3a"]],
        ["an encrypted zoneName the hostnames are not in", { [`${NS}:zoneName`]: "canary7f3a.store" }, ["canary7f3a"]],
        ["an encrypted vpcCidr with leading zeros", { [`${NS}:vpcCidr`]: "010.73.0.0/16" }, ["010.73.0.0", "10.73.0.0"]],
        ["an encrypted vpcCidr with host bits", { [`${NS}:vpcCidr`]: "10.73.5.0/16" }, ["10.73.5.0", "10.73.0.0"]],
        ["an encrypted databaseMaxStorageGiB below the storage", { [`${NS}:databaseMaxStorageGiB`]: "21" }, ["21"]],
        ["an encrypted databaseStorageGiB above the maximum", { [`${NS}:databaseStorageGiB`]: "7331" }, ["7331"]],
        ["an encrypted redisMaxMemoryMb above the instance", { [`${NS}:redisMaxMemoryMb`]: "1999" }, ["1999"]],
        ["an encrypted cloudflareZoneId", { [`${NS}:cloudflareZoneId`]: "c0ffee7f3a".padEnd(32, "0") }, ["c0ffee7f3a"]],
        ["an encrypted githubConnectionArn", { [`${NS}:githubConnectionArn`]: "arn:aws:codeconnections:eu-central-1:123456789012:connection/canary7f3a" }, ["canary7f3a"]],
    ];
    for (const [what, secrets, forms] of LATE_CANARIES) {
        it(`error path: ${what} (passes the format rules)`, () => {
            const text = errorText(read("staging", publicKey, { [`${NS}:deployPrivateKey`]: CANARY_KEY, ...secrets }));
            assertClean(text, what);
            const shown = text.replace(/\s+at .*\n?/g, "");
            for (const form of forms) assert.ok(!shown.toLowerCase().includes(form.toLowerCase()), `${what}: ${form} in\n${shown}`);
            for (const value of Object.values(secrets)) assert.ok(!shown.toLowerCase().includes(value.toLowerCase()), `${what}: the value in\n${shown}`);
        });
    }

    for (const [what, body] of ERROR_PATHS) {
        it(`error path: ${what}`, () => {
            const text = errorText(body);
            assertClean(text, what);
        });
    }

    it("the canary key is accepted as the pair of its public key (the error paths above are not format accidents)", () => {
        const settings = read("staging", publicKey, { [`${NS}:deployPrivateKey`]: CANARY_KEY })() as ReturnType<typeof readSettings>;
        assert.equal(settings.deployPublicKey, KEY.publicLine);
    });

    for (const stack of ["staging", "production"]) {
        it(`every plan format of ${stack} with the canary key as the decrypted secret`, async () => {
            // Production's checksum is a placeholder: in a run with real secrets it is refused, so set one.
            const overrides = { ...publicKey, [`${NS}:meilisearchSha256`]: "a".repeat(64) };
            const run = await runOffline(withSecrets(stack, overrides, { [`${NS}:deployPrivateKey`]: CANARY_KEY }));
            const waves = switchWaves(run.resources);
            const violations = await checkPolicies(run, loadPackConfig(stack));
            for (const format of FORMATS) assertClean(formatPlan(planDocument(run, waves, violations), format), `${stack} --format ${format}`);
        });
    }

    describe("through the real npm run plan", () => {
        let dir: string;
        before(() => {
            dir = projectCopy();
        });
        after(() => fs.rmSync(dir, { recursive: true, force: true }));
        const stackFile = (stack: string, edit: (t: string) => string) =>
            fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), edit(fs.readFileSync(path.join(__dirname, "..", `Pulumi.${stack}.yaml`), "utf8")));

        it("a plain-text canary private key: exit 1, [plain text], no canary", () => {
            stackFile("staging", (t) => t.replace(/deployPrivateKey:\n\s+secure: .*/, `deployPrivateKey: "${CANARY}"`));
            const result = plan(dir, "staging");
            assert.equal(result.status, 1, result.stderr);
            assert.match(result.stderr, /value: "\[plain text\]"/);
            assertClean(result.stdout + result.stderr, "plain-text error");
        });

        it("a canary set twice as an encrypted value: exit 1, [secret], no canary", () => {
            stackFile("staging", (t) => `${t}  ${NS}:deployPrivateKey:\n    secure: ${CANARY}\n`);
            const result = plan(dir, "staging");
            assert.equal(result.status, 1, result.stderr);
            assertClean(result.stdout + result.stderr, "duplicate error");
        });

        for (const stack of ["staging", "production"]) {
            for (const format of FORMATS) {
                it(`${stack} --format ${format} with canary ciphertexts: no canary`, () => {
                    stackFile(stack, (t) => t.replace(/secure: .*/, `secure: ${CANARY}`));
                    const result = plan(dir, stack, format);
                    assert.ok(result.status === 0 || result.status === 5, result.stderr);
                    assertClean(result.stdout + result.stderr, `${stack} ${format}`);
                });
            }
        }
    });
});
