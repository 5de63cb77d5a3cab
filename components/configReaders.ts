/**
 * Where raw configuration values come from, and the names settings are known by. Parsing and
 * validation live in the one schema (components/settingsSchema.ts).
 */

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
    /** Every full key (`namespace:key`) in every namespace, to catch a misspelt namespace. */
    allKeys?(): string[];
    /** Whether the value is an offline placeholder for an encrypted one (components/settingsSchema.ts). */
    isPlaceholder?(key: string): boolean;
}

/** The full name of a setting, as `pulumi config` shows it. */
export const full = (key: string) => `${CONFIG_NAMESPACE}:${key}`;
