/**
 * How the pack's policies are written: each names its resource type by token (so loading a
 * policy never loads a provider), states its rule in `check`, and returns the violation
 * message (the bad value and the fix) or nothing. Names follow
 * `<provider>-<resource>-<verb>-<what>`; every policy has a description, a default
 * enforcement level (mandatory; the per-stack pack config may relax it), a severity and
 * remediation steps.
 *
 * Previews: the engine hands policies unknown values for what is not known before a resource
 * exists (ids, ARNs, addresses, generated keys, and every input built from one). Touching one
 * throws `UnknownValueError`, and @pulumi/policy then reports the whole policy as advisory
 * ("can't run policy ... during preview") with nothing judged. A rule judges what is known
 * and reads what may be unknown through {@link PreviewReads.known}: its findings are reported
 * (at the policy's level), and only then is the first unknown it met re-thrown, so the engine
 * still says, as an advisory, that part of the policy could not be judged.
 */
import {
    EnforcementLevel, PolicyResource, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, Severity,
    StackValidationArgs, StackValidationPolicy, UnknownValueError,
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

/** What {@link PreviewReads.known} gives for a value that is unknown in this preview. */
export const UNKNOWN: unique symbol = Symbol("unknown until the resource exists");

/** Reads of values that may be unknown in a preview. */
export interface PreviewReads {
    /**
     * `read()`, or {@link UNKNOWN} when it touches a value unknown in this preview. The rule
     * goes on judging what is known; the unknown is reported after its findings (see above).
     */
    known<T>(read: () => T): T | typeof UNKNOWN;
}

export interface ResourceRule<C extends object = object> extends Common {
    /** Resource type tokens the rule applies to. */
    readonly types: readonly string[];
    /** The violation messages for one resource (none when it complies). */
    check(props: Props, config: C, args: ResourceValidationArgs, reads: PreviewReads): string | string[] | undefined;
}

export interface StackRule<C extends object = object> extends Common {
    check(resources: readonly PolicyResource[], config: C, args: StackValidationArgs, reads: PreviewReads): { message: string; urn?: string }[];
}

function report(messages: string | string[] | undefined, reportViolation: ReportViolation, urn?: string): void {
    for (const message of [messages ?? []].flat()) reportViolation(message, urn);
}

/**
 * Runs a rule with {@link PreviewReads}, reports what it found, then re-throws the first
 * unknown it read (if any) for @pulumi/policy to report as "can't run ... during preview".
 */
function judge<T>(rule: (reads: PreviewReads) => T, reportFindings: (findings: T) => void): void {
    let unknown: UnknownValueError | undefined;
    const reads: PreviewReads = {
        known: (read) => {
            try {
                return read();
            } catch (error) {
                if (!(error instanceof UnknownValueError)) throw error;
                unknown ??= error;
                return UNKNOWN;
            }
        },
    };
    reportFindings(rule(reads));
    if (unknown) throw unknown;
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
            // Every message names the resource it is about (the violation's URN does too, but
            // not every output format shows it).
            judge((reads) => rule.check(args.props, args.getConfig<C>(), args, reads),
                (messages) => report([messages ?? []].flat().map((m) => `${args.name}: ${m}`), reportViolation));
        },
    };
}

export function stackPolicy<C extends object>(rule: StackRule<C>): StackValidationPolicy {
    return {
        ...metadata(rule),
        validateStack: (args, reportViolation) => {
            judge((reads) => rule.check(args.resources, args.getConfig<C>(), args, reads), (violations) => {
                for (const violation of violations) reportViolation(violation.message, violation.urn);
            });
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
