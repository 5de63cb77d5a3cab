/**
 * Reads a stack's configuration the way the Pulumi CLI hands it to the program: the project's
 * declared defaults from `Pulumi.yaml`, then the values of `Pulumi.<stack>.yaml`, keyed by full
 * name (`namespace:key`). One reader for the program (other stacks' files, components/zoneRoutes.ts)
 * and the offline tools (tools/stackConfig.ts), so both see a stack file alike.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";

/** A stack file merged over the project's defaults, values as written (not yet strings). */
export interface StackFile {
    /** The project name from `Pulumi.yaml`. */
    readonly project: string;
    /** Full keys to raw values: defaults first, the stack file's values over them. */
    readonly values: Record<string, unknown>;
    /** Full keys the stack file itself sets (not defaults). */
    readonly setKeys: readonly string[];
}

/** Parses a YAML file; a syntax error names the file and its first line only. */
function parseYamlFile(file: string): unknown {
    try {
        return YAML.parse(fs.readFileSync(file, "utf8"));
    } catch (error) {
        throw new Error(`${path.basename(file)}: ${(error as Error).message.split("\n")[0]}`);
    }
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
    Object.assign(values, own);
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
