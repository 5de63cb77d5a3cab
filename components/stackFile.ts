/**
 * Reads a stack's configuration the way the Pulumi CLI hands it to the program: the project's
 * declared defaults from `Pulumi.yaml`, then the values of `Pulumi.<stack>.yaml`, keyed by full
 * name (`namespace:key`). One reader for the program (other stacks' files, components/zoneRoutes.ts)
 * and the offline tools (tools/stackConfig.ts), so both see a stack file alike.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { SettingError } from "./errors";
import { checkNamespace, pulumiDeclaration, SettingKey, SETTING_KEYS } from "./settingsSchema";

/** A stack file merged over the project's defaults, values as written (not yet strings). */
export interface StackFile {
    /** The project name from `Pulumi.yaml`. */
    readonly project: string;
    /** Full keys to raw values: defaults first, the stack file's values over them. */
    readonly values: Record<string, unknown>;
    /** Full keys the stack file itself sets (not defaults). */
    readonly setKeys: readonly string[];
}

/**
 * Parses a YAML file; a syntax error names the file and its first line only. A key set twice in
 * one map is refused (readers disagree which one wins), and a number written in any spelling
 * but plain decimal (`0x400`, `1e3`, `12.0`, `010`, `+5`) is kept as the text written, so the
 * settings schema refuses it instead of reading whatever YAML made of it.
 */
function parseYamlFile(file: string): unknown {
    const text = fs.readFileSync(file, "utf8");
    const doc = YAML.parseDocument(text, { uniqueKeys: false });
    if (doc.errors.length > 0) throw new Error(`${path.basename(file)}: ${doc.errors[0].message.split("\n")[0]}`);
    const lineOf = (node: { range?: [number, number, number] | null }) => (node.range ? text.slice(0, node.range[0]).split("\n").length : 0);
    YAML.visit(doc, {
        Map(_key, map) {
            const seen = new Map<string, YAML.Pair<unknown, unknown>>();
            for (const pair of map.items) {
                const name = String(YAML.isScalar(pair.key) ? pair.key.value : pair.key);
                const first = seen.get(name);
                if (first) {
                    // A declared-secret setting is never shown, encrypted or (wrongly) in plain text.
                    const short = name.slice(name.indexOf(":") + 1);
                    const declaredSecret = name.includes(":") && SETTING_KEYS.includes(short as SettingKey) && pulumiDeclaration(short as SettingKey).secret === true;
                    const secret = declaredSecret || [first.value, pair.value].some((v) => YAML.isMap(v) && v.has("secure"));
                    throw new SettingError(name, secret ? "[secret]" : (YAML.isNode(pair.value) ? pair.value.toJSON() : pair.value),
                        `is set twice in ${path.basename(file)} (lines ${lineOf(first.key as YAML.Scalar)} and ${lineOf(pair.key as YAML.Scalar)}); YAML readers disagree which one wins`,
                        "keep one of them and delete the other");
                }
                seen.set(name, pair);
            }
        },
        Scalar(_key, node) {
            if (typeof node.value === "number" && typeof node.source === "string" && node.source !== String(node.value)) node.value = node.source;
        },
    });
    return doc.toJS();
}

/** The stack's file over the project's defaults, or undefined when `Pulumi.<stack>.yaml` does not exist. */
export function readStackFile(projectDir: string, stack: string): StackFile | undefined {
    const stackFile = path.join(projectDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(stackFile)) return undefined;
    const project = parseYamlFile(path.join(projectDir, "Pulumi.yaml")) as { name: string; config?: Record<string, unknown> };
    const values: Record<string, unknown> = {};
    for (const [key, declaration] of Object.entries(project.config ?? {})) {
        const fullKey = key.includes(":") ? key : `${project.name}:${key}`;
        const fallback = (declaration as { default?: unknown } | null)?.default;
        if (fallback !== undefined) values[fullKey] = fallback;
    }
    const own = ((parseYamlFile(stackFile) as { config?: Record<string, unknown> } | null)?.config ?? {});
    // Every key the file sets must be read by someone (a bare `__proto__:` or `instanceType:` is not).
    for (const key of Object.keys(own)) checkNamespace(key);
    for (const key of Object.keys(own)) Object.defineProperty(values, key, { value: own[key], enumerable: true, writable: true, configurable: true });
    return { project: project.name, values, setKeys: Object.keys(own) };
}

/** Whether a raw value is an encrypted (`secure:`) one. */
export function isSecureValue(value: unknown): value is { secure: string } {
    return typeof value === "object" && value !== null && "secure" in value;
}

/** A raw value as the CLI passes it: strings as they are, anything else as JSON. */
export function asConfigString(value: unknown): string {
    return typeof value === "string" ? value : JSON.stringify(value);
}
