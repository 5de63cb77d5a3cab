/**
 * Other stacks' files are input too: production puts the hostnames of the committed stacks
 * into Cloudflare rule expressions. These check that a hostile or broken value in another
 * stack's file stops production's plan (naming the file, the setting and the value), that a
 * developer's `Pulumi.dev.yaml` in the folder changes nothing, and that the expression builder
 * refuses anything but a hostname.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { apiRouteExpression } from "../components/edge";
import { SettingError } from "../components/errors";
import { readEdge } from "../components/platformSettings";
import { COMMITTED_STACKS, CONFIG_NAMESPACE } from "../components/settings";
import { readZoneRoutes, stackFileSource, ZoneRoute } from "../components/zoneRoutes";
import { REPO_ROOT } from "../tools/stackConfig";
import { exec } from "./helpers";

const HOSTILE = 'x" or true or http.host eq "y';
const NS = CONFIG_NAMESPACE;

/** A project folder with Pulumi.yaml and the committed stack files, each with `changes` applied. */
function projectDir(changes: Record<string, Record<string, unknown>> = {}, extraFiles: Record<string, string> = {}): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-zone-"));
    fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
    for (const stack of ["staging", "production"]) {
        const file = `Pulumi.${stack}.yaml`;
        const doc = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, file), "utf8"));
        Object.assign(doc.config, changes[stack] ?? {});
        fs.writeFileSync(path.join(dir, file), YAML.stringify(doc));
    }
    for (const [name, text] of Object.entries(extraFiles)) fs.writeFileSync(path.join(dir, name), text);
    return dir;
}

/** The routes production's program computes from `dir` (its own settings from its own file there). */
function productionRoutes(dir: string): ZoneRoute[] {
    const edge = readEdge(stackFileSource(dir, "production"), "production");
    return readZoneRoutes(dir, { stack: "production", edge });
}

const COMMITTED_ROUTES: ZoneRoute[] = [
    { stack: "production", frontendHostname: "pakashop.store", apiHostname: "api.pakashop.store" },
    { stack: "staging", frontendHostname: "staging.pakashop.store", apiHostname: "api-staging.pakashop.store" },
];

describe("zone routes: other stacks' files", () => {
    const dirs: string[] = [];
    const dir = (...args: Parameters<typeof projectDir>) => {
        const made = projectDir(...args);
        dirs.push(made);
        return made;
    };
    after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

    it("only the committed stacks are read: staging and production", () => {
        assert.deepEqual([...COMMITTED_STACKS].sort(), ["production", "staging"]);
        assert.deepEqual(productionRoutes(dir()), COMMITTED_ROUTES);
    });

    for (const key of ["frontendHostname", "apiHostname"]) {
        it(`a hostile staging ${key} stops production, naming the file, the setting and the value`, () => {
            const hostile = dir({ staging: { [`${NS}:${key}`]: HOSTILE } });
            assert.throws(() => productionRoutes(hostile), (error: Error) => {
                assert.ok(error instanceof SettingError, String(error));
                assert.equal(error.setting, `Pulumi.staging.yaml: ${NS}:${key}`);
                assert.equal(error.value, HOSTILE);
                assert.ok(error.message.startsWith(`Pulumi.staging.yaml: ${NS}:${key} = ${JSON.stringify(HOSTILE)}: may hold only lower-case letters, digits, '-' and '.'`), error.message);
                return true;
            });
        });
    }

    it("a value inside the zone but with a quote in its label is refused as in staging's own run", () => {
        const value = `${HOSTILE}.pakashop.store`;
        const hostile = dir({ staging: { [`${NS}:frontendHostname`]: value } });
        assert.throws(() => productionRoutes(hostile), /^SettingError: Pulumi\.staging\.yaml: pakashop-infra:frontendHostname = .*may hold only lower-case letters, digits/);
    });

    it("staging's own rules apply to its file: a staging hostname without the stack name is refused", () => {
        const hostile = dir({ staging: { [`${NS}:apiHostname`]: "api2.pakashop.store" } });
        assert.throws(() => productionRoutes(hostile), /Pulumi\.staging\.yaml: pakashop-infra:apiHostname = "api2\.pakashop\.store": outside production a hostname carries the stack name/);
    });

    it("Pulumi.yaml's defaults count for a value the other file leaves out", () => {
        const defaults = dir({ staging: { [`${NS}:frontendHostname`]: undefined, [`${NS}:apiHostname`]: undefined } });
        // YAML.stringify drops undefined: staging falls back to the declared defaults, the same values.
        assert.deepEqual(productionRoutes(defaults), COMMITTED_ROUTES);
    });

    it("a developer's Pulumi.dev.yaml in the folder does not change production's routes, even when it claims production's hostnames", () => {
        const dev = `config:\n  ${NS}:frontendHostname: '${HOSTILE}'\n  ${NS}:apiHostname: api.pakashop.store\n`;
        assert.deepEqual(productionRoutes(dir({}, { "Pulumi.dev.yaml": dev, "Pulumi.dev2.yaml": "config:\n  pakashop-infra:frontendHostname: dev2.pakashop.store\n" })), COMMITTED_ROUTES);
    });

    it("a committed stack file that is missing is an error, not a silently dropped route", () => {
        const missing = dir();
        fs.rmSync(path.join(missing, "Pulumi.staging.yaml"));
        assert.throws(() => productionRoutes(missing), /Pulumi\.staging\.yaml is missing/);
    });

    it("apiRouteExpression accepts a hostname and refuses anything else (no value is interpolated into a rule unchecked)", () => {
        assert.equal(apiRouteExpression("staging.pakashop.store"), '(http.host eq "staging.pakashop.store" and starts_with(http.request.uri.path, "/api/"))');
        for (const bad of [HOSTILE, "a\"b.pakashop.store", "a\\b.pakashop.store", "a b.pakashop.store", "Staging.pakashop.store", "a).pakashop.store", "", "pakashop.store\n"]) {
            assert.throws(() => apiRouteExpression(bad), /apiRouteExpression: refusing .*only a lower-case hostname/, JSON.stringify(bad));
        }
    });

    it("npm run plan for production exits 1 with one short block naming the file, the setting, the value and the fix, and no stack trace", function () {
        this.timeout(120_000);
        // A copy of the project whose staging file is hostile; node_modules is shared.
        const copy = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-project-"));
        dirs.push(copy);
        const skip = new Set(["node_modules", ".git", ".pakashop", ".pulumi", "bin"]); // dependencies, history, caches
        for (const entry of fs.readdirSync(REPO_ROOT)) {
            if (skip.has(entry)) continue;
            fs.cpSync(path.join(REPO_ROOT, entry), path.join(copy, entry), { recursive: true });
        }
        fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(copy, "node_modules"));
        const staging = YAML.parse(fs.readFileSync(path.join(copy, "Pulumi.staging.yaml"), "utf8"));
        staging.config[`${NS}:frontendHostname`] = HOSTILE;
        fs.writeFileSync(path.join(copy, "Pulumi.staging.yaml"), YAML.stringify(staging));

        const result = exec(process.execPath, ["--require", "./tools/register.js", "tools/plan.ts", "--stack", "production", "--format", "json"], { cwd: copy });
        assert.equal(result.status, 1, result.output);
        assert.equal(result.output.trim(), [
            `error: bad setting Pulumi.staging.yaml: ${NS}:frontendHostname`,
            `  value: ${JSON.stringify(HOSTILE)}`,
            "  why:   may hold only lower-case letters, digits, '-' and '.' (it ends up in Cloudflare rule expressions)",
            "  fix:   set a hostname in the zone in Pulumi.staging.yaml (this stack reads that file for the shared zone's routes)",
        ].join("\n"), "one block, no stack trace");
    });
});
