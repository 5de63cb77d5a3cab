/**
 * The e2e fixture monorepo (tests/e2e/fixture.ts) and the seed's deploy world
 * (tests/e2e/seedDeploy.ts), checked without a test host: the vendored packages match their
 * sources, the lockfile is what npm itself writes, the commits change what they say, the
 * seed's deploy.sh is its text byte for byte, the seed layout's scripts pass shellcheck, and
 * the seed remote serves a branch the benchmark can move. Building and running the services
 * offline on the host OS is tests/e2e/fixtureCheck.ts's job.
 */
import { strict as assert } from "assert";
import { execFile } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { CATALOG } from "../components/catalog";
import {
    createReleaseRepository, FIXTURE_DIR, GO_VENDOR, NPM_VENDOR, npmTarball, PYTHON_WHEEL, ReleaseRepository, renderServiceFiles, SEED_DEPLOY_SCRIPT,
} from "./e2e/fixture";
import { createSeedRemote, renderSeedInstallScript, renderSeedRemoveScript, renderSeedUnit, SEED_DEPLOY_COMMAND } from "./e2e/seedDeploy";
import { exec } from "./helpers";
import { onPath } from "./support/testTools";

/** The seed document (the sibling checkout's shared folder), when this machine has it. */
const SEED_DOCUMENT = path.resolve(__dirname, "..", "..", "shared", "seed", "000_39808608e3d4f2d7.txt");

/** Section 5.2's script block: from its shebang to its last `echo`, as the seed prints it. */
function seedDeployBlock(document: string): string {
    const lines = document.split("\n");
    const start = lines.indexOf("#!/bin/bash");
    const end = lines.indexOf('echo "Deployment to $ENV completed successfully"', start);
    assert.ok(start >= 0 && end > start, "the seed document has no deploy.sh block");
    return `${lines.slice(start, end + 1).join("\n")}\n`;
}

function tempDir(t: string): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), `pakashop-${t}-`));
}

function writeFiles(dir: string, files: ReturnType<typeof renderServiceFiles>): void {
    for (const [relative, file] of Object.entries(files)) {
        const target = path.join(dir, relative);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, file.content);
    }
}

function mustExec(command: string, args: string[], cwd?: string): string {
    const result = exec(command, args, { cwd });
    assert.equal(result.status, 0, `${command} ${args.join(" ")}: ${result.output}`);
    return result.output.trim();
}

describe("e2e fixture: vendored dependencies", () => {
    it("the seed's deploy.sh is committed byte for byte (section 5.2, `# if applicable` included)", function () {
        if (!fs.existsSync(SEED_DOCUMENT)) this.skip();
        const committed = fs.readFileSync(path.join(FIXTURE_DIR, SEED_DEPLOY_SCRIPT.template), "utf8");
        assert.equal(committed, seedDeployBlock(fs.readFileSync(SEED_DOCUMENT, "utf8")));
        assert.match(committed, /^npx prisma migrate deploy # if applicable$/m);
    });

    it("the Prisma stand-in's tarball holds tests/e2e/fixture/prisma as npm packs it (prisma.js executable)", () => {
        const dir = tempDir("prisma-tgz");
        try {
            const pkg = NPM_VENDOR.find((p) => p.name === "prisma")!;
            mustExec("tar", ["-xzf", path.join(FIXTURE_DIR, "vendor", npmTarball(pkg)), "-C", dir]);
            assert.deepEqual(fs.readdirSync(path.join(dir, "package")).sort(), ["package.json", "prisma.js"]);
            for (const name of ["package.json", "prisma.js"]) {
                assert.equal(fs.readFileSync(path.join(dir, "package", name), "utf8"), fs.readFileSync(path.join(FIXTURE_DIR, "prisma", name), "utf8"), `${name} differs: re-run npm pack`);
            }
            assert.equal(fs.statSync(path.join(dir, "package", "prisma.js")).mode & 0o111, 0o111);
            const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package", "package.json"), "utf8"));
            assert.deepEqual({ version: manifest.version, license: manifest.license, bin: manifest.bin }, { version: pkg.version, license: pkg.license, bin: pkg.bin });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("ms is the registry's ms 2.1.3 (its published integrity)", () => {
        const bytes = fs.readFileSync(path.join(FIXTURE_DIR, "vendor", "ms-2.1.3.tgz"));
        assert.equal(`sha512-${createHash("sha512").update(bytes).digest("base64")}`,
            "sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==");
    });

    it("the wheel is what build_wheel.py makes from pakashop_fixturekit/, byte for byte", function () {
        if (!onPath("python3")) this.skip();
        const dir = tempDir("wheel");
        try {
            mustExec("python3", [path.join(FIXTURE_DIR, "python", "build_wheel.py"), dir]);
            assert.ok(fs.readFileSync(path.join(dir, PYTHON_WHEEL)).equals(fs.readFileSync(path.join(FIXTURE_DIR, "vendor", PYTHON_WHEEL))), "the committed wheel is stale: rebuild it");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a Node service's package-lock.json is exactly what npm writes for its package.json (offline)", function () {
        if (!onPath("npm")) this.skip();
        this.timeout(60_000);
        const dir = tempDir("lockfile");
        try {
            const files = renderServiceFiles(CATALOG.services.config, "v1");
            writeFiles(dir, files);
            fs.rmSync(path.join(dir, "package-lock.json"));
            mustExec("npm", ["install", "--package-lock-only", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], dir);
            assert.equal(fs.readFileSync(path.join(dir, "package-lock.json"), "utf8"), files["package-lock.json"].content);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("every service uses its language's dependency: Node requires ms and has the stand-in, Go imports the vendored module, Python the hashed wheel", () => {
        const wheelSha = createHash("sha256").update(fs.readFileSync(path.join(FIXTURE_DIR, "vendor", PYTHON_WHEEL))).digest("hex");
        for (const service of Object.values(CATALOG.services)) {
            const files = renderServiceFiles(service, "v1");
            const code = String(files[service.language === "go" ? "src/main.go" : service.entryPoint].content);
            switch (service.language) {
                case "node":
                    assert.match(code, /require\("ms"\)/);
                    assert.deepEqual(Object.keys(JSON.parse(String(files["package.json"].content)).dependencies), ["ms", "prisma"]);
                    for (const pkg of NPM_VENDOR) assert.ok(files[`vendor/${npmTarball(pkg)}`], `${service.id}: vendor/${npmTarball(pkg)}`);
                    break;
                case "go":
                    assert.match(code, new RegExp(`"${GO_VENDOR.module}"`));
                    assert.match(String(files["go.mod"].content), new RegExp(`^require ${GO_VENDOR.module} ${GO_VENDOR.version}$`, "m"));
                    assert.equal(files["vendor/modules.txt"].content, `# ${GO_VENDOR.module} ${GO_VENDOR.version}\n## explicit; go 1.22\n${GO_VENDOR.module}\n`);
                    break;
                case "python":
                    assert.match(code, /^from pakashop_fixturekit import banner$/m);
                    assert.equal(files["requirements.txt"].content, `./vendor/${PYTHON_WHEEL} --hash=sha256:${wheelSha}\n`);
                    break;
            }
        }
    });
});

describe("e2e fixture: the monorepo's commits", function () {
    this.timeout(120_000);
    let dir: string;
    let repo: ReleaseRepository;
    const git = (...args: string[]) => mustExec("git", ["-C", repo.path, ...args]);

    before(async () => {
        dir = tempDir("fixture-repo");
        repo = await createReleaseRepository(path.join(dir, "repo"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("v1, v2, broken, v3 in that order on main (its tip v3), production at v1, config the changed and broken service", () => {
        assert.equal(git("rev-list", "--reverse", "main"), [repo.commits.v1, repo.commits.v2, repo.commits.broken, repo.commits.v3].join("\n"));
        assert.equal(git("rev-parse", "production"), repo.commits.v1);
        assert.equal(repo.changedService, "config");
        assert.equal(repo.brokenService, "config");
    });

    it("v2 changes config's code only; v3 every service's code and nothing else", () => {
        assert.equal(git("diff", "--name-only", repo.commits.v1, repo.commits.v2), "services/config/src/index.js");
        const v3 = git("diff", "--name-only", repo.commits.v2, repo.commits.v3).split("\n");
        const code = Object.values(CATALOG.services).map((s) => `services/${s.id}/${s.language === "go" ? "src/main.go" : s.entryPoint}`);
        assert.deepEqual(v3.sort(), code.sort());
    });

    it("scripts/deploy.sh is the seed's, mode 755, from v1 on", () => {
        const expected = fs.readFileSync(path.join(FIXTURE_DIR, SEED_DEPLOY_SCRIPT.template), "utf8");
        for (const commit of [repo.commits.v1, repo.commits.v3]) {
            assert.match(git("ls-tree", commit, SEED_DEPLOY_SCRIPT.repoPath), /^100755 blob /);
            assert.equal(`${git("show", `${commit}:${SEED_DEPLOY_SCRIPT.repoPath}`)}\n`, expected);
        }
    });

    it("the seed remote serves the branch over HTTP and moves it: a clone, then a fast-forward `git pull origin main`", async () => {
        const remote = await createSeedRemote(repo.path, "127.0.0.1", { commit: repo.commits.v1 });
        const clone = path.join(dir, "clone");
        // Asynchronously: the server answers from this process's event loop. No identity and
        // no user configuration, as on a fresh host.
        const gitAsync = async (...args: string[]) => (await promisify(execFile)("git", ["-c", "user.useConfigOnly=true", ...args],
            { env: { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" } })).stdout.trim();
        try {
            await gitAsync("clone", "--quiet", "--branch", "main", remote.url, clone);
            assert.equal(await gitAsync("-C", clone, "rev-parse", "HEAD"), repo.commits.v1);
            await remote.setBranch(repo.commits.v3);
            await gitAsync("-C", clone, "pull", "--quiet", "origin", "main");
            assert.equal(await gitAsync("-C", clone, "rev-parse", "HEAD"), repo.commits.v3);
            await assert.rejects(remote.setBranch("0".repeat(40)), /is not a commit of the fixture/);
        } finally {
            await remote.close();
        }
    });
});

describe("seed deploy layout (tests/e2e/seedDeploy.ts)", () => {
    const opts = { remoteUrl: "http://10.216.1.1:4000/pakashop.git", branch: "main", commit: "c".repeat(40) };

    it("one unit per service, table 3.1's name and port, running from services/<id> as each language needs", () => {
        const units = Object.fromEntries(Object.values(CATALOG.services).map((s) => [s.id, renderSeedUnit(s)]));
        assert.match(units.config, /^WorkingDirectory=\/opt\/pakashop\/services\/config\nEnvironment=PORT=3085\nExecStart=\/usr\/bin\/node src\/index.js$/m);
        assert.match(units.search, /^ExecStart=\/opt\/pakashop\/services\/search\/bin\/search$/m);
        assert.match(units.moderation, /^ExecStart=\/opt\/pakashop\/services\/moderation\/venv\/bin\/python main.py$/m);
        const script = renderSeedInstallScript(opts);
        for (const service of Object.values(CATALOG.services)) assert.ok(script.includes(`/etc/systemd/system/pakashop-${service.id}.service`));
        assert.match(script, /python3 -m venv '?\/opt\/pakashop\/services\/moderation\/venv'?$/m);
    });

    it("the units pass systemd-analyze verify's syntax checks", function () {
        if (!onPath("systemd-analyze")) this.skip();
        const dir = tempDir("seed-units");
        try {
            const file = path.join(dir, "pakashop-config.service");
            fs.writeFileSync(file, renderSeedUnit(CATALOG.services.config));
            const result = exec("systemd-analyze", ["verify", "--man=no", file]);
            // The working directory and binaries are on the host, not here: only syntax counts.
            assert.doesNotMatch(result.output, /Unknown (key|section)|Failed to parse|bad-setting/i, result.output);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("the install and remove scripts pass shellcheck", function () {
        if (!onPath("shellcheck")) this.skip();
        for (const script of [renderSeedInstallScript(opts), renderSeedRemoveScript(), renderSeedRemoveScript(CATALOG, { keepCaches: true })]) {
            const result = exec("shellcheck", ["--shell", "bash", "--severity=style", "-"], { input: script });
            assert.equal(result.status, 0, result.output);
        }
    });

    it("refuses a commit that is not a full id; deploys as the seed's workflow does", () => {
        assert.throws(() => renderSeedInstallScript({ ...opts, commit: "main" }), /not a full commit id/);
        assert.equal(SEED_DEPLOY_COMMAND, "cd /opt/pakashop && ./scripts/deploy.sh staging");
    });
});
