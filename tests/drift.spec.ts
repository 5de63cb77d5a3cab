import { strict as assert } from "assert";
import { CATALOG } from "../components/catalog";
import { readSettings } from "../components/settings";
import { expectedHostState, parseProbeOutput, renderProbeScript } from "../tools/drift/hostState";
import { compareHostState } from "../tools/drift/report";
import { checkFleetDrift } from "../tools/drift/check";
import { parseFleetHosts } from "../tools/drift/hosts";
import { parseDriftArgs } from "../tools/drift";
import { UsageError } from "../tools/cli";
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

describe("host drift check of the fleet (--hosts)", () => {
    const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1vY2tIb3N0S2V5Rm9yT2ZmbGluZVBsYW5zT25seTAw";
    /** What `pulumi stack output backendHosts --json` prints for a fleet of two. */
    const OUTPUT = [
        { name: "backend-1", instanceId: "i-0aaaaaaaaaaaaaaa1", privateIp: "10.10.10.11", hostKey: KEY, availabilityZone: "ap-south-1a" },
        { name: "backend-2", instanceId: "i-0aaaaaaaaaaaaaaa2", privateIp: "10.10.11.12", hostKey: KEY, availabilityZone: "ap-south-1b" },
    ];

    it("reads the stack output's hosts: name, private address and pinned key of each", () => {
        assert.deepEqual(parseFleetHosts(JSON.stringify(OUTPUT), "hosts.json"), [
            { name: "backend-1", privateIp: "10.10.10.11", hostKey: KEY },
            { name: "backend-2", privateIp: "10.10.11.12", hostKey: KEY },
        ]);
    });

    const BAD: [string, string, string][] = [
        ["not JSON", "backendHosts", "hosts.json: not JSON"],
        ["an empty fleet", "[]", "hosts.json: must be a non-empty JSON array of hosts (pulumi stack output backendHosts --json), not []"],
        ["an object, not a list", JSON.stringify({ "backend-1": OUTPUT[0] }), "hosts.json: must be a non-empty JSON array of hosts"],
        ["a host without a name", JSON.stringify([{ ...OUTPUT[0], name: undefined }]), "hosts.json[0].name: must be backend-<n>, not undefined"],
        ["a public hostname for an address", JSON.stringify([{ ...OUTPUT[0], privateIp: "api.pakashop.store" }]), 'hosts.json[0].privateIp: must be the host\'s private IPv4 address, not "api.pakashop.store"'],
        ["a host key of another type", JSON.stringify([OUTPUT[0], { ...OUTPUT[1], hostKey: "ssh-rsa AAAAB3NzaC1yc2E" }]), 'hosts.json[1].hostKey: must be the host\'s pinned ssh-ed25519 key line, not "ssh-rsa AAAAB3NzaC1yc2E"'],
        ["one host listed twice", JSON.stringify([OUTPUT[0], OUTPUT[0]]), "hosts.json: lists backend-1 twice; each host once"],
    ];
    for (const [what, text, message] of BAD) {
        it(`refuses ${what}, naming the entry and the field`, () => {
            assert.throws(() => parseFleetHosts(text, "hosts.json"), (error: Error) => {
                assert.ok(error.message.startsWith(message), error.message);
                return true;
            });
        });
    }

    it("checks every host and reports each by name; drift on one host is the fleet's drift", async () => {
        const targets = parseFleetHosts(JSON.stringify(OUTPUT), "hosts.json")
            .map((h) => ({ name: h.name, target: { host: h.privateIp, hostKey: h.hostKey, user: "admin", privateKey: "unused" } }));
        const probed: string[] = [];
        const report = await checkFleetDrift("production", expected, targets, async (target) => {
            probed.push(target.host);
            const states = target.host === "10.10.11.12" ? expected.map((s) => (s.service === "coupon" ? { ...s, active: "failed" } : s)) : expected;
            return compareHostState("production", target.host, expected, parseProbeOutput(probeOutputFor(states)));
        });
        assert.deepEqual(probed, ["10.10.10.11", "10.10.11.12"]);
        assert.equal(report.drift, true);
        assert.equal(report.failed, false);
        assert.deepEqual(report.hosts.map((h) => ["name" in h ? h.name : "", h.host, "drift" in h ? h.drift : "error"]),
            [["backend-1", "10.10.10.11", false], ["backend-2", "10.10.11.12", true]]);
        const second = report.hosts[1];
        assert.ok("findings" in second);
        assert.deepEqual(second.findings.map((f) => `${f.service}.${f.field}: ${f.expected} -> ${f.actual}`), ["coupon.active: active -> failed"]);
    });

    it("a host that can't be reached is reported with its error, and the other hosts are still checked", async () => {
        const targets = OUTPUT.map((h) => ({ name: h.name, target: { host: h.privateIp, hostKey: h.hostKey, user: "admin", privateKey: "unused" } }));
        const report = await checkFleetDrift("production", expected, targets, async (target) => {
            if (target.host === "10.10.10.11") throw new Error("drift probe on 10.10.10.11 failed (exit 255): ssh: connect to host 10.10.10.11 port 22: Connection timed out");
            return compareHostState("production", target.host, expected, parseProbeOutput(probeOutputFor()));
        });
        assert.equal(report.failed, true);
        assert.equal(report.drift, false);
        assert.deepEqual(report.hosts[0], { name: "backend-1", host: "10.10.10.11", error: "drift probe on 10.10.10.11 failed (exit 255): ssh: connect to host 10.10.10.11 port 22: Connection timed out" });
        assert.deepEqual(report.hosts[1], { name: "backend-2", stack: "production", host: "10.10.11.12", drift: false, checked: 19, findings: [] });
    });

    it("takes --hosts alone, or --host with --host-key; anything else is a usage error naming the fix", () => {
        assert.deepEqual(parseDriftArgs(["--stack", "production", "--hosts", "hosts.json"]),
            { stack: "production", hostsFile: "hosts.json", user: "admin", port: 22, overrides: {} });
        assert.equal(parseDriftArgs(["--stack", "staging", "--host", "10.20.10.5", "--host-key", KEY]).host, "10.20.10.5");
        const usage = (argv: string[], message: string) => assert.throws(() => parseDriftArgs(argv), (error: Error) => {
            assert.ok(error instanceof UsageError, String(error));
            assert.equal(error.message, message);
            return true;
        });
        usage(["--stack", "production"], "--hosts <file> (pulumi stack output backendHosts --json) or --host with --host-key is required");
        usage(["--stack", "production", "--hosts", "hosts.json", "--host", "10.10.10.11"], "--hosts checks the whole fleet; give it alone, or --host with --host-key for one host");
        usage(["--stack", "production", "--host", "10.10.10.11"], "--host-key is required with --host");
        usage(["--stack", "production", "--host-key", KEY], "--host is required with --host-key");
        usage(["--hosts", "hosts.json"], "--stack is required");
    });
});
