/**
 * The one error type for bad input. Every message names the setting, the bad value, the rule
 * it breaks and the fix, so an engineer can act on it without reading code. `message` is one
 * line (for logs and tests); the command-line tools print {@link settingErrorBlock}.
 */
export class SettingError extends Error {
    /**
     * @param setting the setting's full name, e.g. `pakashop-infra:services.search.revision`
     * @param value the offending value (never a secret: callers pass `"[secret]"` instead)
     * @param rule what the value must be
     * @param fix what to do about it
     */
    constructor(
        readonly setting: string,
        readonly value: unknown,
        readonly rule: string,
        readonly fix: string,
    ) {
        super(`${escapeControl(setting)} = ${describeValue(value)}: ${escapeControl(rule)}. Fix: ${escapeControl(fix)}`);
        this.name = "SettingError";
    }
}

/** The error as a short block: setting, value, why, fix. */
export function settingErrorBlock(error: SettingError): string {
    return [
        `error: bad setting ${escapeControl(error.setting)}`,
        `  value: ${describeValue(error.value)}`,
        `  why:   ${escapeControl(error.rule)}`,
        `  fix:   ${escapeControl(error.fix)}`,
    ].join("\n");
}

function describeValue(value: unknown): string {
    if (value === undefined) return "(not set)";
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/**
 * Makes `error` a Pulumi RunError as well (`RunError.isInstance` checks the `__pulumiRunError`
 * brand, @pulumi/pulumi errors.js), so the engine reports its message without a stack trace.
 */
export function markAsRunError(error: Error): void {
    Object.defineProperty(error, "__pulumiRunError", { value: true, enumerable: false });
}

/**
 * Control characters (newlines, ANSI escapes) written as JSON escapes: a setting's name comes
 * from a stack file, and must not forge lines or colours in the error block.
 */
export function escapeControl(text: string): string {
    return String(text).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** What the secret-aware builder needs to know about the settings an error involves. */
export interface SecretAwareContext {
    /** Whether the setting itself is secret (declared secret, or stored encrypted). */
    readonly secret: boolean;
    /** The setting's value as given to the rules (raw text, parsed value, offline placeholder...). */
    readonly values?: readonly unknown[];
    /** Other settings the why/fix mentions: their names and whether each is secret. */
    readonly mentions?: readonly { readonly setting: string; readonly secret: boolean }[];
    /** The fix to give instead when the rule's own fix could be derived from a secret. */
    readonly secretFix?: string;
    /**
     * The fix is built from setting names only, never from a value (a declared-secret setting's
     * rules, written for a secret; "remove this key"): kept unless it still contains the value.
     */
    readonly fixNamesOnly?: boolean;
}

/**
 * The one way to build a {@link SettingError} about a setting that may be secret. For a secret
 * setting the value is `[secret]` and the fix is replaced by a generic one (a rule's fix is
 * often derived from the value: lower-cased, canonicalised), and a why that contains the value
 * (in any case) is replaced too. When a why or fix compares with another setting that is
 * secret, both are replaced as well: that setting's value would be printed in them.
 */
export function secretAwareError(setting: string, value: unknown, rule: string, fix: string, context: SecretAwareContext): SettingError {
    const secretMentions = (context.mentions ?? []).filter((m) => m.secret).map((m) => m.setting);
    if (!context.secret && secretMentions.length === 0) return new SettingError(setting, value, rule, fix);
    const involved = [...(context.secret ? [setting] : []), ...secretMentions];
    const names = involved.join(" and ");
    const leaks = (text: string) => secretMentions.length > 0 || (context.values ?? [value]).some((v) => {
        if (v === undefined || v === null) return false;
        const shown = typeof v === "string" ? v : JSON.stringify(v);
        return shown !== undefined && shown.trim() !== "" && text.toLowerCase().includes(shown.trim().toLowerCase());
    });
    const why = leaks(rule) ? `breaks a rule of ${setting} whose details would show the value of ${names}, which is secret` : rule;
    const genericFix = `correct the value of ${names} and store it again encrypted (pulumi config set --secret <key> <value>); secret values are never shown`;
    const safeFix = leaks(fix) || (context.secret && !context.fixNamesOnly) ? (context.secretFix ?? genericFix) : fix;
    // "(not set)" shows nothing of a secret.
    return new SettingError(setting, context.secret && value !== undefined ? "[secret]" : value, why, safeFix);
}
