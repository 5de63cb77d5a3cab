/**
 * Reads the rollout back out of a planned program: which deploy step waits for which, and the
 * waves that follow from those edges. Tests and the plan use this, so what they report is
 * what the program asks the engine for, not what the catalog says it should.
 */
import { PlannedResource } from "./offlineRun";

const DEPLOY_STEP = /-deploy$/;
const REMOTE_COMMAND = "command:remote:Command";

/** The service id of a deploy step, from its name `<rollout>-<serviceId>-deploy`. */
export function serviceOfStep(resource: PlannedResource, serviceIds: readonly string[]): string | undefined {
    if (resource.type !== REMOTE_COMMAND || !DEPLOY_STEP.test(resource.name)) return undefined;
    return serviceIds.find((id) => resource.name.endsWith(`-${id}-deploy`));
}

/** Service id -> the service ids whose deploy steps it `dependsOn`. */
export function deployGraph(resources: readonly PlannedResource[], serviceIds: readonly string[]): Map<string, string[]> {
    const serviceByUrn = new Map<string, string>();
    for (const r of resources) {
        const id = serviceOfStep(r, serviceIds);
        if (id) serviceByUrn.set(r.urn, id);
    }
    const graph = new Map<string, string[]>();
    for (const r of resources) {
        const id = serviceByUrn.get(r.urn);
        if (!id) continue;
        graph.set(id, r.dependsOn.map((urn) => serviceByUrn.get(urn)).filter((d): d is string => d !== undefined));
    }
    return graph;
}

/** Groups services by depth in the deploy graph: wave 0 waits for no other service. */
export function wavesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
    const depth = new Map<string, number>();
    const visit = (id: string, trail: string[]): number => {
        const known = depth.get(id);
        if (known !== undefined) return known;
        if (trail.includes(id)) throw new Error(`deploy steps form a cycle: ${[...trail, id].join(" -> ")}`);
        const deps = graph.get(id) ?? [];
        const d = deps.length === 0 ? 0 : 1 + Math.max(...deps.map((dep) => visit(dep, [...trail, id])));
        depth.set(id, d);
        return d;
    };
    for (const id of graph.keys()) visit(id, []);
    const waves: string[][] = [];
    for (const id of graph.keys()) {
        const d = depth.get(id) as number;
        (waves[d] ??= []).push(id);
    }
    return waves;
}
