/**
 * A newcomer's `npm test` on a machine without shellcheck or systemd-analyze: one failure with
 * one line that names the tool and the install command, and the specs that need the tool
 * skipped, not one `spawnSync ... ENOENT` per test. Checked by running mocha with a PATH from
 * which the tool is removed.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TEST_TOOLS } from "./support/testTools";
import { REPO_ROOT } from "../tools/stackConfig";

/** A folder of links to every command on PATH except `without`. */
function pathWithout(without: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pakashop-path-without-${without}-`));
    for (const source of (process.env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
        let entries: string[];
        try {
            entries = fs.readdirSync(source);
        } catch {
            continue;
        }
        for (const entry of entries) {
            if (entry === without || fs.existsSync(path.join(dir, entry))) continue;
            fs.symlinkSync(path.join(source, entry), path.join(dir, entry));
        }
    }
    return dir;
}

/** Runs mocha as `npm test` does (the requires and reporter of .mocharc.json) on some specs. */
function mocha(specs: string[], searchPath: string): { status: number; output: string } {
    const rc = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, ".mocharc.json"), "utf8")) as { require: string[]; reporter: string };
    const args = [require.resolve("mocha/bin/mocha.js"), "--no-config", ...rc.require.flatMap((r) => ["--require", r]), "--reporter", rc.reporter,
        "--timeout", "60000", ...specs];
    const result = spawnSync(process.execPath, args, { cwd: REPO_ROOT, encoding: "utf8", env: { ...process.env, PATH: searchPath } });
    return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

describe("the test tools npm can't bring", () => {
    const made: string[] = [];
    after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

    it("every spec that runs shellcheck or systemd-analyze is declared, so a missing tool skips it instead of failing each test", () => {
        const specs = fs.readdirSync(path.join(REPO_ROOT, "tests")).filter((f) => f.endsWith(".spec.ts"));
        for (const tool of TEST_TOOLS) {
            const users = specs.filter((f) => fs.readFileSync(path.join(REPO_ROOT, "tests", f), "utf8").includes(`exec("${tool.command}"`));
            assert.deepEqual([...users].sort(), [...tool.specs].sort(), tool.command);
        }
    });

    it("the README's setup line and .ci/run install exactly those Debian packages", () => {
        const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
        const setup = /^sudo apt-get update && sudo apt-get install -y --no-install-recommends ([a-z0-9 -]+?)\s+#/m.exec(readme);
        assert.ok(setup, "README Quick start has an apt-get install line");
        assert.deepEqual(setup[1].split(" ").sort(), [...new Set(TEST_TOOLS.map((t) => t.debianPackage))].sort());
        const ci = fs.readFileSync(path.join(REPO_ROOT, ".ci/run"), "utf8");
        for (const tool of TEST_TOOLS) assert.ok(ci.includes(`[${tool.command}]=${tool.debianPackage}`), `.ci/run installs ${tool.debianPackage}`);
    });

    for (const [tool, specs, pkg] of [
        ["shellcheck", ["tests/drift.spec.ts", "tests/catalog.spec.ts"], "shellcheck"],
        ["systemd-analyze", ["tests/systemdUnit.spec.ts", "tests/catalog.spec.ts"], "systemd"],
    ] as const) {
        it(`without ${tool} the run fails once, with one line naming it and its install command`, function () {
            this.timeout(120_000);
            const searchPath = pathWithout(tool);
            made.push(searchPath);
            const result = mocha([...specs], searchPath);
            assert.equal(result.status, 1, result.output);
            assert.doesNotMatch(result.output, /ENOENT/);
            const summary = /^tests: (\d+) passed, (\d+) failed, (\d+) skipped$/m.exec(result.output);
            assert.ok(summary, result.output);
            assert.equal(Number(summary[2]), 1, "exactly one failure");
            assert.ok(Number(summary[1]) > 0, "the specs that don't need the tool still run");
            assert.ok(Number(summary[3]) > 0, "the specs that need it are skipped");
            const failure = result.output.split("\n").filter((line) => line.includes("is not installed"));
            assert.deepEqual(failure.map((l) => l.trim()), [
                `Error: ${tool} is not installed (Debian package ${pkg}): run sudo apt-get install -y --no-install-recommends ${pkg} (README, Quick start); `
                + `skipped until then: ${specs[0]}`,
            ]);
        });
    }
});
