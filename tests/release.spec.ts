/**
 * The release manifest tool (tools/release.ts) on copies of the committed stack files: it
 * changes exactly the one value, the program's own readers see the new revision, and bad input
 * stops it with exit code 2 and one line.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { readSettings } from "../components/settings";
import { applyRelease, readManifest, REVISION_KEY, SERVICES_KEY, setRevision } from "../tools/release";
import { loadStackConfig, REPO_ROOT } from "../tools/stackConfig";
import { configSource } from "./helpers";

const NEW = "0123456789abcdef0123456789abcdef01234567";
const OLDER = "fedcba9876543210fedcba9876543210fedcba98";
/** Forty digits: YAML would read it as a number unless it is quoted. */
const DIGITS = "1234567890123456789012345678901234567890";

/** A temporary copy of the project's stack files (the tool and the loaders need nothing else). */
function projectCopy(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-release-"));
    for (const file of ["Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml"]) fs.copyFileSync(path.join(REPO_ROOT, file), path.join(dir, file));
    return dir;
}
const stackText = (dir: string, stack: string) => fs.readFileSync(path.join(dir, `Pulumi.${stack}.yaml`), "utf8");
const committed = (stack: string) => stackText(REPO_ROOT, stack);
const committedRevision = (stack: string) => (YAML.parse(committed(stack)).config as Record<string, string>)[REVISION_KEY];

/** Lines that differ between two texts of the same length in lines. */
function changedLines(a: string, b: string): string[] {
    const left = a.split("\n");
    const right = b.split("\n");
    assert.equal(left.length, right.length, "same number of lines");
    return right.filter((line, i) => line !== left[i]);
}

function settingsIn(dir: string, stack: string) {
    return readSettings(configSource(loadStackConfig(stack, {}, dir)), stack);
}

/** Runs the command-line tool as `npm run release` does, on a project copy. */
function cli(dir: string, ...args: string[]) {
    const result = spawnSync(process.execPath, ["--require", "./tools/register.js", "tools/release.ts", "--project-dir", dir, ...args],
        { cwd: REPO_ROOT, encoding: "utf8", env: { ...process.env, PAKASHOP_DEBUG: "" } });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("release manifest (npm run release)", () => {
    const dirs: string[] = [];
    const copy = () => {
        const dir = projectCopy();
        dirs.push(dir);
        return dir;
    };
    after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

    for (const stack of ["staging", "production"]) {
        it(`rewrites only the revision line of the committed Pulumi.${stack}.yaml (comments, order, secure: values kept)`, () => {
            const dir = copy();
            const before = committed(stack);
            const old = committedRevision(stack);
            assert.match(old, /^[0-9a-f]{40}$/);
            const result = setRevision(dir, stack, { revision: NEW });
            assert.equal(result.changed, true);
            assert.equal(result.before, old);
            assert.equal(result.after, NEW);
            const expected = before.replace(`\n  ${REVISION_KEY}: ${old}\n`, `\n  ${REVISION_KEY}: ${NEW}\n`);
            assert.notEqual(expected, before, "the committed file has the revision line the test expects");
            assert.equal(stackText(dir, stack), expected);
            assert.deepEqual(changedLines(before, stackText(dir, stack)), [`  ${REVISION_KEY}: ${NEW}`]);
            // The secure: ciphertexts and every comment are still there, byte for byte.
            for (const line of before.split("\n").filter((l) => /secure:|^\s*#/.test(l))) assert.ok(stackText(dir, stack).includes(line), line);
            // The program's readers see the new revision for every service.
            const settings = settingsIn(dir, stack);
            assert.equal(settings.revision, NEW);
            assert.ok(Object.values(settings.serviceRevisions).every((rev) => rev === NEW));
        });
    }

    it("prints changed, then unchanged on a no-op (and leaves the file as it is)", () => {
        const dir = copy();
        const first = cli(dir, "--stack", "staging", "--revision", NEW);
        assert.equal(first.status, 0, first.stderr);
        assert.equal(first.stdout, "changed\n");
        const after = stackText(dir, "staging");
        const mtime = fs.statSync(path.join(dir, "Pulumi.staging.yaml")).mtimeMs;
        const second = cli(dir, "--stack", "staging", "--revision", NEW);
        assert.equal(second.status, 0, second.stderr);
        assert.equal(second.stdout, "unchanged\n");
        assert.equal(stackText(dir, "staging"), after);
        assert.equal(fs.statSync(path.join(dir, "Pulumi.staging.yaml")).mtimeMs, mtime, "not rewritten");
        // The committed revision itself is a no-op too.
        assert.equal(setRevision(copy(), "production", { revision: committedRevision("production") }).changed, false);
    });

    it("pins one service (services.<id>.revision), moves the pin, and clears it back to the original file", () => {
        const dir = copy();
        const original = committed("staging");
        assert.ok(!(SERVICES_KEY in YAML.parse(original).config), "the committed staging file pins no service");
        const stackRevision = committedRevision("staging");

        assert.equal(setRevision(dir, "staging", { service: "search", revision: OLDER }).changed, true);
        assert.equal(stackText(dir, "staging"), `${original}  ${SERVICES_KEY}:\n    search:\n      revision: ${OLDER}\n`);
        let settings = settingsIn(dir, "staging");
        assert.equal(settings.revision, stackRevision, "the stack's revision is untouched");
        assert.equal(settings.serviceRevisions.search, OLDER);
        assert.deepEqual(Object.entries(settings.serviceRevisions).filter(([, rev]) => rev !== stackRevision).map(([id]) => id), ["search"],
            "every other service stays at the stack's revision");

        // Moving an existing pin is a one-line change.
        const pinned = stackText(dir, "staging");
        setRevision(dir, "staging", { service: "search", revision: NEW });
        assert.deepEqual(changedLines(pinned, stackText(dir, "staging")), [`      revision: ${NEW}`]);

        // A whole-stack bump keeps the pin (and says so).
        const bump = setRevision(dir, "staging", { revision: OLDER });
        assert.deepEqual(bump.pinned, { search: NEW });
        settings = settingsIn(dir, "staging");
        assert.equal(settings.revision, OLDER);
        assert.equal(settings.serviceRevisions.search, NEW);
        assert.equal(settings.serviceRevisions.backend, OLDER);

        // Clearing removes the pin, the emptied service and the emptied map.
        const cleared = setRevision(dir, "staging", { service: "search", clear: true });
        assert.equal(cleared.changed, true);
        assert.equal(stackText(dir, "staging"), original.replace(stackRevision, OLDER));
        assert.equal(settingsIn(dir, "staging").serviceRevisions.search, OLDER);
        assert.equal(setRevision(dir, "staging", { service: "search", clear: true }).changed, false, "clearing twice is a no-op");
    });

    it("clears only the revision of a service that has other overrides, and keeps other pins", () => {
        const base = `config:\n  ${REVISION_KEY}: ${NEW}\n  # pins\n  ${SERVICES_KEY}:\n    search:\n      port: 3100 # moved\n      revision: ${OLDER}\n    backend:\n      revision: ${OLDER}\n`;
        const { text, result } = applyRelease(base, "Pulumi.x.yaml", { service: "search", clear: true });
        assert.equal(result.changed, true);
        assert.equal(text, `config:\n  ${REVISION_KEY}: ${NEW}\n  # pins\n  ${SERVICES_KEY}:\n    search:\n      port: 3100 # moved\n    backend:\n      revision: ${OLDER}\n`);
        assert.deepEqual(result.pinned, { backend: OLDER });
        // A value with a comment after it and in quotes keeps both.
        const quoted = `config:\n  ${REVISION_KEY}: '${OLDER}' # released 2024-05-01\n`;
        assert.equal(applyRelease(quoted, "Pulumi.x.yaml", { revision: NEW }).text, `config:\n  ${REVISION_KEY}: '${NEW}' # released 2024-05-01\n`);
    });

    it("quotes a commit id YAML would read as a number, so the program still reads a string", () => {
        const dir = copy();
        setRevision(dir, "staging", { revision: DIGITS });
        assert.deepEqual(changedLines(committed("staging"), stackText(dir, "staging")), [`  ${REVISION_KEY}: "${DIGITS}"`]);
        assert.equal(settingsIn(dir, "staging").revision, DIGITS);
        setRevision(dir, "staging", { service: "fraud", revision: DIGITS });
        assert.equal(settingsIn(dir, "staging").serviceRevisions.fraud, DIGITS);
    });

    it("refuses a structural edit of a file it could not render back unchanged, and writes nothing", () => {
        // Odd indentation the yaml package would normalise: a pin would move other lines too.
        const odd = `config:\n   ${REVISION_KEY}: ${NEW}\n   aws:allowedAccountIds: [ "111111111111" ]\n`;
        assert.throws(() => applyRelease(odd, "Pulumi.x.yaml", { service: "search", revision: OLDER }), /would be reformatted.*pulumi config set --path/);
        // The value itself can still be replaced in place.
        assert.equal(applyRelease(odd, "Pulumi.x.yaml", { revision: OLDER }).text, odd.replace(NEW, OLDER));
        // A revision that is a secret or a map is never rewritten.
        assert.throws(() => applyRelease(`config:\n  ${REVISION_KEY}:\n    secure: v1:abc\n`, "Pulumi.x.yaml", { revision: OLDER }), /not a plain string/);
    });

    it("adds and clears a pin in a file with flow sequences written either way ([a, b] and [ a, b ])", () => {
        for (const list of ["[/api/v1/health, /api/v1/health/ready]", "[ /api/v1/health, /api/v1/health/ready ]"]) {
            const text = `config:\n  ${REVISION_KEY}: ${NEW}\n  pakashop-infra:verification:\n    smokePaths: ${list}\n`;
            const pinned = applyRelease(text, "Pulumi.x.yaml", { service: "search", revision: OLDER }).text;
            assert.equal(pinned, `${text}  ${SERVICES_KEY}:\n    search:\n      revision: ${OLDER}\n`, list);
            assert.equal(applyRelease(pinned, "Pulumi.x.yaml", { service: "search", clear: true }).text, text, list);
        }
    });

    const BAD: { what: string; args: string[]; line: RegExp }[] = [
        { what: "a short revision", args: ["--stack", "staging", "--revision", "4f1c2d8"], line: /^error: --revision = "4f1c2d8": must be a full 40-character lower-case git commit id .*Fix: pass the full id: --revision "\$\(git rev-parse <commit>\)"$/ },
        { what: "a branch name as revision", args: ["--stack", "staging", "--revision", "main"], line: /^error: --revision = "main": must be a full 40-character .*Fix: / },
        { what: "an upper-case revision", args: ["--stack", "staging", "--revision", NEW.toUpperCase()], line: new RegExp(`^error: --revision = "${NEW.toUpperCase()}": .*Fix: write it in lower case: --revision ${NEW}$`) },
        { what: "an unknown service", args: ["--stack", "staging", "--service", "serach", "--revision", NEW], line: /^error: --service = "serach": is not a service of the catalog \(gateway, .*search.*\)\. Fix: use a service id from components\/catalog\.ts$/ },
        { what: "an unknown stack", args: ["--stack", "dev", "--revision", NEW], line: /^error: --stack = "dev": is not a committed stack \(staging, production\).*Fix: use --stack staging or --stack production$/ },
        { what: "--clear with a revision", args: ["--stack", "staging", "--service", "search", "--clear", "--revision", NEW], line: /^error: --clear = true: and --revision exclude each other\. Fix: / },
    ];
    for (const bad of BAD) {
        it(`stops on ${bad.what}: exit code 2, one line naming the flag, the value and the fix, file untouched`, () => {
            const dir = copy();
            const result = cli(dir, ...bad.args);
            assert.equal(result.status, 2, result.stderr);
            assert.equal(result.stdout, "");
            const lines = result.stderr.split("\n").filter(Boolean);
            assert.equal(lines.length, 1, result.stderr);
            assert.match(lines[0], bad.line);
            assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
            assert.equal(stackText(dir, "staging"), committed("staging"));
        });
    }

    describe("--show: what the manifest records, as one JSON line", () => {
        for (const stack of ["staging", "production"]) {
            it(`prints the committed Pulumi.${stack}.yaml's revision and no pins, exactly, and changes nothing`, () => {
                const dir = copy();
                const result = cli(dir, "--stack", stack, "--show");
                assert.equal(result.status, 0, result.stderr);
                assert.equal(result.stderr, "");
                assert.equal(result.stdout, `{"revision":"${committedRevision(stack)}","pins":{}}\n`);
                assert.equal(stackText(dir, stack), committed(stack));
            });
        }

        it("lists a pinned service with its own revision (and the stack's revision unchanged)", () => {
            const dir = copy();
            // The pin as `pulumi config set --path` writes it (set in the text: this test is about reading it).
            const line = `  ${REVISION_KEY}: ${committedRevision("staging")}\n`;
            assert.ok(committed("staging").includes(line));
            fs.writeFileSync(path.join(dir, "Pulumi.staging.yaml"), committed("staging").replace(line, `${line}  ${SERVICES_KEY}:\n    search:\n      revision: ${NEW}\n`));
            const result = cli(dir, "--stack", "staging", "--show");
            assert.equal(result.status, 0, result.stderr);
            assert.equal(result.stdout, `{"revision":"${committedRevision("staging")}","pins":{"search":"${NEW}"}}\n`);
            assert.deepEqual(JSON.parse(result.stdout), { revision: committedRevision("staging"), pins: { search: NEW } });
            // A whole-stack bump keeps the pin.
            setRevision(dir, "staging", { revision: OLDER });
            assert.equal(cli(dir, "--stack", "staging", "--show").stdout, `{"revision":"${OLDER}","pins":{"search":"${NEW}"}}\n`);
        });

        const USAGE_ERRORS: { what: string; args: string[]; first: RegExp }[] = [
            { what: "--show with --revision", args: ["--stack", "staging", "--show", "--revision", NEW], first: /^--show only prints the manifest: drop --revision, --service and --clear$/ },
            { what: "--show with --service", args: ["--stack", "staging", "--service", "search", "--show"], first: /^--show only prints the manifest: drop --revision, --service and --clear$/ },
            { what: "--show with --clear", args: ["--stack", "staging", "--show", "--clear"], first: /^--show only prints the manifest: drop --revision, --service and --clear$/ },
            { what: "--show=yes", args: ["--stack", "staging", "--show=yes"], first: /^--show takes no value$/ },
            { what: "--show without --stack", args: ["--show"], first: /^--stack is required$/ },
        ];
        for (const bad of USAGE_ERRORS) {
            it(`refuses ${bad.what}: exit code 2, the problem and the usage, nothing on stdout`, () => {
                const dir = copy();
                const result = cli(dir, ...bad.args);
                assert.equal(result.status, 2, result.stderr);
                assert.equal(result.stdout, "");
                const lines = result.stderr.split("\n").filter(Boolean);
                assert.match(lines[0], bad.first);
                assert.match(lines[1], /^usage: npm run -s release -- .*--show\)$/);
                assert.equal(lines.length, 2);
                assert.equal(stackText(dir, "staging"), committed("staging"));
            });
        }

        it("refuses a stack without a manifest (exit 2) and a manifest that names no full commit (exit 1), one line each", () => {
            const dir = copy();
            const dev = cli(dir, "--stack", "dev", "--show");
            assert.equal(dev.status, 2);
            assert.equal(dev.stdout, "");
            assert.match(dev.stderr, /^error: --stack = "dev": is not a committed stack \(staging, production\).*Fix: use --stack staging or --stack production\n$/);
            const file = path.join(dir, "Pulumi.staging.yaml");
            fs.writeFileSync(file, committed("staging").replace(`${REVISION_KEY}: ${committedRevision("staging")}`, `${REVISION_KEY}: main`));
            const branch = cli(dir, "--stack", "staging", "--show");
            assert.equal(branch.status, 1);
            assert.equal(branch.stdout, "");
            assert.equal(branch.stderr, `error: Pulumi.staging.yaml: ${REVISION_KEY} is "main", not a full 40-character commit id; record one with npm run -s release -- --stack <stack> --revision <commit>\n`);
            assert.throws(() => readManifest(`config:\n  ${SERVICES_KEY}:\n    search:\n      revision: abc\n  ${REVISION_KEY}: ${NEW}\n`, "x/Pulumi.staging.yaml"),
                /^Error: Pulumi\.staging\.yaml: pakashop-infra:services\.search\.revision is "abc", not a full 40-character commit id$/);
            assert.deepEqual(readManifest(`config:\n  ${REVISION_KEY}: "${DIGITS}"\n`, "Pulumi.staging.yaml"), { revision: DIGITS, pins: {} });
        });
    });

    it("the checks above can fail: a tool that rewrote more than the one line would be caught", () => {
        // The comparison the tests rely on reports a reformatted file.
        const reformatted = YAML.stringify(YAML.parse(committed("staging")));
        assert.throws(() => changedLines(committed("staging"), reformatted));
        assert.notEqual(reformatted, committed("staging"));
    });
});
