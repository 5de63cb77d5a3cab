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
 *   `unhealthyThreshold` x 5 = 10 s. A host the rollout's `-return` registers is in rotation
 *   after its FIRST passing check, not after `healthyThreshold` of them: "After your target is
 *   registered, it must pass one health check to be considered healthy" ("Health checks for
 *   Application Load Balancer target groups",
 *   https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html);
 *   `healthyThreshold` counts only for a target already reported `unhealthy` ("The number of
 *   consecutive successful health checks required before considering an unhealthy target
 *   healthy", same page, HealthyThresholdCount). So a returning host normally adds the time of
 *   its registration plus at most one interval (5 s) to a rolling deploy; one whose first check
 *   failed (a gateway still warming up) is `unhealthy` and then needs 2 passes, 10 s more.
 * - The wait derived from these (PAKASHOP_HEALTHY_WAIT_SECONDS = `healthyThreshold` x
 *   `intervalSeconds` + 120 s, components/serviceRollout.ts): it bounds the slower of the two
 *   paths above, a registration whose first check fails and which then needs `healthyThreshold`
 *   consecutive passes, plus two minutes for the registration itself and a slow first answer; a
 *   host passing its first check is reported healthy long before it. The bound is kept as it is.
 * - `timeoutSeconds` 4: below the interval (required), above the aggregator's own 2 s per-check
 *   timeout plus nginx, so a slow-but-answering host is not failed by the ALB first.
 * - `healthyThreshold` / `unhealthyThreshold` 2, the minimum: one lost probe never takes a
 *   healthy host out, and a host once reported unhealthy needs two passes in a row to come back.
 * - `deregistrationDelaySeconds` 30 (AWS default 300). AWS keeps a deregistering target
 *   `draining` until the delay has passed, even with no connection left: "If a deregistering
 *   target has no in-flight requests and no active connections, Elastic Load Balancing
 *   immediately completes the deregistration process, without waiting for the deregistration
 *   delay to elapse. However, even though target deregistration is complete, the status of the
 *   target is displayed as draining until the deregistration delay timeout expires. After the
 *   timeout expires, the target transitions to an unused state." ("Edit target group attributes
 *   for your Application Load Balancer", Deregistration delay,
 *   https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay).
 *   What the delay costs and what it protects:
 *   - The delay is the time a draining host's in-flight requests get: "By default, Elastic Load
 *     Balancing waits 300 seconds before completing the deregistration process, which can help
 *     in-flight requests to the target to complete" (same page). When it expires the host is
 *     `unused`, the drain step ends and the switch restarts the host's services (or, for a host
 *     being replaced or removed, its `-retire` step lets them stop): a request still
 *     in flight on it then is cut (the client gets an error). So the delay must exceed the
 *     longest request the API serves. Today no request may wait longer than 60 s for its answer
 *     anyway: nginx's `proxy_read_timeout 60s` on the hosts (host/proxy.ts, `location /`) fails a
 *     request whose gateway sends nothing for 60 s, and the load balancer's idle timeout (60 s,
 *     LOAD_BALANCER_IDLE_TIMEOUT_SECONDS, components/loadBalancer.ts) closes a connection idle
 *     that long. The API's requests are short, so 30 s covers them with a wide margin; one
 *     between 30 and 60 s (allowed by both timeouts) would be cut when its host drains.
 *   - Every host's drain lasts the full delay, whatever its load (the status stays `draining`
 *     until the delay expires, above, and the drain step waits for `unused`), so each second of
 *     delay is a second per host of every rolling deploy: 30 s keeps a deploy of the production
 *     fleet (2 hosts) about a minute of draining, where the default 300 s would make it ten.
 *   - If the API gets longer requests (exports, uploads, long polling): raise
 *     `deregistrationDelaySeconds` above the longest of them (it is read by the target group and
 *     by the drain step's bound, PAKASHOP_DRAIN_WAIT_SECONDS = delay + 60, so nothing else needs
 *     changing for the drain), and raise nginx's `proxy_read_timeout` (host/proxy.ts) and
 *     LOAD_BALANCER_IDLE_TIMEOUT_SECONDS (components/loadBalancer.ts) with it, or those cut the
 *     request first; each host's drain, and so every deploy, grows by the same amount per host.
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
