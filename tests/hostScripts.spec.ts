/**
 * The host-side scripts of the two phases (host/prepare, host/switch): shellcheck on every
 * rendered script, release identity, the switch plan, quoting, and the pure bash parts run for
 * real with bash on this machine (the health gate against a local HTTP server, the "needs
 * switching" decision, the unpacking of a tree archive, the refusal of an unprepared release).
 * The whole prepare runs only as root on a host (see the e2e suite); nothing here needs root.
 */
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { CATALOG, Catalog, LANGUAGES, ServiceSpec } from "../components/catalog";
import { rolloutWaves } from "../components/rollout";
import { renderBootstrapScript } from "../host/bootstrap";
import { incomingSourceArchive } from "../host/layout";
import { PREPARE_LOG, releaseIdOf, renderPrepareScript } from "../host/prepare/prepareScript";
import { renderUnpackSourceFunction } from "../host/prepare/unpackSource";
import { renderDestroyScript } from "../host/switch/destroyScript";
import { HEALTH_POLL_MS } from "../host/switch/healthGate";
import { JOURNAL_TAIL_LINES, readSwitchPlan, renderEnvironmentFile, renderSwitchScript, SWITCH_PLAN_MARKER, switchPlan } from "../host/switch/switchScript";
import { exec } from "./helpers";
import { switchOnRoots } from "./support/switchPlan";
import { onPath } from "./support/testTools";

const run = promisify(execFile);
const TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
const SHA = "b".repeat(64);
const HOST_ID = "i-0123456789abcdef0";

function releasesOf(catalog: Catalog, tree = TREE): Record<string, string> {
    return Object.fromEntries(Object.values(catalog.services).map((s) => [s.id, releaseIdOf(s, tree)]));
}

function prepareScript(service: ServiceSpec): string {
    return renderPrepareScript(service, { releaseId: releaseIdOf(service, TREE), sha256: SHA });
}

function switchScript(catalog: Catalog = CATALOG): string {
    return renderSwitchScript(catalog, releasesOf(catalog), { healthTimeoutSeconds: 90 });
}

/** The text of a bash function `name() { ... }` of a rendered script (top-level, closing `}` alone on a line). */
function bashFunction(script: string, name: string): string {
    const lines = script.split("\n");
    const start = lines.findIndex((l) => l === `${name}() {`);
    assert.notEqual(start, -1, `no function ${name} in the script`);
    const end = lines.findIndex((l, i) => i > start && l === "}");
    return lines.slice(start, end + 1).join("\n");
}

/** A service of each language, and the catalog's own. */
const ONE_PER_LANGUAGE = LANGUAGES.map((language) => Object.values(CATALOG.services).find((s) => s.language === language) as ServiceSpec);

function withTemp<T>(body: (dir: string) => T): T {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-host-"));
    try {
        return body(dir);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

describe("host scripts: shellcheck", function () {
    before(function () {
        if (!onPath("shellcheck")) this.skip();
    });
    const scripts: Record<string, string> = {
        switch: switchScript(),
        destroy: renderDestroyScript(HOST_ID),
        bootstrap: renderBootstrapScript("admin", HOST_ID),
    };
    for (const service of Object.values(CATALOG.services)) scripts[`prepare ${service.id} (${service.language})`] = prepareScript(service);
    for (const [name, text] of Object.entries(scripts)) {
        it(`${name} passes shellcheck and bash -n`, () => {
            const checked = exec("shellcheck", ["--shell", "bash", "--severity=style", "--external-sources", "-"], { input: text });
            assert.equal(checked.status, 0, checked.output);
            const parsed = exec("bash", ["-n"], { input: text });
            assert.equal(parsed.status, 0, parsed.output);
        });
    }
});

describe("release identity", () => {
    const node = CATALOG.services.config;

    it("is the same for the same folder content and recipe, whatever else differs", () => {
        assert.equal(releaseIdOf(node, TREE), releaseIdOf({ ...node }, TREE));
        assert.match(releaseIdOf(node, TREE), /^[0-9a-f]{20}$/);
        // Nothing the prepare does not use: port, health path, tier, migrations, display name.
        const unbuilt = { ...node, port: 4999, healthPath: "/other", tier: "core", runsMigrations: true, displayName: "X" };
        assert.equal(releaseIdOf(unbuilt, TREE), releaseIdOf(node, TREE));
        // The shipped tarball's checksum and the release id are not part of the recipe.
        assert.equal(renderPrepareScript(node, { releaseId: "", sha256: "" }), renderPrepareScript(node, { releaseId: "", sha256: "" }));
    });

    it("changes when the folder content changes", () => {
        assert.notEqual(releaseIdOf(node, TREE), releaseIdOf(node, "a".repeat(40)));
    });

    it("changes when the recipe changes: language, service id, the Go package built", () => {
        const base = releaseIdOf(node, TREE);
        // Node and Python entry points are the unit's (ExecStart), not the build's: the unit
        // changes and the service restarts, on the same release.
        assert.equal(releaseIdOf({ ...node, entryPoint: "src/main.js" }, TREE), base);
        assert.notEqual(releaseIdOf({ ...node, language: "python" }, TREE), base);
        assert.notEqual(releaseIdOf({ ...node, id: "config2" }, TREE), base);
        const search = CATALOG.services.search;
        assert.notEqual(releaseIdOf({ ...search, entryPoint: "./cmd" }, TREE), releaseIdOf(search, TREE));
    });

    it("refuses a release id that is not a plain file name", () => {
        for (const bad of ["../x", ".hidden", "a/b", "a b", "x'; rm -rf / #", "$(id)"]) {
            assert.throws(() => renderPrepareScript(node, { releaseId: bad, sha256: SHA }), /not a file name/, bad);
        }
    });
});

describe("prepare script", () => {
    it("stops before any work when the release is already prepared, and has no effect on running services", () => {
        for (const service of ONE_PER_LANGUAGE) {
            const text = prepareScript(service);
            const first = text.indexOf(`log "release $release_id ${PREPARE_LOG.alreadyPrepared}"\n  exit 0`);
            assert.ok(first > 0, service.id);
            for (const later of ["\nunpack_source \"$staging\"", "\nprepare_dependencies\n", "install -d"]) {
                assert.ok(text.indexOf(later) > first, `${later} comes after the check (${service.id})`);
            }
            assert.doesNotMatch(text, /systemctl|systemd-run|\/etc\/pakashop\b|migrate/, service.id);
        }
    });

    it("builds each language its own way, as the build user in one of the host's prepare slots, with the logged cache decision", () => {
        const [node, go, python] = ["config", "search", "moderation"].map((id) => prepareScript(CATALOG.services[id]));
        assert.match(node, /as_builder_in_slot npm ci --omit=dev --no-audit --no-fund/);
        assert.match(node, /release_links\[node_modules\]=\$entry\/node_modules/);
        assert.match(python, /as_builder_in_slot python3 -m venv "\$entry\/venv"/);
        assert.match(python, /\(cd "\$staging" && as_builder_in_slot "\$entry\/venv\/bin\/pip" install .*--no-cache-dir --disable-pip-version-check -r requirements\.txt\)/);
        assert.match(go, /as_builder_in_slot go build -o 'bin\/search' '\.\/src'/);
        for (const text of [node, go, python]) {
            // A slot is taken for a build only, never by a prepare that reuses its dependencies.
            assert.equal((text.match(/^ *take_slot$/gm) ?? []).length, 1, "take_slot is called only from as_builder_in_slot");
            assert.match(text, /as_builder_in_slot\(\) \{\n {2}if \(\(\$\{#held_slot\[@\]\} == 0\)\); then\n {4}take_slot/);
            assert.match(text, /log "dependencies: reused \$language cache \$key"/);
            assert.match(text, /log "dependencies: installing \$language \$key"/);
            assert.match(text, /exec runuser -u 'pakashop-build' -- env -i /);
            assert.match(text, /chown -R root:root "\$staging"/);
            // Sealed from the build user before root adds its links and the marker.
            assert.match(text, /chown -R root:root "\$staging"\nchmod -R a-w "\$staging"\nfor name in "\$\{!release_links\[@\]\}"; do\n  rm -rf -- "\$\{staging:\?\}\/\$name"\n  ln -s /);
            assert.match(text, /chmod a-w "\$staging\/\.pakashop-release"\nmv -T "\$staging" "\$release"/);
            assert.match(text, /trap discard_staging EXIT/);
            assert.match(text, /flock -n "\$fd"/);
        }
    });

    it("quotes every value it is given", () => {
        const nasty = "it's $(touch /tmp/pwned) `id` \"x\"";
        const text = renderPrepareScript(CATALOG.services.config, { releaseId: "r1", sha256: nasty });
        const line = text.split("\n").find((l) => l.startsWith("sources_sha256="));
        const result = exec("bash", ["-c", `${line}\nprintf %s "$sources_sha256"`]);
        assert.equal(result.output, nasty);
    });
});

describe("prepare: pure bash parts", () => {
    const node = prepareScript(CATALOG.services.config);

    it("garbage: keeps current, previous, this release and the 3 newest others; removes the rest", () => withTemp((dir) => {
        const serviceDir = path.join(dir, "svc");
        const releases = path.join(serviceDir, "releases");
        const names = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"];
        names.forEach((name, i) => {
            fs.mkdirSync(path.join(releases, name), { recursive: true });
            const marker = path.join(releases, name, ".pakashop-release");
            fs.writeFileSync(marker, "");
            const time = new Date(Date.UTC(2026, 0, 1 + i));
            fs.utimesSync(marker, time, time);
        });
        fs.mkdirSync(path.join(releases, "leftover")); // no marker: not a release
        fs.symlinkSync("releases/r0", path.join(serviceDir, "current"));
        fs.symlinkSync("releases/r1", path.join(serviceDir, "previous"));
        const result = exec("bash", ["-c", [
            "set -euo pipefail", "log() { echo \"$*\"; }",
            `service_dir='${serviceDir}' releases='${releases}' release_id='r2'`,
            bashFunction(node, "linked_release"), bashFunction(node, "collect_releases"), "collect_releases",
        ].join("\n")]);
        assert.equal(result.status, 0, result.output);
        // Newest others: r7, r6, r5. Kept besides: r0 (current), r1 (previous), r2 (this one).
        assert.deepEqual(fs.readdirSync(releases).sort(), ["r0", "r1", "r2", "r5", "r6", "r7"]);
        assert.match(result.output, /removed release r4\nremoved release r3\nremoved release leftover/);
    }));

    it("finds a link in node_modules that leads outside it (a file: folder dependency), and only that", () => withTemp((dir) => {
        const modules = path.join(dir, "node_modules");
        fs.mkdirSync(path.join(modules, ".bin"), { recursive: true });
        fs.mkdirSync(path.join(modules, "ms"));
        fs.symlinkSync("../ms/index.js", path.join(modules, ".bin", "ms"));
        const find = () => exec("bash", ["-c", `set -euo pipefail\nstaging='${dir}'\n${bashFunction(node, "link_leaving_node_modules")}\nlink_leaving_node_modules`]);
        assert.deepEqual(find(), { status: 0, output: "" });
        fs.symlinkSync("../local", path.join(modules, "local"));
        assert.equal(find().output, `${path.join(dir, "local")}\n`);
    }));
});

describe("prepare: a Node package with install scripts of its own keeps its node_modules", () => {
    it("finds every root lifecycle script npm ci runs, and a binding.gyp, and nothing else", () => withTemp((dir) => {
        const script = prepareScript(CATALOG.services.config);
        const condition = /if (grep -Eq [^\n]+\\\n\s+\|\| \[\[ -f \$staging\/binding\.gyp \]\]); then/.exec(script)?.[1];
        assert.ok(condition, "the install-script check");
        const own = (packageJson: string, bindingGyp = false) => {
            fs.writeFileSync(path.join(dir, "package.json"), packageJson);
            fs.rmSync(path.join(dir, "binding.gyp"), { force: true });
            if (bindingGyp) fs.writeFileSync(path.join(dir, "binding.gyp"), "{}\n");
            return exec("bash", ["-c", `staging='${dir}'\nif ${condition}; then echo own; else echo shared; fi`]).output.trim();
        };
        for (const hook of ["preinstall", "install", "postinstall", "prepublish", "preprepare", "prepare", "postprepare"]) {
            assert.equal(own(JSON.stringify({ name: "x", scripts: { [hook]: "node build.js" } }, null, 2)), "own", hook);
        }
        assert.equal(own(JSON.stringify({ name: "x", scripts: { start: "node index.js", test: "mocha" } }, null, 2)), "shared");
        assert.equal(own(JSON.stringify({ name: "x" }), true), "own", "binding.gyp");
        assert.equal(own(JSON.stringify({ name: "x", dependencies: { ms: "2.1.3" } })), "shared");
    }));
});

describe("unpack_source", () => {
    it("unpacks a tree archive at the folder's root after checking its SHA-256, and refuses another", () => withTemp((dir) => {
        const folder = path.join(dir, "service");
        fs.mkdirSync(path.join(folder, "src"), { recursive: true });
        fs.writeFileSync(path.join(folder, "package.json"), "{}\n");
        fs.writeFileSync(path.join(folder, "src", "index.js"), "1\n");
        const archive = path.join(dir, "config.tar");
        assert.equal(exec("tar", ["--create", "--file", archive, "--directory", folder, "package.json", "src"]).status, 0);
        const sha = exec("sha256sum", [archive]).output.split(" ")[0];
        const unpack = (expected: string, into: string) => {
            const fn = renderUnpackSourceFunction("config", { sha256: expected }).replace(`'${incomingSourceArchive("config")}'`, `'${archive}'`);
            fs.mkdirSync(into);
            return exec("bash", ["-c", `set -euo pipefail\nlog() { echo "$*"; }\nfail() { echo "ERROR: $*" >&2; exit 1; }\n${fn}\nunpack_source "$1"`, "unpack", into]);
        };
        const ok = unpack(sha, path.join(dir, "good"));
        assert.equal(ok.status, 0, ok.output);
        assert.equal(fs.readFileSync(path.join(dir, "good", "src", "index.js"), "utf8"), "1\n");
        const bad = unpack("c".repeat(64), path.join(dir, "bad"));
        assert.notEqual(bad.status, 0);
        assert.match(bad.output, /has SHA-256 [0-9a-f]{64}, expected c{64}: not the sources/);
        assert.deepEqual(fs.readdirSync(path.join(dir, "bad")), []);
    }));
});

describe("switch plan", () => {
    const releases = releasesOf(CATALOG);
    const script = switchScript();

    it("round-trips through readSwitchPlan, right after the header, tiers in rollout order", () => {
        const plan = readSwitchPlan(script);
        assert.deepEqual(plan, switchPlan(CATALOG, releases));
        assert.deepEqual(plan?.tiers.map((t) => t.tier), rolloutWaves(CATALOG).map((w) => w.tier.id));
        assert.deepEqual(plan?.tiers.map((t) => Object.keys(t.services)), rolloutWaves(CATALOG).map((w) => [...w.serviceIds]));
        for (const tier of plan?.tiers ?? []) for (const [id, release] of Object.entries(tier.services)) assert.equal(release, releases[id]);
        const lines = script.split("\n");
        assert.ok(lines[6].startsWith(SWITCH_PLAN_MARKER), lines[6]);
        assert.equal(lines[5].startsWith("fail()"), true);
    });

    it("reads nothing from a script without a plan or with a broken one", () => {
        assert.equal(readSwitchPlan("#!/usr/bin/env bash\ntrue\n"), undefined);
        assert.equal(readSwitchPlan(`${SWITCH_PLAN_MARKER}{not json\n`), undefined);
        assert.equal(readSwitchPlan(`${SWITCH_PLAN_MARKER}{"tiers":[{"tier":1,"services":{}}]}\n`), undefined);
        assert.equal(readSwitchPlan(`${SWITCH_PLAN_MARKER}{"tiers":[{"tier":"a","services":{"x":2}}]}\n`), undefined);
    });

    it("refuses a missing release, a service outside the catalog, and a release id that is not a file name", () => {
        const { config: _dropped, ...missing } = releases;
        assert.throws(() => renderSwitchScript(CATALOG, missing, { healthTimeoutSeconds: 90 }), /no release for service config/);
        assert.throws(() => renderSwitchScript(CATALOG, { ...releases, ghost: "r" }, { healthTimeoutSeconds: 90 }), /ghost, which is not in the catalog/);
        assert.throws(() => renderSwitchScript(CATALOG, { ...releases, config: "../x" }, { healthTimeoutSeconds: 90 }), /not a file name/);
        assert.throws(() => renderSwitchScript(CATALOG, releases, { healthTimeoutSeconds: 0 }), /positive integer/);
    });

    it("switches tier by tier, one restart and at most one daemon-reload per tier", () => {
        const calls = script.split("\n").filter((l) => l.startsWith("switch_tier "));
        assert.deepEqual(calls, rolloutWaves(CATALOG).map((w) => `switch_tier ${[w.tier.id, ...w.serviceIds].map((x) => `'${x}'`).join(" ")}`));
        const tier = bashFunction(script, "restart_units");
        assert.equal(tier.match(/systemctl restart /g)?.length, 1);
        assert.match(tier, /systemctl reset-failed "\$\{units\[@\]\}"[^\n]*\n[\s\S]*systemctl restart "\$\{units\[@\]\}"/);
        const install = bashFunction(script, "install_files");
        assert.equal(install.match(/systemctl daemon-reload/g)?.length, 1);
        assert.match(install, /if \(\(reload\)\); then systemctl daemon-reload; fi/);
        assert.match(script, new RegExp(`journal_lines=${JOURNAL_TAIL_LINES}\n`));
        assert.match(bashFunction(script, "print_journal"), /----- journal of \$1 \(last \$journal_lines lines\) -----/);
        assert.match(bashFunction(script, "switch_tier"), /did not become healthy within \$\{health_timeout\}s \(http:\/\/127\.0\.0\.1:\$\{port_of\[\$id\]\}\$\{path_of\[\$id\]\}\); rolled back, later tiers not touched/);
    });

    it("quotes every value: the data section evaluates to exactly the catalog's values", () => {
        const odd: Catalog = {
            tiers: CATALOG.tiers,
            services: { ...CATALOG.services, config: { ...CATALOG.services.config, healthPath: "/h'$(id)`x`" } },
        };
        const text = switchScript(odd);
        const data = text.split("\n").filter((l) => /^(declare -A (release_of|unit_of|port_of|path_of|migrates)=|plan_ids=)/.test(l)).join("\n");
        const result = exec("bash", ["-c", `${data}\nfor id in "\${plan_ids[@]}"; do printf '%s\\t%s\\t%s\\t%s\\t%s\\n' "$id" "\${release_of[$id]}" "\${unit_of[$id]}" "\${port_of[$id]}" "\${path_of[$id]}"; done`]);
        assert.equal(result.status, 0, result.output);
        const releases = releasesOf(odd);
        const expected = rolloutWaves(odd).flatMap((w) => w.serviceIds).map((id) => {
            const s = odd.services[id];
            return `${id}\t${releases[id]}\tpakashop-${id}.service\t${s.port}\t${s.healthPath}\n`;
        }).join("");
        assert.equal(result.output, expected);
    });

    it("keeps the environment secret: read from stdin into a private file, only compared and installed 0600", () => {
        assert.match(script, /\(umask 077 && cat > "\$work\/env"\)/);
        const uses = script.split("\n").filter((l) => l.includes("$work/env")).map((l) => l.trim());
        for (const use of uses) assert.match(use, /^(\(umask 077 && cat > "\$work\/env"\)|\[\[ -s \$work\/env \]\] \|\| fail .*|cmp -s "\$work\/env" .*|if ! cmp -s "\$work\/env" .*|install -m 0600 -o root -g root "\$work\/env" .*)$/, use);
        assert.match(script, /work=\$\(mktemp -d "\$runtime_dir\/switch\.XXXXXX"\)/);
        assert.throws(() => renderEnvironmentFile({ "A-B": "x" }), /not a valid variable name/);
        assert.throws(() => renderEnvironmentFile({ A: "x\ny" }), /spans lines/);
        assert.equal(renderEnvironmentFile({ A: "1", B: "two words" }), "A=1\nB=two words\n");
    });

    it("an unprepared release fails the switch before anything is touched, naming the service", () => withTemp((dir) => {
        const roots = ["services", "units", "env", "run", "bin"].map((d) => path.join(dir, d));
        roots.forEach((d) => fs.mkdirSync(d));
        const [services, units, env, runtime, bin] = roots;
        const calls = path.join(dir, "calls");
        // systemctl and friends only record that they were called.
        for (const tool of ["systemctl", "systemd-run", "journalctl"]) {
            fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> '${calls}'\n`, { mode: 0o755 });
        }
        const releases = releasesOf(CATALOG);
        for (const [id, release] of Object.entries(releases)) {
            if (id === "pricing") continue;
            fs.mkdirSync(path.join(services, id, "releases", release), { recursive: true });
            fs.writeFileSync(path.join(services, id, "releases", release, ".pakashop-release"), "");
        }
        const text = switchOnRoots(switchScript(), { services, units, env, run: runtime });
        const result = exec("bash", ["-c", `PATH='${bin}':$PATH\n${text}`], { input: "A=secret-value\n" });
        assert.equal(result.status, 1, result.output);
        assert.match(result.output, new RegExp(`not prepared on this host .*: pricing ${releases.pricing}; nothing was touched`));
        assert.doesNotMatch(result.output, /secret-value/);
        assert.equal(fs.existsSync(calls), false, "no systemctl call");
        assert.deepEqual(fs.readdirSync(units), []);
        assert.deepEqual(fs.readdirSync(env), []);
        // The private work folder is gone; only the lock that keeps switches apart stays.
        assert.deepEqual(fs.readdirSync(runtime), ["switch.lock"], "the private work folder is gone");
        assert.equal(fs.existsSync(path.join(services, "config", "current")), false);
    }));
});

describe("switch: needs switching", () => {
    const script = switchScript();
    const decide = (dir: string, state: string) => exec("bash", ["-c", [
        "set -euo pipefail",
        `services_root='${dir}/services' unit_dir='${dir}/units' env_dir='${dir}/env' work='${dir}/work'`,
        "declare -A release_of=(['config']='r2') unit_of=(['config']='pakashop-config.service')",
        bashFunction(script, "needs_switch"),
        `if needs_switch config '${state}'; then echo switch; else echo keep; fi`,
    ].join("\n")]).output.trim();

    it("switches exactly when current, the gate's record, unit, environment or activity differ", () => withTemp((dir) => {
        for (const d of ["services/config/releases/r1", "services/config/releases/r2", "units", "env", "work/units"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
        const unitText = "[Unit]\nDescription=x\n";
        fs.writeFileSync(path.join(dir, "work/units/config"), unitText);
        fs.writeFileSync(path.join(dir, "units/pakashop-config.service"), unitText);
        fs.writeFileSync(path.join(dir, "work/env"), "A=1\n");
        fs.writeFileSync(path.join(dir, "env/config.env"), "A=1\n");
        const current = path.join(dir, "services/config/current");
        fs.symlinkSync("releases/r2", current);
        // A release that never passed its gate (a switch killed after the restart) is switched
        // again, though `current` points at it and the unit runs.
        assert.equal(decide(dir, "active"), "switch", "r2 never recorded as healthy");
        fs.writeFileSync(path.join(dir, "services/config/deployed"), "r1\n");
        assert.equal(decide(dir, "active"), "switch", "the gate last passed r1");
        fs.writeFileSync(path.join(dir, "services/config/deployed"), "r2\n");
        assert.equal(decide(dir, "active"), "keep");
        assert.equal(decide(dir, "failed"), "switch");
        assert.equal(decide(dir, "inactive"), "switch");
        fs.unlinkSync(current);
        fs.symlinkSync("releases/r1", current);
        assert.equal(decide(dir, "active"), "switch", "current points at another release");
        fs.unlinkSync(current);
        assert.equal(decide(dir, "active"), "switch", "no current");
        fs.symlinkSync("releases/r2", current);
        fs.writeFileSync(path.join(dir, "units/pakashop-config.service"), `${unitText}# edited\n`);
        assert.equal(decide(dir, "active"), "switch", "unit differs");
        fs.writeFileSync(path.join(dir, "units/pakashop-config.service"), unitText);
        fs.writeFileSync(path.join(dir, "env/config.env"), "A=2\n");
        assert.equal(decide(dir, "active"), "switch", "environment differs");
        fs.rmSync(path.join(dir, "env/config.env"));
        assert.equal(decide(dir, "active"), "switch", "no environment");
        fs.writeFileSync(path.join(dir, "env/config.env"), "A=1\n");
        assert.equal(decide(dir, "active"), "keep");
    }));
});

describe("switch: health gate (bash /dev/tcp against a local server)", function () {
    const script = switchScript();
    const functions = ["now_ms", "http_healthy", "health_gate"].map((f) => bashFunction(script, f)).join("\n");
    let server: http.Server;
    let port = 0;
    let status = 200;

    before(async () => {
        server = http.createServer((request, response) => {
            response.statusCode = request.url === "/health" ? status : 404;
            response.end("ok");
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        port = (server.address() as AddressInfo).port;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    /** Runs bash with the gate's functions and a systemctl that answers `active` states. */
    async function bash(body: string, activeState = "active"): Promise<{ code: number; output: string }> {
        const stub = `systemctl() { if [[ $1 == is-active ]]; then shift; echo round >> "$rounds"; for _ in "$@"; do echo ${activeState}; done; fi; }`;
        const text = `set -euo pipefail\nrounds=$(mktemp)\n${stub}\n${functions}\n${body}`;
        try {
            const { stdout, stderr } = await run("bash", ["-c", text]);
            return { code: 0, output: stdout + stderr };
        } catch (error) {
            const e = error as { code: number; stdout: string; stderr: string };
            return { code: e.code, output: e.stdout + e.stderr };
        }
    }
    const probe = (p: number, urlPath = "/health") => bash(`if http_healthy ${p} '${urlPath}'; then echo yes; else echo no; fi`);

    it("a 2xx is healthy; a 500, a 404 and a closed port are not", async () => {
        status = 200;
        assert.equal((await probe(port)).output.trim(), "yes");
        assert.equal((await probe(port, "/other")).output.trim(), "no");
        status = 500;
        assert.equal((await probe(port)).output.trim(), "no");
        status = 200;
        const closed = http.createServer();
        await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
        const closedPort = (closed.address() as AddressInfo).port;
        await new Promise<void>((resolve) => closed.close(() => resolve()));
        const result = await probe(closedPort);
        assert.equal(result.output.trim(), "no", result.output);
    });

    const gate = (timeout: number) => `health_timeout=${timeout}
declare -A unit_of=(['a']='pakashop-a.service' ['b']='pakashop-b.service') port_of=(['a']='${port}' ['b']='${port}') path_of=(['a']='/health' ['b']='/health') healthy_at=()
unhealthy=()
start=\${EPOCHREALTIME/./}
if health_gate a b; then echo passed; else echo "failed: \${unhealthy[*]}"; fi
end=\${EPOCHREALTIME/./}
echo "ms=$(((end - start) / 1000)) rounds=$(wc -l < "$rounds") a=\${healthy_at[a]:-none}"`;

    it("passes healthy services in one round, well under 100 ms", async () => {
        status = 200;
        const result = await bash(gate(5));
        assert.match(result.output, /^passed\n/, result.output);
        const ms = Number(/ms=(\d+)/.exec(result.output)?.[1]);
        assert.ok(ms < 100, `one round took ${ms} ms`);
        assert.match(result.output, /rounds=1 a=\d{13}/);
    });

    it("fails after the timeout, naming the services, polling at least every 100 ms", async () => {
        status = 500;
        const result = await bash(gate(1));
        assert.match(result.output, /^failed: a b\n/, result.output);
        const ms = Number(/ms=(\d+)/.exec(result.output)?.[1]);
        const rounds = Number(/rounds=(\d+)/.exec(result.output)?.[1]);
        assert.ok(ms >= 1000 && ms < 1600, `the gate took ${ms} ms`);
        assert.ok(rounds >= 1000 / 100, `${rounds} rounds in ${ms} ms`);
        assert.ok(rounds <= 1000 / HEALTH_POLL_MS + 2, `${rounds} rounds: not busy-looping`);
    });

    it("an inactive unit fails even when its port answers 200", async () => {
        status = 200;
        const result = await bash(gate(1), "activating");
        assert.match(result.output, /^failed: a b\n/, result.output);
    });
});

describe("destroy script", () => {
    it("leaves a replaced host alone, and quotes the host id", () => {
        const text = renderDestroyScript("i-1'$(id)");
        assert.match(text, /if \[\[ \$host_id != 'i-1'\\''\$\(id\)' \]\]; then/);
        assert.match(text, /it was replaced; nothing to remove/);
        assert.match(text, /systemctl disable --now --quiet "\$\{units\[@\]\}"/);
        assert.match(text, /log "removed \$\{#units\[@\]\} services"/);
    });
});
