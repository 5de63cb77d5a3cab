/**
 * The backend target group's traffic, health-check and drain settings: one constant, read by
 * the load balancer (components/loadBalancer.ts), by the rollout's drain and return steps
 * (their waits are derived from it: components/serviceRollout.ts) and by the end-to-end test's
 * HAProxy stand-in, so the stand-in checks and drains exactly like the ALB.
 *
 * Why each value (limits from the CreateTargetGroup API,
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html,
 * and the provider's validators in hashicorp/terraform-provider-aws
 * internal/service/elbv2/target_group.go: `deregistration_delay` IntBetween(0, 3600),
 * `health_check.timeout` IntBetween(2, 120), `healthy_threshold`/`unhealthy_threshold`
 * IntBetween(2, 10); interval 5 to 300 s for HTTP/HTTPS checks; the timeout must be less than the
 * interval):
 * - HTTPS to 443 (`port`, `protocol`): nginx on the hosts serves the Cloudflare Origin CA
 *   certificate there already; the ALB does not validate a target's certificate, but the hop
 *   inside the VPC stays encrypted. The fleet's security group admits 443 only.
 * - `healthCheck.path` = FLEET_HEALTH_PATH: answered 200 by the host's aggregator only when the
 *   gateway and the services it needs answer (host/health/fleetHealth.ts), else 503; `matcher`
 *   "200" accepts exactly that. `port` "traffic-port": the check goes where the traffic goes.
 * - `intervalSeconds` 5, the minimum: a host whose gateway dies is out of rotation after
 *   `unhealthyThreshold` x 5 = 10 s, and a returning host is in after `healthyThreshold` x 5 =
 *   10 s, which is what each host adds to a rolling deploy.
 * - `timeoutSeconds` 4: below the interval (required), above the aggregator's own 2 s per-check
 *   timeout plus nginx, so a slow-but-answering host is not failed by the ALB first.
 * - `healthyThreshold` / `unhealthyThreshold` 2, the minimum: one lost probe never flips a host,
 *   two in a row do.
 * - `deregistrationDelaySeconds` 30 (AWS default 300): the API's requests are short (the ALB's idle
 *   timeout is 60 s), so 30 s lets in-flight requests finish. AWS keeps a deregistering target
 *   `draining` until the delay has passed, even with no connection left: "If a deregistering
 *   target has no in-flight requests and no active connections, Elastic Load Balancing
 *   immediately completes the deregistration process, without waiting for the deregistration
 *   delay to elapse. However, even though target deregistration is complete, the status of the
 *   target is displayed as draining until the deregistration delay timeout expires. After the
 *   timeout expires, the target transitions to an unused state." ("Edit target group attributes
 *   for your Application Load Balancer", Deregistration delay,
 *   https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay).
 *   So the drain step waits about 30 s per host whatever the load; a longer delay would lengthen
 *   every deploy by that much per host.
 */
import { FLEET_HEALTH_PATH } from "../host/health/fleetHealth";
import { AWS_LB } from "./providerValues";

export const TARGET_GROUP = {
    port: 443,
    protocol: AWS_LB.protocol.https,
    healthCheck: {
        path: FLEET_HEALTH_PATH,
        protocol: AWS_LB.protocol.https,
        port: AWS_LB.healthCheckPort.trafficPort,
        matcher: "200",
        intervalSeconds: 5,
        timeoutSeconds: 4,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
    },
    deregistrationDelaySeconds: 30,
} as const;

/** The settings a target group may take, as the API and the provider validate them (sources above). */
export const TARGET_GROUP_LIMITS = {
    intervalSeconds: { min: 5, max: 300 },
    timeoutSeconds: { min: 2, max: 120 },
    threshold: { min: 2, max: 10 },
    deregistrationDelaySeconds: { min: 0, max: 3600 },
} as const;

/** What is wrong with `settings` against {@link TARGET_GROUP_LIMITS}; empty when nothing is. */
export function targetGroupProblems(settings: {
    readonly healthCheck: { readonly intervalSeconds: number; readonly timeoutSeconds: number; readonly healthyThreshold: number; readonly unhealthyThreshold: number };
    readonly deregistrationDelaySeconds: number;
}): string[] {
    const problems: string[] = [];
    const within = (what: string, value: number, range: { min: number; max: number }) => {
        if (!Number.isInteger(value) || value < range.min || value > range.max) problems.push(`${what} ${value} is outside ${range.min}..${range.max}`);
    };
    const h = settings.healthCheck;
    within("healthCheck.intervalSeconds", h.intervalSeconds, TARGET_GROUP_LIMITS.intervalSeconds);
    within("healthCheck.timeoutSeconds", h.timeoutSeconds, TARGET_GROUP_LIMITS.timeoutSeconds);
    within("healthCheck.healthyThreshold", h.healthyThreshold, TARGET_GROUP_LIMITS.threshold);
    within("healthCheck.unhealthyThreshold", h.unhealthyThreshold, TARGET_GROUP_LIMITS.threshold);
    within("deregistrationDelaySeconds", settings.deregistrationDelaySeconds, TARGET_GROUP_LIMITS.deregistrationDelaySeconds);
    if (h.timeoutSeconds >= h.intervalSeconds) problems.push(`healthCheck.timeoutSeconds ${h.timeoutSeconds} must be less than intervalSeconds ${h.intervalSeconds}`);
    return problems;
}
