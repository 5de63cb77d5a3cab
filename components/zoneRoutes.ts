/**
 * The hostnames every stack claims in the shared zone, read from the committed stack files.
 * Production owns the zone-wide pieces (the origin rules route each stack's frontend `/api/`
 * to that stack's API origin), and every stack checks that no two stacks claim one hostname.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { CONFIG_NAMESPACE } from "./configReaders";
import { SettingError } from "./errors";

export interface ZoneRoute {
    readonly stack: string;
    readonly frontendHostname: string;
    readonly apiHostname: string;
}

/** Every stack's hostnames, from `Pulumi.yaml` defaults and `Pulumi.<stack>.yaml`. */
export function readZoneRoutes(projectDir: string): ZoneRoute[] {
    const project = YAML.parse(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8"));
    const defaults = (key: string) => String(project?.config?.[key]?.default ?? "");
    return fs.readdirSync(projectDir)
        .map((file) => /^Pulumi\.(.+)\.yaml$/.exec(file)?.[1])
        .filter((stack): stack is string => stack !== undefined)
        .sort()
        .map((stack) => {
            const config = YAML.parse(fs.readFileSync(path.join(projectDir, `Pulumi.${stack}.yaml`), "utf8"))?.config ?? {};
            const value = (key: string) => String(config[`${CONFIG_NAMESPACE}:${key}`] ?? defaults(key));
            return { stack, frontendHostname: value("frontendHostname"), apiHostname: value("apiHostname") };
        });
}

/** Throws when two stacks claim the same hostname. */
export function assertNoCollisions(routes: readonly ZoneRoute[]): void {
    const owner = new Map<string, string>();
    for (const route of routes) {
        for (const [key, hostname] of [["frontendHostname", route.frontendHostname], ["apiHostname", route.apiHostname]] as const) {
            const other = owner.get(hostname);
            if (other !== undefined && other !== route.stack) {
                throw new SettingError(`${CONFIG_NAMESPACE}:${key}`, hostname, `stacks ${other} and ${route.stack} both claim it in the shared zone`,
                    `give Pulumi.${route.stack}.yaml a hostname of its own`);
            }
            owner.set(hostname, route.stack);
        }
    }
}
