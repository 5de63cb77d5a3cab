/**
 * The two local steps around a host's switch in a rolling deploy (components/serviceRollout.ts):
 * `-drain` takes the host out of the load balancer's target group and waits until it has
 * drained; `-return` puts it back and waits until the load balancer reports it healthy. They
 * run on the machine running Pulumi (the in-VPC runner) with AWS CLI v2 and its credentials;
 * the hosts hold none.
 *
 * Exactly four AWS CLI calls, nothing else (the end-to-end test's `aws` stand-in implements
 * exactly these; {@link TARGET_GROUP_CALLS} spells out their argument vectors):
 *
 *     aws elbv2 describe-target-health --region R --target-group-arn ARN \
 *         --query 'TargetHealthDescriptions[].[Target.Id,TargetHealth.State]' --output text
 *     aws elbv2 describe-target-health --region R --target-group-arn ARN --targets Id=I,Port=443 \
 *         --query 'TargetHealthDescriptions[0].TargetHealth.State' --output text
 *     aws elbv2 deregister-targets --region R --target-group-arn ARN --targets Id=I,Port=443
 *     aws elbv2 register-targets --region R --target-group-arn ARN --targets Id=I,Port=443
 *
 * Sources:
 * - `--targets Id=string,Port=integer` is the CLI's shorthand for the TargetDescription list
 *   (AWS CLI v2 reference, `aws elbv2 describe-target-health` / `deregister-targets` /
 *   `register-targets`, https://awscli.amazonaws.com/v2/documentation/api/latest/reference/elbv2/describe-target-health.html;
 *   the CLI's own example: `aws elbv2 wait target-deregistered --targets Id=i-1234567890abcdef0,Port=80`).
 *   A target registered with a port must be deregistered with it ("If you specified a port
 *   override when you registered a target, you must specify both the target ID and the port
 *   when you deregister it", DeregisterTargets API reference). Deregistering a target that is
 *   not registered succeeds ("If the specified target does not exist, the action returns
 *   successfully"), so a drain after a failed rollout is idempotent.
 * - `--output text` prints "multiple lines of tab-separated string values"
 *   (https://docs.aws.amazon.com/cli/latest/userguide/cli-usage-output-format.html): one
 *   `<id>\t<state>` line per registered target for the list query, one word for the state
 *   query (`None` when the query matches nothing).
 * - States: `initial`, `healthy`, `unhealthy`, `unhealthy.draining`, `unused`, `draining`,
 *   `unavailable` (TargetHealth, ELBv2 API reference,
 *   https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html).
 *   A target that is not registered is `unused` with reason `Target.NotRegistered`; a
 *   deregistering one is `draining` until the deregistration delay has passed. AWS's own
 *   waiters use the same two facts: `target-deregistered` succeeds when the state is `unused`
 *   (or the call fails with InvalidTarget: the instance is gone), `target-in-service` when it is
 *   `healthy` (botocore data/elbv2/2015-12-01/waiters-2.json, TargetDeregistered /
 *   TargetInService). The CLI waiters themselves are not used: they poll every 15 s for 40
 *   attempts, fixed, where these steps need their own bounds and a message naming the state.
 *
 * The N-1 rule: a drain takes its host out only while every other registered target is
 * `healthy` and at least one is (after waiting, bounded, for that): with the previous host's
 * `-return` as its dependency, that is the one way a rollout could leave fewer than N-1 hosts
 * serving (another host sick, or left out of the group by a failed deploy or by hand). A host
 * that is not in the group (a new host; one a failed deploy left out) has nothing to drain. The
 * one exception is a fleet of one (PAKASHOP_FLEET_SIZE=1, staging): out of the target group it
 * would serve nobody, so it switches in service (its services restart tier by tier, as they
 * did before the fleet). In a fleet of two or more, "no other host in service" is never read as
 * "a fleet of one": the drain refuses, and the runbook (section 10) says how to bring the other
 * host back.
 *
 * The `-retire` step's delete (a host replaced, the fleet scaled down, the stack destroyed)
 * deregisters the host and waits until it is `unused`, so requests in flight on it finish before
 * the switch's delete stops its services and the instance goes.
 */
import { scriptHeader } from "../../host/shell";

/** The port every target is registered on: the hosts' nginx HTTPS (components/targetGroupSettings.ts). */
export const TARGET_PORT = 443;

/** The list query: one `<id>\t<state>` line per registered target. */
export const LIST_TARGETS_QUERY = "TargetHealthDescriptions[].[Target.Id,TargetHealth.State]";
/** The state query of one target (`unused` when not registered). */
export const TARGET_STATE_QUERY = "TargetHealthDescriptions[0].TargetHealth.State";

/** Every state TargetHealth.State takes (ELBv2 API reference, TargetHealthStateEnum). */
export const TARGET_STATES = ["initial", "healthy", "unhealthy", "unhealthy.draining", "unused", "draining", "unavailable"] as const;

/** The value of `--targets` for one instance: the CLI's shorthand syntax. */
export function targetsArgument(instanceId: string, port: number = TARGET_PORT): string {
    return `Id=${instanceId},Port=${port}`;
}

/**
 * The exact argument vectors (after `aws`) of the four calls the scripts make, in the order of
 * their options. A stand-in for `aws` that accepts exactly these (and fails with 255, as the
 * CLI does on a usage error, for anything else) can run both scripts.
 */
export const TARGET_GROUP_CALLS = {
    /** Every registered target and its state, one `<id>\t<state>` line each. */
    listTargets: (region: string, targetGroupArn: string): string[] => [
        "elbv2", "describe-target-health", "--region", region, "--target-group-arn", targetGroupArn,
        "--query", LIST_TARGETS_QUERY, "--output", "text",
    ],
    /** One target's state, one word. */
    targetState: (region: string, targetGroupArn: string, instanceId: string, port: number = TARGET_PORT): string[] => [
        "elbv2", "describe-target-health", "--region", region, "--target-group-arn", targetGroupArn,
        "--targets", targetsArgument(instanceId, port), "--query", TARGET_STATE_QUERY, "--output", "text",
    ],
    /** Takes the target out: the load balancer drains it for the deregistration delay. */
    deregister: (region: string, targetGroupArn: string, instanceId: string, port: number = TARGET_PORT): string[] => [
        "elbv2", "deregister-targets", "--region", region, "--target-group-arn", targetGroupArn, "--targets", targetsArgument(instanceId, port),
    ],
    /** Puts the target in: `initial` until it passes the health check's healthy threshold. */
    register: (region: string, targetGroupArn: string, instanceId: string, port: number = TARGET_PORT): string[] => [
        "elbv2", "register-targets", "--region", region, "--target-group-arn", targetGroupArn, "--targets", targetsArgument(instanceId, port),
    ],
} as const;

/**
 * The environment both steps read (all plain values; no secret):
 * - PAKASHOP_TARGET_GROUP_ARN: `arn:aws[-partition]:elasticloadbalancing:...`
 * - PAKASHOP_INSTANCE_ID: the host's instance id (`i-` and 8 or 17 hex digits)
 * - PAKASHOP_REGION: the region (`eu-central-1`)
 * - PAKASHOP_TARGET_PORT: the registration port (443)
 * - PAKASHOP_DRAIN_WAIT_SECONDS: bound of the wait for `unused` after deregistering (integer)
 * - PAKASHOP_HEALTHY_WAIT_SECONDS: bound of the waits for `healthy` (integer)
 * - PAKASHOP_FLEET_SIZE: how many backend hosts the stack runs (`backendHosts`, 1 to 99)
 * - PAKASHOP_POLL_SECONDS: pause between polls; an integer or a decimal such as `0.05` (GNU
 *   `sleep` takes fractions; the unit tests use fractions so they need not wait seconds)
 */
export const TARGET_GROUP_ENVIRONMENT = [
    "PAKASHOP_TARGET_GROUP_ARN", "PAKASHOP_INSTANCE_ID", "PAKASHOP_REGION", "PAKASHOP_TARGET_PORT",
    "PAKASHOP_DRAIN_WAIT_SECONDS", "PAKASHOP_HEALTHY_WAIT_SECONDS", "PAKASHOP_POLL_SECONDS", "PAKASHOP_FLEET_SIZE",
] as const;

/**
 * The head both scripts share: the environment, validated before any AWS call (every value
 * reaches a command line, so each must have exactly its documented shape), and the two calls
 * that read state.
 */
function commonPart(step: string): string {
    return `${scriptHeader(step)}
# AWS CLI v2 pipes output through a pager when it writes to a terminal; never here
# (https://docs.aws.amazon.com/cli/latest/userguide/cli-usage-pagination.html, client-side pager).
export AWS_PAGER=""
: "\${PAKASHOP_TARGET_GROUP_ARN:?}" "\${PAKASHOP_INSTANCE_ID:?}" "\${PAKASHOP_REGION:?}" "\${PAKASHOP_TARGET_PORT:?}"
: "\${PAKASHOP_DRAIN_WAIT_SECONDS:?}" "\${PAKASHOP_HEALTHY_WAIT_SECONDS:?}" "\${PAKASHOP_POLL_SECONDS:?}" "\${PAKASHOP_FLEET_SIZE:?}"
arn=$PAKASHOP_TARGET_GROUP_ARN
instance=$PAKASHOP_INSTANCE_ID
region=$PAKASHOP_REGION
port=$PAKASHOP_TARGET_PORT
# The ARN's shape as AWS documents it (arn:partition:elasticloadbalancing:region:account:
# targetgroup/name/id), kept to the characters ARNs use, so nothing in it means anything to a shell.
[[ $arn =~ ^arn:aws[a-z-]*:elasticloadbalancing:[A-Za-z0-9:/_.-]+$ ]] || fail "not a target group ARN: $arn"
[[ $instance =~ ^i-[0-9a-f]{8,17}$ ]] || fail "not an EC2 instance id: $instance"
[[ $region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]] || fail "not an AWS region: $region"
if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || (( port > 65535 )); then fail "not a port: $port"; fi
for bound in PAKASHOP_DRAIN_WAIT_SECONDS PAKASHOP_HEALTHY_WAIT_SECONDS; do
    [[ \${!bound} =~ ^[1-9][0-9]{0,4}$ ]] || fail "$bound is not a whole number of seconds from 1 to 99999: \${!bound}"
done
[[ $PAKASHOP_POLL_SECONDS =~ ^[0-9]{1,3}(\\.[0-9]{1,3})?$ && ! $PAKASHOP_POLL_SECONDS =~ ^0+(\\.0*)?$ ]] \\
    || fail "PAKASHOP_POLL_SECONDS is not a positive number of seconds (such as 2 or 0.5): $PAKASHOP_POLL_SECONDS"
poll_seconds=$PAKASHOP_POLL_SECONDS
[[ $PAKASHOP_FLEET_SIZE =~ ^[1-9][0-9]?$ ]] || fail "PAKASHOP_FLEET_SIZE is not a number of hosts from 1 to 99: $PAKASHOP_FLEET_SIZE"
target="Id=$instance,Port=$port"
# A failed call's error message (stderr), kept apart from the output it would otherwise spoil.
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

# Every registered target of the group, one "<id> <state>" line each.
list_targets() {
    aws elbv2 describe-target-health --region "$region" --target-group-arn "$arn" \\
        --query '${LIST_TARGETS_QUERY}' --output text
}

# This host's state in the group: "unused" when it is not registered.
own_state() {
    aws elbv2 describe-target-health --region "$region" --target-group-arn "$arn" --targets "$target" \\
        --query '${TARGET_STATE_QUERY}' --output text
}

# Polls own_state until it is $1, bounded by $2 seconds. Sets state (the last one read) and
# waited (seconds); returns 1 when the bound passed first. A failed call counts as a poll: the
# next one may succeed (throttling), and the bound still holds.
wait_for_own_state() {
    local wanted=$1 bound=$2 started=$SECONDS output
    state="(not read yet)"
    while :; do
        if output=$(own_state 2>"$errors"); then
            state=\${output//[[:space:]]/}
        else
            state="unreadable (describe-target-health: $(tail -n 1 "$errors"))"
        fi
        waited=$(( SECONDS - started ))
        [[ $state == "$wanted" ]] && return 0
        (( waited < bound )) || return 1
        sleep "$poll_seconds"
    done
}
`;
}

/**
 * Deregisters the host and waits until the target group reports it `unused`: what the drain
 * and the retire step end with. `why` follows "deregistered <id>" in the log; `hint` ends the
 * failure message.
 */
function deregisterAndDrain(why: string, hint: string): string {
    return `aws elbv2 deregister-targets --region "$region" --target-group-arn "$arn" --targets "$target" \\
    || fail "deregister-targets failed for $instance"
log "deregistered $instance${why}; waiting until it has drained (at most $PAKASHOP_DRAIN_WAIT_SECONDS s)"
wait_for_own_state unused "$PAKASHOP_DRAIN_WAIT_SECONDS" \\
    || fail "$instance is still $state after $waited s; it is out of the target group, but not drained${hint}"
log "drained $instance in $waited s"
`;
}

/**
 * The `-drain` step: refuses while another registered target is not healthy (bounded wait
 * first), leaves a lone host in service, else deregisters the host and waits until it is
 * `unused` (drained).
 */
export function renderDrainScript(): string {
    return `${commonPart("drain")}
# A line no other run prints: the return step's triggers hold this step's output, so every run of
# the drain is followed by a return (components/serviceRollout.ts says why).
log "drain of $instance, run $(date -u +%Y%m%dT%H%M%S.%N)-$$-$RANDOM"
fleet_size=$PAKASHOP_FLEET_SIZE
# 1. Where this host stands, and the others: every other registered target must be healthy, and
# at least one must be, so that taking this one out leaves N-1 serving.
started=$SECONDS
while :; do
    if ! listing=$(list_targets 2>"$errors"); then
        # A failed read (throttling) counts as a poll; the bound still holds.
        (( SECONDS - started < PAKASHOP_HEALTHY_WAIT_SECONDS )) \\
            || fail "refusing to take $instance out of service: the target group's health is unreadable (describe-target-health: $(tail -n 1 "$errors"))"
        log "describe-target-health: $(tail -n 1 "$errors")"
        sleep "$poll_seconds"
        continue
    fi
    own=""
    healthy_others=0
    blocker=""
    while IFS=$'\\t' read -r id id_state; do
        [[ -n $id ]] || continue
        if [[ $id == "$instance" ]]; then own=$id_state; continue; fi
        if [[ $id_state == healthy ]]; then healthy_others=$(( healthy_others + 1 )); continue; fi
        # A target on its way out (deregistered) serves no new request and is no reason to wait.
        [[ $id_state == draining || -n $blocker ]] || blocker="$id is $id_state"
    done <<< "$listing"
    if [[ -z $own ]]; then
        # 2. Not in the group (a new host, or one a failed deploy left out): nothing to drain.
        log "$instance is not in the target group: nothing to drain"
        exit 0
    fi
    [[ $own == draining ]] && break
    if (( fleet_size == 1 && healthy_others == 0 )) && [[ -z $blocker ]]; then
        # 3. A fleet of one: out of the group it would serve nobody, so it switches in service.
        log "$instance is the only host: switching in service"
        exit 0
    fi
    (( healthy_others > 0 )) || [[ -n $blocker ]] || blocker="no other host is in service (the fleet has $fleet_size hosts; docs/runbook.md, section 10)"
    [[ -z $blocker ]] && break
    if (( SECONDS - started >= PAKASHOP_HEALTHY_WAIT_SECONDS )); then
        fail "refusing to take $instance out of service: $blocker; the fleet would have fewer than N-1 hosts in service"
    fi
    log "waiting: $blocker"
    sleep "$poll_seconds"
done

# 4. Out of the group; the load balancer sends it no new request and lets the open ones finish
# (the deregistration delay), then reports it unused.
${deregisterAndDrain("", " (deregistration delay longer than PAKASHOP_DRAIN_WAIT_SECONDS?)")}`;
}

/**
 * The `-return` step: registers the host and waits until the load balancer reports it
 * `healthy`; fails with the last state otherwise (the host stays registered: the load balancer
 * sends nothing to an unhealthy target while another is healthy).
 */
export function renderReturnScript(): string {
    return `${commonPart("return")}
aws elbv2 register-targets --region "$region" --target-group-arn "$arn" --targets "$target" \\
    || fail "register-targets failed for $instance"
log "registered $instance; waiting until the load balancer reports it healthy (at most $PAKASHOP_HEALTHY_WAIT_SECONDS s)"
wait_for_own_state healthy "$PAKASHOP_HEALTHY_WAIT_SECONDS" \\
    || fail "$instance is $state in the target group after $waited s, not healthy; the rollout stops here (the next host is not drained)"
log "$instance healthy in the target group after $waited s"
`;
}

/**
 * The `-retire` step: its create does nothing (it only records the host); its delete, which
 * runs when the host is replaced or removed or the stack destroyed, deregisters the host and
 * waits until it is `unused`, so the requests in flight on it finish before its services stop.
 * Pulumi deletes a resource's dependents first: the target group attachment depends on this
 * step, this step on the switch, so the order is attachment, this drain, the switch's delete
 * (which stops the services), the instance.
 */
export function renderRetireScript(): string {
    return `${commonPart("retire")}
${deregisterAndDrain(" before its services stop", "")}`;
}

/** The `-retire` step's create: validates its environment (as its delete will need it) and records the host. */
export function renderRetireCreateScript(): string {
    return `${commonPart("retire")}
log "$instance will be drained before its services stop when it is replaced or removed"
`;
}
