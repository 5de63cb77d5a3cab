/**
 * The rolling deploy's drain and return steps (components/scripts/targetGroup.ts), run for real
 * with bash against a stand-in `aws` on PATH: a bash script that keeps the target group in files
 * of the test's temporary folder, accepts exactly the four calls the scripts are documented to
 * make (anything else exits 255, as the CLI does on a usage error), and moves targets between
 * states after a set number of describe calls (draining -> gone, initial -> healthy or
 * unhealthy). Asserted are effects: the calls made, in order; refusals before any call; the
 * messages an operator reads.
 *
 * Timing: PAKASHOP_POLL_SECONDS takes decimals (GNU sleep), so the tests poll every 0.02 s; the
 * bounds (PAKASHOP_*_WAIT_SECONDS) are whole seconds counted with bash's SECONDS (whole seconds
 * of the clock, so a bound of 2 ends after 1 to 2 s), 2 where a test waits for a bound to pass,
 * 30 elsewhere (reached only on a failure of the script under test).
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LIST_TARGETS_QUERY, renderDrainScript, renderRetireCreateScript, renderRetireScript, renderReturnScript, TARGET_GROUP_CALLS, TARGET_STATE_QUERY } from "../components/scripts/targetGroup";

const ARN = "arn:aws:elasticloadbalancing:ap-south-1:123456789012:targetgroup/pakashop-production-backend-tg/0123456789abcdef";
const REGION = "ap-south-1";
const SELF = "i-0aaaaaaaaaaaaaaa1";
const OTHER = "i-0bbbbbbbbbbbbbbb2";
const THIRD = "i-0ccccccccccccccc3";

/**
 * The stand-in. State: `targets` (`<id>\t<state>` per registered target), `pending/<id>`
 * (`<describe calls left> <next state or "gone">`), `calls` (one line per call, arguments
 * joined by tabs), `fail-next` (how many describe calls fail as throttled). Every describe
 * call first advances every pending transition by one.
 */
const FAKE_AWS = String.raw`#!/usr/bin/env bash
set -euo pipefail
dir=${"$"}{FAKE_AWS_DIR:?}
(IFS=$'\t'; printf '%s\n' "$*") >> "$dir/calls"
unknown() { printf 'aws: error: the stand-in does not know this call: %s\n' "$*" >&2; exit 255; }
touch "$dir/targets"
mkdir -p "$dir/pending"
set_state() {
    { grep -v "^$1"$'\t' "$dir/targets" || true; } > "$dir/targets.new"
    [[ $2 == gone ]] || printf '%s\t%s\n' "$1" "$2" >> "$dir/targets.new"
    mv "$dir/targets.new" "$dir/targets"
}
state_of() {
    awk -F'\t' -v id="$1" '$1 == id { print $2; found = 1 } END { if (!found) print "unused" }' "$dir/targets"
}
tick() {
    local file n next
    for file in "$dir"/pending/*; do
        [[ -e $file ]] || continue
        read -r n next < "$file"
        if (( n > 1 )); then echo "$(( n - 1 )) $next" > "$file"; else rm "$file"; set_state "${"$"}{file##*/}" "$next"; fi
    done
}
throttled() {
    local left
    left=$(cat "$dir/fail-next" 2>/dev/null || echo 0)
    (( left > 0 )) || return 1
    echo $(( left - 1 )) > "$dir/fail-next"
    echo "An error occurred (Throttling) when calling the DescribeTargetHealth operation: Rate exceeded" >&2
    exit 254
}
target_id() {
    [[ $1 =~ ^Id=(i-[0-9a-f]+),Port=443$ ]] || unknown "bad --targets $1"
    printf '%s' "${"$"}{BASH_REMATCH[1]}"
}
[[ $# -ge 6 && $1 == elbv2 && $3 == --region && $4 == "$FAKE_REGION" && $5 == --target-group-arn ]] || unknown "$@"
[[ $6 == "$FAKE_ARN" ]] || { echo "An error occurred (TargetGroupNotFound) when calling the $2 operation" >&2; exit 254; }
if [[ $# -eq 10 && $2 == describe-target-health && $7 == --query && $8 == 'TargetHealthDescriptions[].[Target.Id,TargetHealth.State]' && $9 == --output && ${"$"}{10} == text ]]; then
    throttled || true
    tick
    cat "$dir/targets"
elif [[ $# -eq 12 && $2 == describe-target-health && $7 == --targets && $9 == --query && ${"$"}{10} == 'TargetHealthDescriptions[0].TargetHealth.State' && ${"$"}{11} == --output && ${"$"}{12} == text ]]; then
    id=$(target_id "$8")
    throttled || true
    tick
    state_of "$id"
elif [[ $# -eq 8 && $2 == deregister-targets && $7 == --targets ]]; then
    id=$(target_id "$8")
    if [[ $(state_of "$id") != unused ]]; then
        set_state "$id" draining
        echo "${"$"}{FAKE_DRAIN_POLLS:-3} gone" > "$dir/pending/$id"
    fi
elif [[ $# -eq 8 && $2 == register-targets && $7 == --targets ]]; then
    id=$(target_id "$8")
    if [[ $(state_of "$id") != healthy ]]; then
        set_state "$id" initial
        echo "${"$"}{FAKE_HEALTHY_POLLS:-2} ${"$"}{FAKE_REGISTERED_STATE:-healthy}" > "$dir/pending/$id"
    fi
else
    unknown "$@"
fi
`;

interface Stage {
    readonly dir: string;
    /** `<id> <state>` of registered targets; `pending` sets transitions (`{ id: [polls, next] }`). */
    readonly targets: Record<string, string>;
}

interface Run {
    readonly status: number;
    readonly stdout: string;
    readonly stderr: string;
    /** Every call the script made, as argument vectors. */
    readonly calls: string[][];
    /** The target group afterwards. */
    readonly targets: Record<string, string>;
    readonly seconds: number;
}

let workDir: string;

function stage(targets: Record<string, string>, pending: Record<string, [number, string]> = {}, failNext = 0): Stage {
    const dir = fs.mkdtempSync(path.join(workDir, "stage-"));
    fs.mkdirSync(path.join(dir, "bin"));
    fs.mkdirSync(path.join(dir, "pending"));
    fs.writeFileSync(path.join(dir, "bin", "aws"), FAKE_AWS, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "targets"), Object.entries(targets).map(([id, state]) => `${id}\t${state}\n`).join(""));
    for (const [id, [polls, next]] of Object.entries(pending)) fs.writeFileSync(path.join(dir, "pending", id), `${polls} ${next}\n`);
    fs.writeFileSync(path.join(dir, "fail-next"), `${failNext}\n`);
    return { dir, targets };
}

const BASE_ENV = {
    PAKASHOP_TARGET_GROUP_ARN: ARN,
    PAKASHOP_INSTANCE_ID: SELF,
    PAKASHOP_REGION: REGION,
    PAKASHOP_TARGET_PORT: "443",
    PAKASHOP_DRAIN_WAIT_SECONDS: "30",
    PAKASHOP_HEALTHY_WAIT_SECONDS: "30",
    PAKASHOP_POLL_SECONDS: "0.02",
    PAKASHOP_FLEET_SIZE: "3",
};

function run(script: string, at: Stage, env: Record<string, string> = {}): Run {
    const started = process.hrtime.bigint();
    // stdin from /dev/null: bash reads ~/.bashrc when its stdin is a socket (it takes that for
    // rshd), and node's pipes are sockets.
    const result = spawnSync("/bin/bash", ["-c", script], {
        encoding: "utf8",
        timeout: 60_000,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
            PATH: `${path.join(at.dir, "bin")}:/usr/bin:/bin`,
            HOME: at.dir,
            FAKE_AWS_DIR: at.dir, FAKE_ARN: ARN, FAKE_REGION: REGION,
            ...BASE_ENV, ...env,
        },
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const read = (file: string) => (fs.existsSync(path.join(at.dir, file)) ? fs.readFileSync(path.join(at.dir, file), "utf8") : "");
    const calls = read("calls").split("\n").filter(Boolean).map((line) => line.split("\t"));
    const targets = Object.fromEntries(read("targets").split("\n").filter(Boolean).map((line) => line.split("\t") as [string, string]));
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr, calls, targets, seconds };
}

// The four calls, spelled out here once more by hand (not only through TARGET_GROUP_CALLS),
// so a change of the documented shapes fails this test too.
const LIST = ["elbv2", "describe-target-health", "--region", REGION, "--target-group-arn", ARN,
    "--query", "TargetHealthDescriptions[].[Target.Id,TargetHealth.State]", "--output", "text"];
const STATE = ["elbv2", "describe-target-health", "--region", REGION, "--target-group-arn", ARN,
    "--targets", `Id=${SELF},Port=443`, "--query", "TargetHealthDescriptions[0].TargetHealth.State", "--output", "text"];
const DEREGISTER = ["elbv2", "deregister-targets", "--region", REGION, "--target-group-arn", ARN, "--targets", `Id=${SELF},Port=443`];
const REGISTER = ["elbv2", "register-targets", "--region", REGION, "--target-group-arn", ARN, "--targets", `Id=${SELF},Port=443`];

describe("target group steps: drain and return against a stand-in aws", function () {
    this.timeout(60_000);
    before(() => {
        workDir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-target-group-"));
    });
    after(() => fs.rmSync(workDir, { recursive: true, force: true }));

    it("the documented argument vectors are the ones the stand-in (and the e2e's) accepts", () => {
        assert.deepEqual(TARGET_GROUP_CALLS.listTargets(REGION, ARN), LIST);
        assert.deepEqual(TARGET_GROUP_CALLS.targetState(REGION, ARN, SELF), STATE);
        assert.deepEqual(TARGET_GROUP_CALLS.deregister(REGION, ARN, SELF), DEREGISTER);
        assert.deepEqual(TARGET_GROUP_CALLS.register(REGION, ARN, SELF), REGISTER);
        assert.equal(LIST_TARGETS_QUERY, LIST[7]);
        assert.equal(TARGET_STATE_QUERY, STATE[9]);
        // The stand-in is strict: another spelling of a call is a usage error (255), not an answer.
        const at = stage({ [SELF]: "healthy" });
        const other = spawnSync(path.join(at.dir, "bin", "aws"), ["elbv2", "describe-target-health", "--target-group-arn", ARN, "--region", REGION],
            { encoding: "utf8", env: { PATH: "/usr/bin:/bin", FAKE_AWS_DIR: at.dir, FAKE_ARN: ARN, FAKE_REGION: REGION } });
        assert.equal(other.status, 255, other.stderr);
    });

    it("drain: with every other target healthy, deregisters the host and waits until it is unused (drained)", () => {
        const at = stage({ [SELF]: "healthy", [OTHER]: "healthy", [THIRD]: "healthy" });
        const result = run(renderDrainScript(), at, { FAKE_DRAIN_POLLS: "3" });
        assert.equal(result.status, 0, result.stderr);
        // draining for two state polls, unused on the third.
        assert.deepEqual(result.calls, [LIST, DEREGISTER, STATE, STATE, STATE]);
        assert.deepEqual(result.targets, { [OTHER]: "healthy", [THIRD]: "healthy" });
        assert.match(result.stdout, new RegExp(`^\\[drain\\] drained ${SELF} in \\d+ s$`, "m"));
    });

    it("drain: two runs never print the same output (the return step's triggers hold it, so a return follows every drain)", () => {
        const outputs = [1, 2].map(() => {
            const result = run(renderDrainScript(), stage({}));
            assert.equal(result.status, 0, result.stderr);
            assert.match(result.stdout, new RegExp(`^\\[drain\\] drain of ${SELF}, run \\d{8}T\\d{6}\\.\\d+-\\d+-\\d+$`, "m"));
            return result.stdout;
        });
        assert.notEqual(outputs[0], outputs[1]);
    });

    it("drain: waits (bounded) for another target to become healthy, then drains", () => {
        const at = stage({ [SELF]: "healthy", [OTHER]: "initial" }, { [OTHER]: [3, "healthy"] });
        const result = run(renderDrainScript(), at, { FAKE_DRAIN_POLLS: "1" });
        assert.equal(result.status, 0, result.stderr);
        assert.deepEqual(result.calls, [LIST, LIST, LIST, DEREGISTER, STATE]);
        assert.match(result.stdout, new RegExp(`waiting: ${OTHER} is initial`));
    });

    for (const state of ["unhealthy", "initial", "unavailable", "unhealthy.draining"]) {
        it(`drain: refuses, after its bound, when another target is ${state}, and never deregisters (N-1)`, () => {
            const at = stage({ [OTHER]: "healthy", [SELF]: "healthy", [THIRD]: state });
            const result = run(renderDrainScript(), at, { PAKASHOP_HEALTHY_WAIT_SECONDS: "2" });
            assert.equal(result.status, 1, result.stdout);
            assert.equal(result.stderr.trim(), `[drain] ERROR: refusing to take ${SELF} out of service: ${THIRD} is ${state}; the fleet would have fewer than N-1 hosts in service`);
            assert.ok(result.calls.length >= 2 && result.calls.every((c) => JSON.stringify(c) === JSON.stringify(LIST)), JSON.stringify(result.calls));
            assert.equal(result.targets[SELF], "healthy", "the host stays in service");
            assert.ok(result.seconds >= 1 && result.seconds < 10, `took ${result.seconds} s`);
        });
    }

    it("drain: another target on its way out (draining) is no reason to wait while one other is healthy", () => {
        const at = stage({ [SELF]: "healthy", [OTHER]: "healthy", [THIRD]: "draining" });
        const result = run(renderDrainScript(), at, { FAKE_DRAIN_POLLS: "1" });
        assert.equal(result.status, 0, result.stderr);
        assert.deepEqual(result.calls, [LIST, DEREGISTER, STATE]);
    });

    it("drain: a fleet of one (PAKASHOP_FLEET_SIZE=1) switches in service: never deregistered", () => {
        const at = stage({ [SELF]: "healthy" });
        const result = run(renderDrainScript(), at, { PAKASHOP_FLEET_SIZE: "1" });
        assert.equal(result.status, 0, result.stderr);
        assert.deepEqual(result.calls, [LIST]);
        assert.equal(result.stdout.trim().split("\n").at(-1), `[drain] ${SELF} is the only host: switching in service`);
        assert.deepEqual(result.targets, { [SELF]: "healthy" });
    });

    it("drain: a host that is not in the target group (new, or left out by a failed deploy) has nothing to drain", () => {
        for (const targets of [{}, { [OTHER]: "healthy" }, { [OTHER]: "unhealthy" }] as Record<string, string>[]) {
            const result = run(renderDrainScript(), stage(targets), { PAKASHOP_FLEET_SIZE: "2" });
            assert.equal(result.status, 0, result.stderr);
            assert.deepEqual(result.calls, [LIST]);
            assert.equal(result.stdout.trim().split("\n").at(-1), `[drain] ${SELF} is not in the target group: nothing to drain`);
            assert.deepEqual(result.targets, targets);
        }
    });

    it("drain: in a fleet of two, no other host in service (the other left out of the group) is a refusal, not a fleet of one", () => {
        const at = stage({ [SELF]: "healthy" });
        const result = run(renderDrainScript(), at, { PAKASHOP_FLEET_SIZE: "2", PAKASHOP_HEALTHY_WAIT_SECONDS: "2" });
        assert.equal(result.status, 1, result.stdout);
        assert.equal(result.stderr.trim(), `[drain] ERROR: refusing to take ${SELF} out of service: no other host is in service (the fleet has 2 hosts; docs/runbook.md, section 10); the fleet would have fewer than N-1 hosts in service`);
        assert.ok(result.calls.every((c) => JSON.stringify(c) === JSON.stringify(LIST)), JSON.stringify(result.calls));
        assert.deepEqual(result.targets, { [SELF]: "healthy" }, "the host stays in service");
    });

    it("retire: on delete, deregisters the host and waits until it is unused; its create only checks its environment", () => {
        const at = stage({ [SELF]: "healthy", [OTHER]: "healthy" });
        const result = run(renderRetireScript(), at, { FAKE_DRAIN_POLLS: "2" });
        assert.equal(result.status, 0, result.stderr);
        assert.deepEqual(result.calls, [DEREGISTER, STATE, STATE]);
        assert.deepEqual(result.targets, { [OTHER]: "healthy" });
        assert.match(result.stdout, new RegExp(`drained ${SELF} in \\d+ s`));
        const create = run(renderRetireCreateScript(), stage({ [SELF]: "healthy" }));
        assert.equal(create.status, 0, create.stderr);
        assert.deepEqual(create.calls, []);
    });

    it("drain: fails with the last state when the host is still draining after its bound (it stays out)", () => {
        const at = stage({ [SELF]: "healthy", [OTHER]: "healthy" });
        const result = run(renderDrainScript(), at, { FAKE_DRAIN_POLLS: "100000", PAKASHOP_DRAIN_WAIT_SECONDS: "2" });
        assert.equal(result.status, 1);
        assert.match(result.stderr, new RegExp(`^\\[drain\\] ERROR: ${SELF} is still draining after 2 s; it is out of the target group, but not drained`, "m"));
        assert.deepEqual(result.calls.slice(0, 3), [LIST, DEREGISTER, STATE]);
        assert.ok(result.calls.slice(2).every((c) => JSON.stringify(c) === JSON.stringify(STATE)));
        assert.ok(result.seconds >= 1 && result.seconds < 10, `took ${result.seconds} s`);
    });

    it("drain: a throttled read counts as a poll and is retried", () => {
        const at = stage({ [SELF]: "healthy", [OTHER]: "healthy" }, {}, 1);
        const result = run(renderDrainScript(), at, { FAKE_DRAIN_POLLS: "1" });
        assert.equal(result.status, 0, result.stderr);
        assert.deepEqual(result.calls, [LIST, LIST, DEREGISTER, STATE]);
        assert.match(result.stdout, /describe-target-health: An error occurred \(Throttling\)/);
    });

    it("return: registers the host and waits until the load balancer reports it healthy", () => {
        const at = stage({ [OTHER]: "healthy" });
        const result = run(renderReturnScript(), at, { FAKE_HEALTHY_POLLS: "3" });
        assert.equal(result.status, 0, result.stderr);
        assert.deepEqual(result.calls, [REGISTER, STATE, STATE, STATE]);
        assert.deepEqual(result.targets, { [OTHER]: "healthy", [SELF]: "healthy" });
        assert.match(result.stdout, new RegExp(`^\\[return\\] ${SELF} healthy in the target group after \\d+ s$`, "m"));
    });

    it("return: after a lone host's drain (still registered and healthy) it is at once healthy again", () => {
        const at = stage({ [SELF]: "healthy" });
        const result = run(renderReturnScript(), at);
        assert.equal(result.status, 0, result.stderr);
        assert.deepEqual(result.calls, [REGISTER, STATE]);
    });

    it("return: fails after its bound with the last state the load balancer reported", () => {
        const at = stage({ [OTHER]: "healthy" });
        const result = run(renderReturnScript(), at, { FAKE_HEALTHY_POLLS: "2", FAKE_REGISTERED_STATE: "unhealthy", PAKASHOP_HEALTHY_WAIT_SECONDS: "2" });
        assert.equal(result.status, 1);
        assert.match(result.stderr, new RegExp(`^\\[return\\] ERROR: ${SELF} is unhealthy in the target group after 2 s, not healthy; the rollout stops here`, "m"));
        assert.deepEqual(result.calls.slice(0, 2), [REGISTER, STATE]);
        assert.equal(result.targets[SELF], "unhealthy");
        assert.ok(result.seconds >= 1 && result.seconds < 10, `took ${result.seconds} s`);
    });

    const BAD_VALUES: [string, string, RegExp][] = [
        ["PAKASHOP_INSTANCE_ID", "i-0aaaaaaaaaaaaaaa1; touch /tmp/pakashop-owned", /not an EC2 instance id/],
        ["PAKASHOP_INSTANCE_ID", "$(touch /tmp/pakashop-owned)", /not an EC2 instance id/],
        ["PAKASHOP_INSTANCE_ID", "i-0AAAAAAAAAAAAAAA1", /not an EC2 instance id/],
        ["PAKASHOP_TARGET_GROUP_ARN", `${ARN}$(touch /tmp/pakashop-owned)`, /not a target group ARN/],
        ["PAKASHOP_TARGET_GROUP_ARN", "arn:aws:iam::123456789012:role/x", /not a target group ARN/],
        ["PAKASHOP_TARGET_GROUP_ARN", `${ARN} --region us-east-1`, /not a target group ARN/],
        ["PAKASHOP_REGION", "ap-south-1; id", /not an AWS region/],
        ["PAKASHOP_REGION", "ap-south-1`id`", /not an AWS region/],
        ["PAKASHOP_TARGET_PORT", "443 ", /not a port/],
        ["PAKASHOP_TARGET_PORT", "70000", /not a port/],
        ["PAKASHOP_DRAIN_WAIT_SECONDS", "1.5", /PAKASHOP_DRAIN_WAIT_SECONDS is not a whole number/],
        ["PAKASHOP_HEALTHY_WAIT_SECONDS", "0", /PAKASHOP_HEALTHY_WAIT_SECONDS is not a whole number/],
        ["PAKASHOP_POLL_SECONDS", "0", /PAKASHOP_POLL_SECONDS is not a positive number/],
        ["PAKASHOP_POLL_SECONDS", "1e3", /PAKASHOP_POLL_SECONDS is not a positive number/],
        ["PAKASHOP_POLL_SECONDS", "", /PAKASHOP_POLL_SECONDS/],
        ["PAKASHOP_FLEET_SIZE", "0", /PAKASHOP_FLEET_SIZE is not a number of hosts/],
        ["PAKASHOP_FLEET_SIZE", "2; id", /PAKASHOP_FLEET_SIZE is not a number of hosts/],
    ];
    for (const [script, render] of [["drain", renderDrainScript], ["return", renderReturnScript], ["retire", renderRetireScript], ["retire (create)", renderRetireCreateScript]] as const) {
        it(`${script}: refuses a malformed environment value before any aws call`, () => {
            for (const [name, value, message] of BAD_VALUES) {
                const at = stage({ [SELF]: "healthy", [OTHER]: "healthy" });
                const result = run(render(), at, { [name]: value });
                assert.equal(result.status, 1, `${name}=${value}: ${result.stdout}`);
                assert.match(result.stderr, message, `${name}=${value}`);
                assert.deepEqual(result.calls, [], `${name}=${value} reached aws`);
                assert.ok(!fs.existsSync("/tmp/pakashop-owned"), `${name}=${value} ran a command`);
            }
            // A missing variable too.
            const at = stage({ [SELF]: "healthy" });
            const result = run(render(), at, { PAKASHOP_REGION: "" });
            assert.equal(result.status, 1);
            assert.deepEqual(result.calls, []);
        });
    }
});
