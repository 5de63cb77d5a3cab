/**
 * A bad setting under the real engine: the program's error must be one the language host
 * prints without a stack trace (a RunError; @pulumi/pulumi cmd/run/run.js hides the stack only
 * for those), and still a SettingError for the offline tools.
 */
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { SettingError } from "../components/errors";
import { planStack } from "./helpers";

describe("a bad setting ends the program as a RunError (no stack trace under pulumi up)", function () {
    this.timeout(120_000);
    for (const [what, overrides] of [
        ["a bad instance type", { "pakashop-infra:instanceType": "t3.LARGE" }],
        ["an unknown setting", { "pakashop-infra:instanceTyp": "t3.large" }],
    ] as const) {
        it(`${what}: RunError.isInstance is true, and it is still a SettingError`, async () => {
            await assert.rejects(planStack("staging", overrides), (e: Error) => {
                assert.ok(e instanceof SettingError, String(e));
                assert.equal(pulumi.RunError.isInstance(e), true);
                return true;
            });
        });
    }

    it("an error that is not about a setting is left alone (the check can fail)", () => {
        assert.equal(pulumi.RunError.isInstance(new Error("x")), false);
    });
});
