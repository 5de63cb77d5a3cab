/**
 * RDS names must not collide: a replacement must not meet the old instance's identifier, and no
 * deletion may meet a final snapshot an earlier instance left (a second `pulumi destroy`, or the
 * deletion of a replacement). The limits below are AWS's, copied here by hand:
 * - DB instance identifier: 1 to 63 letters, digits or hyphens; first a letter; no trailing
 *   hyphen, no two consecutive hyphens (CreateDBInstance `DBInstanceIdentifier`,
 *   https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html), and
 *   lower case for the provider (hashicorp/terraform-provider-aws internal/service/rds/validate.go
 *   `validIdentifier`: `^[0-9a-z-]+$`, `^[a-z]`, no `--`, no `-$`).
 * - Final snapshot identifier: 1 to 255 letters or digits (and hyphens); first a letter; no
 *   trailing hyphen, no two consecutive hyphens (DeleteDBInstance `FinalDBSnapshotIdentifier`,
 *   https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html; the
 *   provider's validator on `final_snapshot_identifier` in internal/service/rds/instance.go).
 */
import { strict as assert } from "assert";
import { randomBytes } from "crypto";
import { ResourceHook } from "../tools/mocks";
import { OfflineRun, PlannedResource, runOffline, unwrapSecrets } from "../tools/offlineRun";
import { loadStackConfig } from "../tools/stackConfig";
import { planStack } from "./helpers";
import { registrationOptions } from "./support/registrationOptions";

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const INSTANCE = "aws:rds/instance:Instance";
const SUFFIX = "random:index/randomString:RandomString";

function wellFormed(value: string, maxLength: number, lowerCaseOnly: boolean): string[] {
    const problems: string[] = [];
    if (value.length < 1 || value.length > maxLength) problems.push(`length ${value.length} not in 1..${maxLength}`);
    if (!(lowerCaseOnly ? /^[a-z0-9-]+$/ : /^[A-Za-z0-9-]+$/).test(value)) problems.push("characters other than letters, digits, hyphens");
    if (!/^[A-Za-z]/.test(value)) problems.push("does not start with a letter");
    if (value.includes("--")) problems.push("two consecutive hyphens");
    if (value.endsWith("-")) problems.push("ends with a hyphen");
    return problems;
}

/**
 * terraform-provider-random's `random_string`, as far as this test needs it: `result` drawn on
 * create from the character classes the inputs allow (upper, lower, numeric, special).
 */
const randomProvider: ResourceHook = async (args) => {
    if (args.type !== SUFFIX) return undefined;
    const alphabet = [
        args.inputs.lower === false ? "" : "abcdefghijklmnopqrstuvwxyz",
        args.inputs.upper === false ? "" : "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        args.inputs.numeric === false ? "" : "0123456789",
        args.inputs.special === false ? "" : "!@#$%&*()-_=+[]{}<>:?",
    ].join("");
    const result = Array.from(randomBytes(Number(args.inputs.length)), (b) => alphabet[b % alphabet.length]).join("");
    return { id: result, state: { ...args.inputs, result } };
};

/** A plan as applied, with the random provider drawing for real: what two creations of the stack would name things. */
function appliedPlan(stack: string): Promise<OfflineRun> {
    return runOffline(loadStackConfig(stack), { hook: randomProvider });
}

const instanceOf = (run: OfflineRun) => unwrapSecrets((run.resources.find((r) => r.type === INSTANCE) as PlannedResource).inputs) as Props;

/**
 * The arguments of `aws_db_instance` that are ForceNew (changing one replaces the instance), as
 * their Pulumi input names: hashicorp/terraform-provider-aws internal/service/rds/instance.go.
 */
const FORCE_NEW_INPUTS = [
    "availabilityZone", "characterSetName", "customIamInstanceProfile", "dbName", "engine", "identifier", "identifierPrefix",
    "kmsKeyId", "ncharCharacterSetName", "restoreToPointInTime", "s3Import", "snapshotIdentifier", "storageEncrypted", "timezone", "username",
];

describe("RDS names never collide (replacement, second destroy)", function () {
    this.timeout(120_000);

    for (const stack of ["staging", "production"]) {
        it(`${stack}: the instance identifier is within AWS's limits and fixed (pakashop-${stack})`, async () => {
            const instance = instanceOf(await planStack(stack));
            assert.equal(instance.identifier, `pakashop-${stack}`);
            assert.deepEqual(wellFormed(instance.identifier, 63, true), []);
        });
    }

    it("two creations of a stack name their final snapshots differently, each within AWS's limits", async () => {
        for (const stack of ["staging", "production"]) {
            const first = instanceOf(await appliedPlan(stack)).finalSnapshotIdentifier;
            const second = instanceOf(await appliedPlan(stack)).finalSnapshotIdentifier;
            assert.notEqual(first, second, `${stack}: both instances would leave a snapshot named ${first}`);
            for (const name of [first, second]) {
                assert.match(name, new RegExp(`^pakashop-${stack}-final-[a-z0-9]{8}$`));
                assert.deepEqual(wellFormed(name, 255, false), [], name);
            }
        }
    });

    it("the snapshot suffix is drawn again whenever an input that replaces the instance changes (its keepers)", async () => {
        for (const stack of ["staging", "production"]) {
            const run = await planStack(stack);
            const instance = instanceOf(run);
            const suffix = run.resources.filter((r) => r.type === SUFFIX);
            assert.equal(suffix.length, 1, "one suffix resource");
            const keepers = (suffix[0].inputs as Props).keepers as Record<string, string>;
            const set = FORCE_NEW_INPUTS.filter((key) => instance[key] !== undefined);
            assert.ok(set.includes("identifier"), "the identifier is among them");
            for (const key of set) assert.equal(keepers[key], String(instance[key]), `keepers.${key}`);
            // The suffix belongs to the instance's component and is fed into its final snapshot name.
            const instanceResource = run.resources.find((r) => r.type === INSTANCE) as PlannedResource;
            assert.equal(suffix[0].parent, instanceResource.parent);
        }
    });

    it("a replacement deletes the old instance first (its identifier is fixed); no other resource of the database does", async () => {
        await planStack("production"); // never overlap another run
        const options = await registrationOptions(() => runOffline(loadStackConfig("production")));
        const deleteFirst = [...options].filter(([key, o]) => o.deleteBeforeReplace && key.includes("-database-")).map(([key]) => key);
        assert.deepEqual(deleteFirst, [`${INSTANCE}::pakashop-production-database-instance`]);
    });
});
