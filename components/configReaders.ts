/**
 * Small readers shared by the settings modules: each reads one raw config value and turns a
 * bad one into a {@link SettingError} naming the setting, the value and the fix.
 */
import { SettingError } from "./errors";

/** The config namespace: the project name, as Pulumi uses it for project-level settings. */
export const CONFIG_NAMESPACE = "pakashop-infra";

/** Where raw configuration values come from (Pulumi's runtime, or a stack file offline). */
export interface ConfigSource {
    /** The raw value of `<namespace>:<key>` as Pulumi passes it (JSON text for arrays/objects). */
    get(key: string): string | undefined;
    /** Whether the value was set with `pulumi config set --secret`. */
    isSecret(key: string): boolean;
    /** Every key set in the project namespace, to catch typos. */
    keys(): string[];
}

/** The full name of a setting, as `pulumi config` shows it. */
export const full = (key: string) => `${CONFIG_NAMESPACE}:${key}`;

export function required(source: ConfigSource, key: string, how: string): string {
    const value = source.get(key);
    if (value === undefined || value.trim() === "") {
        throw new SettingError(full(key), value, "is required", how);
    }
    return value;
}

export function parseJson(source: ConfigSource, key: string, example: string): unknown {
    const raw = source.get(key);
    if (raw === undefined) return undefined;
    try {
        return JSON.parse(raw);
    } catch {
        throw new SettingError(full(key), raw, "is not valid structured config", `write it as YAML in the stack file, e.g. ${example}`);
    }
}

export function readInteger(source: ConfigSource, key: string, min: number, max: number, why: string): number {
    const raw = required(source, key, `set it to an integer from ${min} to ${max}`);
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
        throw new SettingError(full(key), raw, `must be an integer from ${min} to ${max} (${why})`, `set a value from ${min} to ${max}`);
    }
    return value;
}

export function readBoolean(source: ConfigSource, key: string): boolean {
    const raw = required(source, key, "set it to true or false");
    if (raw !== "true" && raw !== "false") {
        throw new SettingError(full(key), raw, "must be true or false", "write true or false without quotes");
    }
    return raw === "true";
}

/** A string that must match `pattern`; `rule` says in words what that means. */
export function readMatching(source: ConfigSource, key: string, pattern: RegExp, rule: string, fix: string): string {
    const value = required(source, key, fix);
    if (!pattern.test(value)) throw new SettingError(full(key), value, rule, fix);
    return value;
}

/** One of a fixed list of values. */
export function readChoice<T extends string>(source: ConfigSource, key: string, choices: readonly T[]): T {
    const value = required(source, key, `set one of ${choices.join(", ")}`);
    if (!(choices as readonly string[]).includes(value)) {
        throw new SettingError(full(key), value, `must be one of ${choices.join(", ")}`, `pick one of ${choices.join(", ")}`);
    }
    return value as T;
}
