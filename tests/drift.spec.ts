import { strict as assert } from "assert";
import { CATALOG } from "../components/catalog";
import { readSettings } from "../components/settings";
import { expectedHostState, parseProbeOutput, renderProbeScript } from "../tools/drift/hostState";
import { compareHostState } from "../tools/drift/report";
import { loadStackConfig } from "../tools/stackConfig";
import { configSource, exec } from "./helpers";

const settings = readSettings(configSource(loadStackConfig("staging")), "staging");
/** Release ids as the program would name them (any distinct 20-hex strings will do here). */
const releases = Object.fromEntries(Object.keys(settings.catalog.services).map((id, i) => [id, i.toString(16).padStart(20, "a")]));
const expected = expectedHostState(settings, releases);

/** What the probe prints for a host in exactly the expected state. */
function probeOutputFor(states = expected): string {
    return [
        ...states.map((s) => ["service", s.service, s.unitFile, s.enabled, s.active, s.release].join("\t")),
        ...states.map((s) => `unit\t${s.unit}`),
    ].join("\n");
}

describe("host drift check (offline parts)", () => {
    it("expects all 19 services enabled, active, on their release, with the rendered unit's hash", () => {
        assert.equal(expected.length, 19);
        assert.ok(expected.every((s) => s.enabled === "enabled" && s.active === "active" && /^[0-9a-f]{64}$/.test(s.unitFile)));
        assert.equal(new Set(expected.map((s) => s.unitFile)).size, 19);
        assert.equal(expected.find((s) => s.service === "search")?.release, releases.search);
    });

    it("reports no drift for a host in the expected state", () => {
        const report = compareHostState("staging", "host", expected, parseProbeOutput(probeOutputFor()));
        assert.deepEqual(report, { stack: "staging", host: "host", drift: false, checked: 19, findings: [] });
    });

    it("reports each differing field, and units the program doesn't deploy", () => {
        const states = expected.map((s) => {
            if (s.service === "coupon") return { ...s, active: "failed" };
            if (s.service === "search") return { ...s, release: "0".repeat(20), enabled: "disabled" };
            return s;
        });
        const output = `${probeOutputFor(states)}\nunit\tpakashop-legacy.service`;
        const report = compareHostState("staging", "host", expected, parseProbeOutput(output));
        assert.equal(report.drift, true);
        assert.deepEqual(report.findings.map((f) => `${f.service}.${f.field}: ${f.expected} -> ${f.actual}`), [
            `search.enabled: enabled -> disabled`,
            `search.release: ${releases.search} -> ${"0".repeat(20)}`,
            "coupon.active: active -> failed",
            "legacy.unexpectedUnit: absent -> present",
        ]);
    });

    it("refuses probe output it doesn't understand", () => {
        assert.throws(() => parseProbeOutput("service\tsearch\tonly-three"), /unexpected line/);
    });

    it("the probe script passes shellcheck", () => {
        const result = exec("shellcheck", ["--shell", "bash", "--severity=style", "-"], { input: renderProbeScript(Object.keys(CATALOG.services)) });
        assert.equal(result.status, 0, result.output);
    });
});
