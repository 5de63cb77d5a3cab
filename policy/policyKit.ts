/**
 * How the pack's policies are written: each names its resource type by token (so loading a
 * policy never loads a provider), states its rule in `check`, and returns the violation
 * message (the bad value and the fix) or nothing. Names follow
 * `<provider>-<resource>-<verb>-<what>`; every policy has a description, a default
 * enforcement level (mandatory; the per-stack pack config may relax it), a severity and
 * remediation steps.
 */
import {
    EnforcementLevel, PolicyResource, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, Severity,
    StackValidationArgs, StackValidationPolicy,
} from "@pulumi/policy";

/** Plain property values, as policies see them. */
export type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Common {
    /** `<provider>-<resource>-<verb>-<what>`. */
    readonly name: string;
    /** "Checks that ..." */
    readonly description: string;
    readonly severity: Severity;
    readonly remediationSteps: string;
    /** @default "mandatory" */
    readonly enforcementLevel?: EnforcementLevel;
    /** JSON schema of the policy's settings in the pack config. */
    readonly configSchema?: ResourceValidationPolicy["configSchema"];
}

export interface ResourceRule<C extends object = object> extends Common {
    /** Resource type tokens the rule applies to. */
    readonly types: readonly string[];
    /** The violation messages for one resource (none when it complies). */
    check(props: Props, config: C, args: ResourceValidationArgs): string | string[] | undefined;
}

export interface StackRule<C extends object = object> extends Common {
    check(resources: readonly PolicyResource[], config: C, args: StackValidationArgs): { message: string; urn?: string }[];
}

function report(messages: string | string[] | undefined, reportViolation: ReportViolation, urn?: string): void {
    for (const message of [messages ?? []].flat()) reportViolation(message, urn);
}

/** The metadata every policy carries, with the pack's default level. */
function metadata(rule: Common) {
    return {
        name: rule.name,
        description: rule.description,
        enforcementLevel: rule.enforcementLevel ?? "mandatory",
        severity: rule.severity,
        remediationSteps: rule.remediationSteps,
        configSchema: rule.configSchema,
    };
}

export function resourcePolicy<C extends object>(rule: ResourceRule<C>): ResourceValidationPolicy {
    return {
        ...metadata(rule),
        validateResource: (args, reportViolation) => {
            if (!rule.types.includes(args.type)) return;
            report(rule.check(args.props, args.getConfig<C>(), args), reportViolation);
        },
    };
}

export function stackPolicy<C extends object>(rule: StackRule<C>): StackValidationPolicy {
    return {
        ...metadata(rule),
        validateStack: (args, reportViolation) => {
            for (const violation of rule.check(args.resources, args.getConfig<C>(), args)) reportViolation(violation.message, violation.urn);
        },
    };
}

/** The resources of one type. */
export function ofType(resources: readonly PolicyResource[], type: string): PolicyResource[] {
    return resources.filter((r) => r.type === type);
}

/** A short name for messages: the resource's name from its URN. */
export function nameOf(urn: string): string {
    return urn.slice(urn.lastIndexOf("::") + 2);
}
