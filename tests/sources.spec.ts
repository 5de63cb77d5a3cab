/**
 * Packing the services' sources on the machine running Pulumi (components/sources.ts), from a
 * real git repository: what is packed, that it is reproducible, and every way it is refused.
 */
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { SettingError } from "../components/errors";
import { allowPlaceholderSources, packServiceSources, SERVICES_REPOSITORY_ENV, SOURCES_CACHE_DIR, UNPACKED, zeroTarTimes } from "../components/sources";

const GIT_ENV = {
    ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.invalid", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.invalid",
    GIT_AUTHOR_DATE: "2024-01-01T00:00:00Z", GIT_COMMITTER_DATE: "2024-01-01T00:00:00Z",
};

function git(repo: string, ...args: string[]): string {
    return execFileSync("git", ["-C", repo, ...args], { env: GIT_ENV, encoding: "utf8" }).trim();
}

function commit(repo: string, files: Record<string, string>, message: string): string {
    for (const [file, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
        fs.writeFileSync(path.join(repo, file), text);
    }
    git(repo, "add", "--all");
    git(repo, "commit", "--quiet", "-m", message);
    return git(repo, "rev-parse", "HEAD");
}

/** Runs `body` and returns the SettingError it throws (fails if it throws nothing else). */
function settingError(body: () => unknown): SettingError {
    try {
        body();
    } catch (error) {
        assert.ok(error instanceof SettingError, String(error));
        return error;
    }
    assert.fail("expected a SettingError");
}

describe("service sources packed from a clone of the monorepo", () => {
    let dir: string;
    let repo: string;
    let project: string;
    let onMain: string;
    let offMain: string;

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-sources-"));
        repo = path.join(dir, "monorepo");
        project = path.join(dir, "project");
        fs.mkdirSync(project);
        fs.mkdirSync(repo);
        git(repo, "init", "--quiet", "-b", "main");
        onMain = commit(repo, { "services/gateway/index.js": "gateway v1\n", "services/config/index.js": "config v1\n", "frontend/page.js": "not a service\n" }, "v1");
        git(repo, "checkout", "--quiet", "-b", "feature/x");
        offMain = commit(repo, { "services/gateway/index.js": "unreviewed\n" }, "feature work");
        git(repo, "checkout", "--quiet", "main");
    });

    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const pack = (revisions: Record<string, string>, env: NodeJS.ProcessEnv = { [SERVICES_REPOSITORY_ENV]: repo }, branch = "main") =>
        packServiceSources({ projectDir: project, branch, serviceRevisions: revisions, env });

    it("packs exactly the content of services/<id>/ at the revision, named by its git tree, with the SHA-256 of the file it ships", () => {
        const sources = pack({ gateway: onMain, config: onMain });
        assert.deepEqual(Object.keys(sources).sort(), ["config", "gateway"]);
        // The tree id is git's own, read independently of the code under test.
        assert.equal(sources.gateway.tree, git(repo, "ls-tree", "--object-only", onMain, "services/gateway"));
        const file = path.join(project, SOURCES_CACHE_DIR, `gateway-${sources.gateway.tree}.tar`);
        assert.ok(fs.existsSync(file));
        assert.equal(sources.gateway.sha256, createHash("sha256").update(fs.readFileSync(file)).digest("hex"));
        assert.equal(sources.gateway.packed, true);
        // Entries at the root (the host unpacks into the release folder as is), all dated 1970.
        const listing = execFileSync("tar", ["--utc", "-tvf", file], { encoding: "utf8" }).trim().split("\n");
        assert.deepEqual(listing.map((line) => line.split(/\s+/).slice(3).join(" ")), ["1970-01-01 00:00 index.js"]);
    });

    it("identifies a service by its folder's content: a commit that leaves the folder alone gives the same tree and the same bytes; one that changes it, new ones", () => {
        const before = pack({ gateway: onMain, config: onMain });
        const later = commit(repo, { "services/config/index.js": "config v2\n", "frontend/page.js": "changed too\n" }, "config v2");
        try {
            // Packed again from nothing, in a later second (git dates a tree archive `now`): the
            // same bytes only because the content is all that goes into them.
            fs.rmSync(path.join(project, SOURCES_CACHE_DIR), { recursive: true });
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
            const after = pack({ gateway: later, config: later });
            assert.deepEqual([after.gateway.tree, after.gateway.sha256], [before.gateway.tree, before.gateway.sha256], "gateway did not change");
            assert.notEqual(after.config.tree, before.config.tree);
            assert.notEqual(after.config.sha256, before.config.sha256);
            assert.equal(after.gateway.revision, later);
        } finally {
            git(repo, "reset", "--quiet", "--hard", onMain);
        }
    });

    it("zeroes the time stamps of every tar header, long paths (pax headers) included, and keeps the archive readable", () => {
        const longName = `services/gateway/${"deep/".repeat(25)}file.js`;
        const later = commit(repo, { [longName]: "deep\n" }, "long path");
        try {
            const tree = git(repo, "rev-parse", `${later}:services/gateway`);
            const raw = execFileSync("git", ["-C", repo, "archive", "--format=tar", tree]);
            const fixed = zeroTarTimes(raw);
            assert.notDeepEqual(raw, fixed, "git dates a tree archive now");
            const listDir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-tar-"));
            try {
                fs.writeFileSync(path.join(listDir, "a.tar"), fixed);
                execFileSync("tar", ["-xf", "a.tar"], { cwd: listDir });
                assert.equal(fs.readFileSync(path.join(listDir, longName.replace("services/gateway/", "")), "utf8"), "deep\n");
                const dates = execFileSync("tar", ["--utc", "-tvf", "a.tar"], { cwd: listDir, encoding: "utf8" }).trim().split("\n").map((l) => l.split(/\s+/)[3]);
                assert.deepEqual([...new Set(dates)], ["1970-01-01"]);
            } finally {
                fs.rmSync(listDir, { recursive: true, force: true });
            }
        } finally {
            git(repo, "reset", "--quiet", "--hard", onMain);
        }
    });

    it("packs reproducibly: the same revision gives the same bytes, whatever the machine's git config, so an unchanged step stays unchanged", () => {
        const first = pack({ gateway: onMain }).gateway.sha256;
        fs.rmSync(path.join(project, SOURCES_CACHE_DIR), { recursive: true });
        assert.equal(pack({ gateway: onMain }).gateway.sha256, first);
        // A machine that converts line endings and has another umask for archives.
        fs.rmSync(path.join(project, SOURCES_CACHE_DIR), { recursive: true });
        git(repo, "config", "core.autocrlf", "true");
        git(repo, "config", "tar.umask", "0077");
        try {
            assert.equal(pack({ gateway: onMain }).gateway.sha256, first);
        } finally {
            git(repo, "config", "--unset", "core.autocrlf");
            git(repo, "config", "--unset", "tar.umask");
        }
    });

    it("refuses a revision that is not on the stack's branch, naming it and the branch", () => {
        const error = settingError(() => pack({ gateway: offMain }));
        assert.equal(error.setting, "pakashop-infra:revision");
        assert.equal(error.value, offMain);
        assert.match(error.rule, /is not on branch main/);
        // The same commit is fine for a stack whose branch holds it.
        git(repo, "branch", "--quiet", "production", offMain);
        assert.equal(pack({ gateway: offMain }, undefined, "production").gateway.revision, offMain);
    });

    it("refuses a commit the clone does not have, and a revision without the service's folder", () => {
        const missing = "0123456789abcdef0123456789abcdef01234567";
        assert.match(settingError(() => pack({ gateway: missing })).message, /is not a commit of the clone .* Fix: fetch it/);
        assert.match(settingError(() => pack({ search: onMain })).message, /has no folder services\/search/);
        // A per-service override is named as such.
        const override = settingError(() => packServiceSources({ projectDir: project, branch: "main", serviceRevisions: { gateway: missing },
            env: { [SERVICES_REPOSITORY_ENV]: repo }, revisionSetting: (id) => `pakashop-infra:services.${id}.revision` }));
        assert.equal(override.setting, "pakashop-infra:services.gateway.revision");
    });

    it("refuses to run without a clone, with the variable to set; only the offline tools may plan with placeholders", () => {
        const error = settingError(() => pack({ gateway: onMain }, {}));
        assert.equal(error.setting, SERVICES_REPOSITORY_ENV);
        assert.match(error.fix, /export PAKASHOP_SERVICES_REPO=/);
        assert.match(settingError(() => pack({ gateway: onMain }, { [SERVICES_REPOSITORY_ENV]: dir })).rule, /is not a git repository git can use \(fatal: not a git repository/);
        // An environment variable can't turn placeholders on; only the offline tools can.
        assert.equal(settingError(() => pack({ gateway: onMain }, { PAKASHOP_PLACEHOLDER_SOURCES: "1" })).setting, SERVICES_REPOSITORY_ENV);
        allowPlaceholderSources(true);
        try {
            const placeholder = pack({ gateway: onMain }, {}).gateway;
            assert.deepEqual([placeholder.packed, placeholder.sha256, placeholder.tree], [false, UNPACKED, UNPACKED]);
        } finally {
            allowPlaceholderSources(false);
        }
    });

    it("refuses a clone without the stack's branch", () => {
        assert.match(settingError(() => pack({ gateway: onMain }, undefined, "release")).rule, /has no branch release/);
    });
});
