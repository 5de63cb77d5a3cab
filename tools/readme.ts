/**
 * `npm run readme`: regenerates the parts of README.md that are derived from code (the
 * rollout diagram from the catalog, the policy table from the pack, the topology diagram from
 * an offline run of production: tools/topology.ts; the release flow from the deploy workflows:
 * tools/releaseFlow.ts), between `<!-- generated:NAME -->` markers.
 * `npm run readme -- --check` exits 1 when README.md is stale; a test runs the same check.
 */
import * as fs from "fs";
import * as path from "path";
import { Catalog, CATALOG, INFRASTRUCTURE_TIER, unitName } from "../components/catalog";
import { rolloutWaves } from "../components/rollout";
import { OfflineRun, runOffline } from "./offlineRun";
import { loadPackConfig, policyLevels } from "./policyCheck";
import { loadStackConfig } from "./stackConfig";
import { renderReleaseFlow } from "./releaseFlow";
import { renderTopologyDiagram } from "./topology";

const README = path.resolve(__dirname, "..", "README.md");

/** A Mermaid flowchart of the rollout: one box per tier, services inside, tiers in order. */
export function renderRolloutDiagram(catalog: Catalog): string {
    const waves = rolloutWaves(catalog);
    const lines = ["```mermaid", "flowchart TD"];
    lines.push(`  subgraph ${INFRASTRUCTURE_TIER}["1. ${INFRASTRUCTURE_TIER}"]`,
        "    redis[(Redis)]", "    postgres[(PostgreSQL)]", "    meilisearch[(Meilisearch)]", "  end");
    for (const wave of waves) {
        lines.push(`  subgraph ${wave.tier.id}["${wave.tier.step}. ${wave.tier.id}: ${wave.tier.description}"]`);
        for (const id of wave.serviceIds) {
            const s = catalog.services[id];
            lines.push(`    ${id}_svc["${unitName(id)}<br/>${s.language} :${s.port}"]`);
        }
        lines.push("  end");
    }
    for (const wave of waves) lines.push(`  ${wave.tier.after} --> ${wave.tier.id}`);
    lines.push("```");
    return lines.join("\n");
}

/** A table of every policy with its severity and its level per stack, from the pack itself. */
export function renderPolicyTable(): string {
    const production = policyLevels(loadPackConfig("production"));
    const staging = new Map(policyLevels(loadPackConfig("staging")).map((p) => [p.name, p.enforcementLevel]));
    return [
        "| policy | severity | production | staging | checks that |",
        "|---|---|---|---|---|",
        ...production.map((p) => `| \`${p.name}\` | ${p.severity} | ${p.enforcementLevel} | ${staging.get(p.name)} | ${p.description.replace(/^Checks that /, "")} |`),
    ].join("\n");
}

/** The stack whose topology the README shows. */
export const TOPOLOGY_STACK = "production";

export interface RegenerateOptions {
    /**
     * Runs the program for {@link TOPOLOGY_STACK} (applied, offline). The specs pass their cached
     * run (tests/helpers.ts `planStack`): Pulumi's runtime is global, so runs must not overlap.
     * @default a fresh runOffline of the stack file, placeholder secrets
     */
    readonly runTopologyStack?: () => Promise<OfflineRun>;
}

export const GENERATED: Record<string, (options: RegenerateOptions) => string | Promise<string>> = {
    rollout: () => renderRolloutDiagram(CATALOG),
    policies: renderPolicyTable,
    "release-flow": () => renderReleaseFlow(),
    topology: async (options) => renderTopologyDiagram(await (options.runTopologyStack ?? (() => runOffline(loadStackConfig(TOPOLOGY_STACK))))()),
};

/** README text with every generated block replaced by its current rendering. */
export async function regenerate(readme: string, options: RegenerateOptions = {}): Promise<string> {
    let text = readme;
    for (const [name, render] of Object.entries(GENERATED)) {
        const pattern = new RegExp(`(<!-- generated:${name} -->\\n)[\\s\\S]*?(\\n<!-- /generated:${name} -->)`);
        if (!pattern.test(text)) throw new Error(`README.md has no <!-- generated:${name} --> block`);
        const rendered = await render(options);
        text = text.replace(pattern, (_m, open: string, close: string) => `${open}${rendered}${close}`);
    }
    return text;
}

async function main(): Promise<void> {
    const current = fs.readFileSync(README, "utf8");
    const fresh = await regenerate(current);
    if (process.argv.includes("--check")) {
        if (fresh !== current) {
            console.error("README.md is stale: run npm run readme");
            process.exitCode = 1;
        }
    } else if (fresh !== current) {
        fs.writeFileSync(README, fresh);
        console.log("README.md regenerated");
    }
}

if (require.main === module) {
    main().catch((error: unknown) => {
        console.error(error instanceof Error ? error.message : error);
        process.exitCode = 1;
    });
}
