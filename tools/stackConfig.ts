/**
 * Loads a stack's configuration the way the Pulumi CLI hands it to the program: the project's
 * declared defaults from `Pulumi.yaml`, then the values of `Pulumi.<stack>.yaml`, every value
 * as a string (JSON for arrays and maps). Offline there is no secrets provider, so `secure:`
 * values are replaced by marked placeholders and reported in `placeholderSecrets`.
 */
import { createHash, createPrivateKey } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { registerOfflinePlaceholder } from "../components/settingsSchema";
import { asConfigString, isSecureValue, readStackFile } from "../components/stackFile";

export const REPO_ROOT = path.resolve(__dirname, "..");

export interface StackConfig {
    readonly project: string;
    readonly stack: string;
    /** Full keys (`namespace:key`) to raw string values. */
    readonly config: Record<string, string>;
    /** Keys whose values are secrets. */
    readonly secretKeys: string[];
    /** Secret keys whose encrypted values were replaced by offline placeholders. */
    readonly placeholderSecrets: string[];
}

/**
 * An ed25519 key derived from a fixed, public seed: a valid key shape for the program's checks,
 * the same on every run (so plans are comparable), and worthless as a credential.
 */
function placeholderPrivateKey(key: string): string {
    const seed = createHash("sha256").update(`pakashop-infra offline placeholder for ${key}`).digest();
    const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
    return createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }).export({ type: "pkcs8", format: "pem" }).toString();
}

/** Placeholders that satisfy the program's validation; anything else gets a marked string. */
const PLACEHOLDERS: Record<string, (key: string) => string> = {
    deployPrivateKey: placeholderPrivateKey,
};

/**
 * @param overrides full keys to values (already in stack-file form) applied over the stack
 *   file, for tests of bad configurations; `undefined` removes a key.
 */
export function loadStackConfig(stack: string, overrides: Record<string, unknown> = {}, root = REPO_ROOT): StackConfig {
    const file = readStackFile(root, stack);
    if (!file) {
        throw new Error(`no stack file Pulumi.${stack}.yaml; stacks here: ${listStacks(root).join(", ")}`);
    }
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    const placeholderSecrets: string[] = [];
    const merged: Record<string, unknown> = { ...file.values, ...overrides };
    for (const [full, value] of Object.entries(merged)) {
        if (value === undefined) continue;
        if (isSecureValue(value)) {
            const short = full.slice(full.indexOf(":") + 1);
            config[full] = (Object.hasOwn(PLACEHOLDERS, short) ? PLACEHOLDERS[short](full) : undefined) ?? `offline-placeholder-for-${full}`;
            // The program recognizes it (and this run as offline) by value: a real run never
            // loads a stack file this way (components/settingsSchema.ts, offline placeholders).
            registerOfflinePlaceholder(full, config[full]);
            secretKeys.push(full);
            placeholderSecrets.push(full);
        } else {
            config[full] = asConfigString(value);
        }
    }
    return { project: file.project, stack, config, secretKeys, placeholderSecrets };
}

export function listStacks(root = REPO_ROOT): string[] {
    return fs.readdirSync(root)
        .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => s !== undefined)
        .sort();
}
