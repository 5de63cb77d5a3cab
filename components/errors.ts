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
        super(`${setting} = ${describeValue(value)}: ${rule}. Fix: ${fix}`);
        this.name = "SettingError";
    }
}

/** The error as a short block: setting, value, why, fix. */
export function settingErrorBlock(error: SettingError): string {
    return [
        `error: bad setting ${error.setting}`,
        `  value: ${describeValue(error.value)}`,
        `  why:   ${error.rule}`,
        `  fix:   ${error.fix}`,
    ].join("\n");
}

function describeValue(value: unknown): string {
    if (value === undefined) return "(not set)";
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
