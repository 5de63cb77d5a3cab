/**
 * What the stacks need of the Cloudflare zone: the plan each zone-level feature needs (in the
 * JSON plan), the entry-point rulesets (one per zone and phase) and how the runbook adopts
 * existing ones. Expected plans are Cloudflare's plan matrix (cloudflare/cloudflare-docs
 * src/content/plans/index.json): the Cloudflare Managed and OWASP Core rulesets "No" on Free,
 * "Yes" from Pro (`security.waf_a_managed_rules`); an origin rule's DNS record override "Yes"
 * on Enterprise only (`rules.origin_rules.override_dns_record`).
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { runOffline } from "../tools/offlineRun";
import { loadStackConfig, REPO_ROOT } from "../tools/stackConfig";
import { exec, planStack } from "./helpers";
import { registrationOptions } from "./support/registrationOptions";

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const RULESET = "cloudflare:index/ruleset:Ruleset";

function planJson(stack: string): Props {
    const result = exec(process.execPath, ["--require", path.join(REPO_ROOT, "tools/register.js"), path.join(REPO_ROOT, "tools/plan.ts"), "--stack", stack, "--format", "json"], { cwd: REPO_ROOT });
    assert.equal(result.status, 0, result.output);
    return JSON.parse(result.output);
}

describe("Cloudflare zone requirements in the plan", function () {
    this.timeout(120_000);
    const docs: Record<string, Props> = {};
    before(() => {
        for (const stack of ["production", "staging"]) docs[stack] = planJson(stack);
    });

    it("production's JSON plan lists, for each zone ruleset it creates, the Cloudflare plan each feature needs", () => {
        const doc = docs.production;
        const rulesets = doc.resources.filter((r: Props) => r.type === RULESET).map((r: Props) => r.name);
        assert.deepEqual(rulesets, ["pakashop-production-edge-waf", "pakashop-production-edge-api-routes"]);
        const cf = doc.requirements.cloudflare;
        assert.deepEqual(cf.features.map((f: Props) => [f.resource, f.phase, f.feature, f.minimumPlan]), [
            ["pakashop-production-edge-waf", "http_request_firewall_managed", "WAF: Cloudflare OWASP Core Ruleset (4814384a9e5d4991b9815dcfc25d2f1f)", "pro"],
            ["pakashop-production-edge-waf", "http_request_firewall_managed", "WAF: Cloudflare Managed Ruleset (efb7b8c949ac4650a09736fc376e9aee)", "pro"],
            ["pakashop-production-edge-api-routes", "http_request_origin", "Origin Rules: DNS record override (route action, origin.host)", "enterprise"],
        ]);
        for (const f of cf.features) assert.match(f.source, /cloudflare-docs src\/content\/plans\/index\.json/);
        assert.equal(cf.minimumPlan, "enterprise");
        assert.deepEqual(cf.zoneEntrypoints.map((e: Props) => [e.resource, e.phase]), [
            ["pakashop-production-edge-waf", "http_request_firewall_managed"],
            ["pakashop-production-edge-api-routes", "http_request_origin"],
        ]);
        for (const e of cf.zoneEntrypoints) assert.equal(e.urn, doc.resources.find((r: Props) => r.name === e.resource).urn);
    });

    it("staging creates no zone ruleset and lists no requirement", () => {
        const doc = docs.staging;
        assert.deepEqual(doc.resources.filter((r: Props) => r.type === RULESET), []);
        assert.deepEqual(doc.requirements.cloudflare, { minimumPlan: "free", features: [], zoneEntrypoints: [] });
    });

    it("an entry-point ruleset is deleted before its replacement is created (a zone can't hold two)", async () => {
        await planStack("production"); // never overlap another run
        const options = await registrationOptions(() => runOffline(loadStackConfig("production")));
        const rulesets = [...options].filter(([key]) => key.startsWith(`${RULESET}::`));
        assert.deepEqual(rulesets, [
            [`${RULESET}::pakashop-production-edge-waf`, { deleteBeforeReplace: true }],
            [`${RULESET}::pakashop-production-edge-api-routes`, { deleteBeforeReplace: true }],
        ]);
    });

    it("the runbook's import commands use the plan's resource names, parent URN and the provider's import ID format", () => {
        const runbook = fs.readFileSync(path.join(REPO_ROOT, "docs", "runbook.md"), "utf8");
        const section = runbook.slice(runbook.indexOf("## 6. First deploy into a zone that already has rulesets"));
        assert.ok(section.length > 1000, "the section exists");
        const doc = docs.production;
        for (const r of doc.resources.filter((x: Props) => x.type === RULESET)) {
            assert.ok(section.includes(`EDGE='${r.parent}'`), `the runbook's EDGE is ${r.parent}`);
            assert.match(section, new RegExp(`pulumi import ${RULESET} ${r.name} "zones/\\$ZONE_ID/<[a-z ]+ ruleset id>" \\\\\\n\\s+--parent "edge=\\$EDGE"`));
            assert.ok(section.includes(`"name": "${r.name}", "id": "zones/$ZONE_ID/`), `the import file names ${r.name}`);
        }
        // The component parents the import file creates are the plan's.
        const edge = doc.resources.find((x: Props) => x.type === "pakashop:edge:Edge");
        const platform = doc.resources.find((x: Props) => x.urn === edge.parent);
        assert.ok(section.includes(`{"type": "${platform.type}", "name": "${platform.name}", "component": true}`));
        assert.ok(section.includes(`{"type": "${edge.type}", "name": "${edge.name}", "component": true, "parent": "${platform.name}"}`));
        for (const phase of ["http_request_firewall_managed", "http_request_origin"]) assert.ok(section.includes(phase));
        assert.ok(section.includes("/zones/$ZONE_ID/rulesets/phases/$phase/entrypoint"));
    });
});
