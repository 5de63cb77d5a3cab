/**
 * The rolling deploy's order across the fleet, in the program's real production plan (two
 * hosts): no host leaves the target group before every host's releases are prepared, and host 2
 * leaves it only after host 1 is back.
 */
import { strict as assert } from "assert";
import { CATALOG } from "../components/catalog";
import { OfflineRun } from "../tools/offlineRun";
import { planStack } from "./helpers";

const serviceIds = Object.keys(CATALOG.services);

describe("fleet order: prepare everywhere, then host by host", function () {
    this.timeout(120_000);
    let run: OfflineRun;
    const urn = (name: string) => {
        const found = run.resources.filter((r) => r.name === name);
        assert.equal(found.length, 1, `one resource named ${name}`);
        return found[0];
    };

    before(async () => {
        run = await planStack("production");
    });

    it("each host's drain waits for every prepare step of every host", () => {
        const prepares = [1, 2].flatMap((n) => serviceIds.map((id) => urn(`pakashop-production-rollout-${n}-${id}-prepare`).urn));
        for (const n of [1, 2]) {
            const drain = urn(`pakashop-production-rollout-${n}-drain`);
            const missing = prepares.filter((p) => !drain.dependsOn.includes(p));
            assert.deepEqual(missing, [], `host ${n}'s drain does not wait for ${missing.length} prepare steps`);
        }
    });

    it("host 2's drain waits for host 1's return; host 1's drain for no return", () => {
        const returnUrn = (n: number) => urn(`pakashop-production-rollout-${n}-return`).urn;
        assert.ok(urn("pakashop-production-rollout-2-drain").dependsOn.includes(returnUrn(1)));
        assert.ok(!urn("pakashop-production-rollout-1-drain").dependsOn.some((d) => d.endsWith("-return")));
    });
});
