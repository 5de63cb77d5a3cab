/**
 * The tags every taggable AWS resource carries: who owns it, which stack, and that Pulumi
 * manages it (so nobody edits it by hand). The policy pack checks for exactly these keys.
 */
export const REQUIRED_TAG_KEYS = ["Project", "Environment", "ManagedBy", "Component"] as const;

export function resourceTags(stack: string, component: string): Record<string, string> {
    return { Project: "pakashop", Environment: stack, ManagedBy: "pulumi", Component: component };
}
