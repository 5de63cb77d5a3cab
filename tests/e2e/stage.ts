/**
 * The stage every real-host run needs: a booted test host, the fixture monorepo mirrored onto
 * it, and a {@link CommandEngine} whose mocks give the program that host's address and key.
 * Used by the end-to-end test and the rollout benchmark.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runOffline, OfflineRun } from "../../tools/offlineRun";
import { loadStackConfig, StackConfig } from "../../tools/stackConfig";
import { CommandEngine } from "./commandEngine";
import { createReleaseRepository, ReleaseRepository } from "./fixture";
import { destroyAllTestHosts, ensureRootfs, TestHost } from "./testHost";

const NS = "pakashop-infra";
/** Where the host finds the monorepo: a local mirror, as it has no network. */
export const REPO_ON_HOST = "/srv/pakashop.git";

/** Per-service revision overrides, as in `pakashop-infra:services`. */
export type ServiceRevisions = Record<string, { revision: string }>;

export interface Stage {
    readonly host: TestHost;
    readonly repo: ReleaseRepository;
    readonly engine: CommandEngine;
    /** The staging stack's config for the test host at these revisions, with the real key. */
    stackConfig(revision: string, services?: ServiceRevisions): StackConfig;
    /** Runs the program (staging) through the engine: one `pulumi up`. */
    deploy(revision: string, services?: ServiceRevisions): Promise<OfflineRun>;
    /** Destroys the host and the fixture; safe to call twice. */
    teardown(): Promise<void>;
}

/**
 * @param name test host name (also its netns and cgroup)
 * @param subnetIndex the host gets 10.213.<subnetIndex>.2
 * @param healthTimeoutSeconds the stack's health gate, short so failure tests stay quick
 */
export async function prepareStage(name: string, subnetIndex: number, healthTimeoutSeconds = 20): Promise<Stage> {
    await destroyAllTestHosts();
    await ensureRootfs();
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "pakashop-stage-"));
    let host: TestHost | undefined;
    try {
        const repo = await createReleaseRepository(path.join(workDir, "repo"));
        host = await TestHost.boot({ name, subnetIndex });
        const booted = host;
        execFileSync("git", ["clone", "--quiet", "--bare", repo.path, path.join(booted.rootfs, REPO_ON_HOST)]);
        const engine = new CommandEngine(async (args) => {
            switch (args.type) {
                case "tls:index/privateKey:PrivateKey":
                    // The generated host key is what cloud-init would install: here, the test host's.
                    return { id: args.name, state: { ...args.inputs, publicKeyOpenssh: `${booted.hostPublicKey}\n`, privateKeyOpenssh: "held by the test host" } };
                case "aws:ec2/eip:Eip":
                case "aws:ec2/instance:Instance":
                    return { id: args.name, state: { ...args.inputs, publicIp: booted.address, privateIp: booted.address } };
                default:
                    return undefined;
            }
        });
        const stackConfig = (revision: string, services: ServiceRevisions = {}): StackConfig => {
            const base = loadStackConfig("staging", {
                [`${NS}:revision`]: revision,
                [`${NS}:services`]: services,
                [`${NS}:sshUser`]: "root",
                [`${NS}:repositoryUrl`]: `file://${REPO_ON_HOST}`,
                [`${NS}:deployCidrs`]: [`${booted.gateway}/32`],
                [`${NS}:deployPublicKey`]: fs.readFileSync(path.join(booted.dir, "id_ed25519.pub"), "utf8").trim(),
                [`${NS}:healthTimeoutSeconds`]: healthTimeoutSeconds,
            });
            // The test host's real key, as a secret (the stack file only has a placeholder).
            return { ...base, config: { ...base.config, [`${NS}:deployPrivateKey`]: booted.privateKey }, placeholderSecrets: [] };
        };
        return {
            host: booted,
            repo,
            engine,
            stackConfig,
            deploy: (revision, services = {}) => {
                engine.beginRun();
                return runOffline(stackConfig(revision, services), { hook: engine.hook });
            },
            teardown: async () => {
                await booted.destroy();
                fs.rmSync(workDir, { recursive: true, force: true });
            },
        };
    } catch (error) {
        await host?.destroy();
        fs.rmSync(workDir, { recursive: true, force: true });
        throw error;
    }
}
