/**
 * The settings schema is the single source: Pulumi.yaml's config block and README's settings
 * table must say what it says, and bad stack files are refused through the real `npm run plan`
 * with one short block (setting, value, why, fix), exit 1, no stack trace.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { pulumiDeclaration, renderSettingsTable, SETTING_KEYS, SETTINGS } from "../components/settingsSchema";
import { REPO_ROOT } from "../tools/stackConfig";

const NS = "pakashop-infra";

/** A copy of the project (node_modules shared) whose stack files tests may edit. */
export function projectCopy(): string {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-settings-"));
    const skip = new Set(["node_modules", ".git", ".pakashop", ".pulumi", "bin"]);
    for (const entry of fs.readdirSync(REPO_ROOT)) {
        if (!skip.has(entry)) fs.cpSync(path.join(REPO_ROOT, entry), path.join(copy, entry), { recursive: true });
    }
    fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(copy, "node_modules"));
    return copy;
}

export function plan(dir: string, stack: string, format = "text", env: NodeJS.ProcessEnv = {}): { status: number; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, ["--require", "./tools/register.js", "tools/plan.ts", "--stack", stack, "--format", format],
        { cwd: dir, encoding: "utf8", env: { ...process.env, PAKASHOP_DEBUG: "", ...env } });
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

describe("settings schema: the single source", () => {
    it("Pulumi.yaml declares exactly the schema's settings, each with the schema's type, default, description and secret-ness", () => {
        const project = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8"));
        assert.deepEqual(Object.keys(project.config), SETTING_KEYS);
        for (const key of SETTING_KEYS) assert.deepEqual(project.config[key], pulumiDeclaration(key), key);
    });

    it("README's settings table is the schema's (between <!-- generated:settings --> markers)", () => {
        const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
        const block = /<!-- generated:settings -->\n([\s\S]*?)\n<!-- \/generated:settings -->/.exec(readme);
        assert.ok(block, "README.md has no generated:settings block");
        assert.equal(block[1], renderSettingsTable(), "README's settings table is stale: paste renderSettingsTable()'s output");
    });

    it("only deployPrivateKey is declared secret, and it has no default", () => {
        const secrets = SETTING_KEYS.filter((k) => (SETTINGS[k] as { secret?: boolean }).secret);
        assert.deepEqual(secrets, ["deployPrivateKey"]);
        assert.equal((SETTINGS.deployPrivateKey as { default?: unknown }).default, undefined);
    });
});

describe("bad stack files through the real npm run plan", function () {
    this.timeout(180_000);
    let dir: string;
    before(() => {
        dir = projectCopy();
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const withStaging = (edit: (text: string) => string) => {
        const original = path.join(REPO_ROOT, "Pulumi.staging.yaml");
        fs.writeFileSync(path.join(dir, "Pulumi.staging.yaml"), edit(fs.readFileSync(original, "utf8")));
    };
    const CASES: { what: string; edit: (text: string) => string; setting: string; value: string; why: RegExp }[] = [
        { what: "an unquoted hexadecimal integer", edit: (t) => `${t}  ${NS}:rootVolumeSizeGiB: 0x400\n`, setting: `${NS}:rootVolumeSizeGiB`, value: '"0x400"', why: /not hexadecimal/ },
        { what: "an unquoted integer with a decimal point", edit: (t) => `${t}  ${NS}:healthTimeoutSeconds: 90.0\n`, setting: `${NS}:healthTimeoutSeconds`, value: '"90.0"', why: /decimal point/ },
        { what: "an unquoted integer in exponent notation", edit: (t) => `${t}  ${NS}:rootVolumeSizeGiB: 1e2\n`, setting: `${NS}:rootVolumeSizeGiB`, value: '"1e2"', why: /exponent/ },
        { what: "a key set twice", edit: (t) => `${t}  ${NS}:instanceType: t3.xlarge\n`, setting: `${NS}:instanceType`, value: '"t3.xlarge"', why: /set twice in Pulumi\.staging\.yaml \(lines \d+ and \d+\)/ },
        { what: "an encrypted key set twice", edit: (t) => `${t}  ${NS}:deployPrivateKey:\n    secure: v1:b3RoZXI=\n`, setting: `${NS}:deployPrivateKey`, value: '"[secret]"', why: /set twice/ },
        { what: "a misspelt namespace", edit: (t) => `${t}  pakashop-infr:branch: main\n`, setting: "pakashop-infr:branch", value: '"[not read]"', why: /misspelling/ },
        { what: "an octal-looking VPC range", edit: (t) => t.replace(/vpcCidr: .*/, "vpcCidr: 010.010.0.0/16"), setting: `${NS}:vpcCidr`, value: '"010.010.0.0/16"', why: /leading zeros/ },
        { what: "a service override named toString", edit: (t) => `${t}  ${NS}:services:\n    toString:\n      port: 3999\n`, setting: `${NS}:services.toString`, value: '"toString"', why: /object-prototype/ },
    ];
    for (const c of CASES) {
        it(`${c.what}: exit 1, one block with setting, value, why and fix, no stack trace`, () => {
            withStaging(c.edit);
            const result = plan(dir, "staging");
            assert.equal(result.status, 1, result.stderr);
            assert.equal(result.stdout, "");
            const lines = result.stderr.trimEnd().split("\n");
            assert.equal(lines.length, 4, result.stderr);
            assert.equal(lines[0], `error: bad setting ${c.setting}`);
            assert.equal(lines[1], `  value: ${c.value}`);
            assert.match(lines[2], /^ {2}why: {3}/);
            assert.match(lines[2], c.why);
            assert.match(lines[3], /^ {2}fix: {3}\S/);
            assert.doesNotMatch(result.stderr, /\n\s+at |Unhandled|ZodError/);
        });
    }

    it("a production fleet of one host: exit 1, the setting, the value, production's rule and the fix", () => {
        const original = path.join(REPO_ROOT, "Pulumi.production.yaml");
        fs.writeFileSync(path.join(dir, "Pulumi.production.yaml"), fs.readFileSync(original, "utf8").replace(/backendHosts: 2/, "backendHosts: 1"));
        try {
            const result = plan(dir, "production");
            assert.equal(result.status, 1, result.stderr);
            assert.equal(result.stderr.trimEnd(), [
                `error: bad setting ${NS}:backendHosts`,
                '  value: "1"',
                "  why:   production runs at least 2 backend hosts in 2 availability zones, so a lost host or zone leaves one serving and a rolling deploy never takes the API down",
                `  fix:   set ${NS}:backendHosts: 2 in Pulumi.production.yaml`,
            ].join("\n"));
        } finally {
            fs.copyFileSync(original, path.join(dir, "Pulumi.production.yaml"));
        }
    });

    it("PAKASHOP_DEBUG adds the stack trace", () => {
        withStaging((t) => `${t}  ${NS}:rootVolumeSizeGiB: 0x400\n`);
        const result = plan(dir, "staging", "text", { PAKASHOP_DEBUG: "1" });
        assert.equal(result.status, 1);
        assert.match(result.stderr, /\n\s+at /);
    });
});
