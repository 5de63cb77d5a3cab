/**
 * The target group's settings (components/targetGroupSettings.ts): within the limits the API
 * and the provider enforce, each way out of them refused with what is wrong, and the load
 * balancer's component refusing a fleet it can't spread.
 */
import { strict as assert } from "assert";
import { FLEET_HEALTH_PATH } from "../host/health/fleetHealth";
import { TARGET_GROUP, targetGroupProblems } from "../components/targetGroupSettings";
import { AWS_LB } from "../components/providerValues";

describe("target group settings", () => {
    it("are the documented values: HTTPS to 443, /healthz every 5 s with a 4 s timeout, 2 to flip either way, 30 s deregistration delay", () => {
        assert.deepEqual(TARGET_GROUP, {
            port: 443, protocol: "HTTPS",
            healthCheck: { path: FLEET_HEALTH_PATH, protocol: "HTTPS", port: "traffic-port", matcher: "200", intervalSeconds: 5, timeoutSeconds: 4, healthyThreshold: 2, unhealthyThreshold: 2 },
            deregistrationDelaySeconds: 30,
        });
        assert.equal(FLEET_HEALTH_PATH, "/healthz");
        assert.equal(TARGET_GROUP.protocol, AWS_LB.protocol.https);
    });

    it("are within the API's and the provider's limits", () => {
        assert.deepEqual(targetGroupProblems(TARGET_GROUP), []);
    });

    const change = (edit: (s: { healthCheck: Record<string, number>; deregistrationDelaySeconds: number }) => void) => {
        const copy = structuredClone({ healthCheck: { ...TARGET_GROUP.healthCheck }, deregistrationDelaySeconds: TARGET_GROUP.deregistrationDelaySeconds }) as
            { healthCheck: Record<string, number> & typeof TARGET_GROUP.healthCheck; deregistrationDelaySeconds: number };
        edit(copy);
        return targetGroupProblems(copy);
    };
    const CASES: [string, (s: { healthCheck: Record<string, number>; deregistrationDelaySeconds: number }) => void, string[]][] = [
        ["an interval below 5 s", (s) => (s.healthCheck.intervalSeconds = 4), ["healthCheck.intervalSeconds 4 is outside 5..300", "healthCheck.timeoutSeconds 4 must be less than intervalSeconds 4"]],
        ["an interval above 300 s", (s) => (s.healthCheck.intervalSeconds = 301), ["healthCheck.intervalSeconds 301 is outside 5..300"]],
        ["a timeout of 1 s", (s) => (s.healthCheck.timeoutSeconds = 1), ["healthCheck.timeoutSeconds 1 is outside 2..120"]],
        ["a timeout equal to the interval", (s) => (s.healthCheck.timeoutSeconds = 5), ["healthCheck.timeoutSeconds 5 must be less than intervalSeconds 5"]],
        ["one success to be healthy", (s) => (s.healthCheck.healthyThreshold = 1), ["healthCheck.healthyThreshold 1 is outside 2..10"]],
        ["eleven failures to be unhealthy", (s) => (s.healthCheck.unhealthyThreshold = 11), ["healthCheck.unhealthyThreshold 11 is outside 2..10"]],
        ["a deregistration delay above an hour", (s) => (s.deregistrationDelaySeconds = 3601), ["deregistrationDelaySeconds 3601 is outside 0..3600"]],
        ["a fractional delay", (s) => (s.deregistrationDelaySeconds = 2.5), ["deregistrationDelaySeconds 2.5 is outside 0..3600"]],
    ];
    for (const [what, edit, problems] of CASES) {
        it(`refuses ${what}`, () => {
            assert.deepEqual(change(edit), problems);
        });
    }
});
