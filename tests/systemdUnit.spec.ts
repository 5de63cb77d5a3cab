import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CATALOG, unitName } from "../components/catalog";
import { renderUnit, execStart } from "../host/units/systemdUnit";
import { MEILISEARCH_UNIT, renderMeilisearchUnit } from "../host/data/meilisearch";
import { FLEET_HEALTH_SCRIPT, FLEET_HEALTH_UNIT, renderFleetHealthUnit } from "../host/health/fleetHealth";
import { exec } from "./helpers";

/** Highest `systemd-analyze security` exposure a unit may have (the limit). */
const MAX_EXPOSURE = 2.0;
const ids = Object.keys(CATALOG.services);

/**
 * A throwaway root with the rendered units, the distribution's own units (for targets) and
 * executable stand-ins at every `ExecStart` path: `verify` checks that commands exist, and
 * the release folders only exist on a deployed host.
 */
function unitRoot(units: Record<string, string>): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-units-"));
    fs.mkdirSync(path.join(root, "etc/systemd/system"), { recursive: true });
    fs.mkdirSync(path.join(root, "usr/lib/systemd"), { recursive: true });
    fs.cpSync("/usr/lib/systemd/system", path.join(root, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true });
    for (const [name, text] of Object.entries(units)) {
        fs.writeFileSync(path.join(root, "etc/systemd/system", name), text);
        const binary = /^ExecStart=(\S+)/m.exec(text)?.[1];
        if (binary) {
            fs.mkdirSync(path.join(root, path.dirname(binary)), { recursive: true });
            fs.writeFileSync(path.join(root, binary), "#!/bin/sh\n", { mode: 0o755 });
        }
    }
    return root;
}

function verify(root: string, names: string[]) {
    return exec("systemd-analyze", ["verify", `--root=${root}`, "--recursive-errors=yes",
        ...names.map((n) => path.join(root, "etc/systemd/system", n))]);
}

function exposure(root: string, name: string): number {
    const { output } = exec("systemd-analyze", ["security", "--offline=yes", `--root=${root}`, path.join(root, "etc/systemd/system", name)]);
    const match = /Overall exposure level for \S+: (\d+\.\d+)/.exec(output);
    assert.ok(match, `no exposure figure in:\n${output.slice(-400)}`);
    return Number(match[1]);
}

describe("systemd units", () => {
    const units = Object.fromEntries(ids.map((id) => [unitName(id), renderUnit(CATALOG, id)]));
    let root: string;
    before(() => {
        root = unitRoot(units);
    });
    after(() => fs.rmSync(root, { recursive: true, force: true }));

    it("renders 19 units named as in table 3.1", () => {
        assert.equal(Object.keys(units).length, 19);
        assert.ok(Object.keys(units).every((n) => /^pakashop-[a-z]+\.service$/.test(n)));
    });

    it("all pass systemd-analyze verify with warnings as errors", () => {
        const result = verify(root, Object.keys(units));
        assert.equal(result.status, 0, result.output);
        assert.equal(result.output.trim(), "", "verify printed warnings");
    });

    it("verify does fail on a bad unit (the check can fail)", () => {
        const bad = units["pakashop-search.service"].replace("Restart=on-failure", "Restart=on-falure");
        const badRoot = unitRoot({ "pakashop-search.service": bad, "pakashop-gateway.service": units["pakashop-gateway.service"], "pakashop-config.service": units["pakashop-config.service"] });
        try {
            const result = verify(badRoot, ["pakashop-search.service"]);
            assert.notEqual(result.status, 0);
            assert.match(result.output, /restart specifier.*on-falure/);
        } finally {
            fs.rmSync(badRoot, { recursive: true, force: true });
        }
    });

    it(`every unit has a systemd-analyze security exposure of at most ${MAX_EXPOSURE}`, () => {
        const scores = Object.fromEntries(Object.keys(units).map((name) => [name, exposure(root, name)]));
        for (const [name, score] of Object.entries(scores)) assert.ok(score <= MAX_EXPOSURE, `${name}: ${score}`);
        // A unit without the hardening block scores far worse: the figure is real.
        const bare = units["pakashop-search.service"].split("\n").filter((l) => !/^(Protect|Private|Restrict|NoNew|System|Capab|Ambient|Lock|Remove|Keyring|Device|UMask|MemoryDeny|Proc)/.test(l)).join("\n");
        const bareRoot = unitRoot({ "pakashop-search.service": bare });
        try {
            assert.ok(exposure(bareRoot, "pakashop-search.service") > 5);
        } finally {
            fs.rmSync(bareRoot, { recursive: true, force: true });
        }
    });

    it("orders each unit after, and wants, exactly the tier before (section 3.2)", () => {
        const ordering = (id: string) => /^After=(.*)$/m.exec(units[unitName(id)])?.[1].split(" ");
        assert.deepEqual(ordering("config"), ["network-online.target"]);
        assert.deepEqual(ordering("gateway"), ["network-online.target", "pakashop-config.service"]);
        assert.deepEqual(ordering("analytics"), ["network-online.target", "pakashop-gateway.service"]);
        assert.deepEqual(ordering("whatsapp"), ["network-online.target", "pakashop-backend.service", "pakashop-search.service", "pakashop-analytics.service"]);
        for (const text of Object.values(units)) {
            assert.equal(/^After=(.*)$/m.exec(text)?.[1], /^Wants=(.*)$/m.exec(text)?.[1]);
            assert.doesNotMatch(text, /^Requires=/m);
        }
    });

    it("runs each service as the service user with its EnvironmentFile, restart on failure, enabled for boot", () => {
        for (const id of ids) {
            const text = units[unitName(id)];
            for (const line of ["User=pakashop", "Group=pakashop", `EnvironmentFile=/etc/pakashop/${id}.env`, "Restart=on-failure",
                "WantedBy=multi-user.target", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                `WorkingDirectory=/opt/pakashop/services/${id}/current`, `Environment=PORT=${CATALOG.services[id].port} PAKASHOP_SERVICE=${id}`]) {
                assert.ok(text.split("\n").includes(line), `${id} lacks ${line}`);
            }
        }
    });

    it("the Meilisearch unit passes verify and the exposure limit too", () => {
        const meiliRoot = unitRoot({ [MEILISEARCH_UNIT]: renderMeilisearchUnit("v1.7.6", "10.10.144.10") });
        try {
            const result = verify(meiliRoot, [MEILISEARCH_UNIT]);
            assert.equal(result.status, 0, result.output);
            assert.equal(result.output.trim(), "");
            const score = exposure(meiliRoot, MEILISEARCH_UNIT);
            assert.ok(score <= MAX_EXPOSURE, `meilisearch: ${score}`);
        } finally {
            fs.rmSync(meiliRoot, { recursive: true, force: true });
        }
    });

    it("the fleet health unit passes verify and the exposure limit, runs as a dynamic user, restarts always, starts at boot", () => {
        const text = renderFleetHealthUnit();
        const healthRoot = unitRoot({ [FLEET_HEALTH_UNIT]: text });
        try {
            const result = verify(healthRoot, [FLEET_HEALTH_UNIT]);
            assert.equal(result.status, 0, result.output);
            assert.equal(result.output.trim(), "");
            const score = exposure(healthRoot, FLEET_HEALTH_UNIT);
            assert.ok(score <= MAX_EXPOSURE, `${FLEET_HEALTH_UNIT}: ${score}`);
        } finally {
            fs.rmSync(healthRoot, { recursive: true, force: true });
        }
        for (const line of ["DynamicUser=yes", "Restart=always", "WantedBy=multi-user.target", "NoNewPrivileges=yes", "ProtectSystem=strict",
            "PrivateUsers=yes", "CapabilityBoundingSet=", `ExecStart=/usr/bin/python3 -I ${FLEET_HEALTH_SCRIPT}`]) {
            assert.ok(text.split("\n").includes(line), `${FLEET_HEALTH_UNIT} lacks ${line}`);
        }
        assert.doesNotMatch(text, /^User=/m, "no fixed user: a dynamic one owns nothing on the host");
    });

    it("starts each language its own way", () => {
        assert.equal(execStart(CATALOG.services.gateway), "/usr/bin/node /opt/pakashop/services/gateway/current/src/index.js");
        assert.equal(execStart(CATALOG.services.search), "/opt/pakashop/services/search/current/bin/search");
        assert.equal(execStart(CATALOG.services.moderation),
            "/opt/pakashop/services/moderation/current/venv/bin/python /opt/pakashop/services/moderation/current/main.py");
        assert.match(units["pakashop-search.service"], /^MemoryDenyWriteExecute=yes$/m);
        assert.doesNotMatch(units["pakashop-gateway.service"], /MemoryDenyWriteExecute/);
    });
});
