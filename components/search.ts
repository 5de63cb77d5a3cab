/**
 * The Meilisearch tier: a private EC2 host with its data on an encrypted volume of its own,
 * running a pinned, checksum-verified release with a generated master key.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { remote } from "@pulumi/command";
import { DataHost, DataTierArgs, provisionDataHost } from "./dataHost";
import { MEILISEARCH_PORT, meilisearchDownloadUrl, renderMeilisearchScript } from "../host/data/meilisearch";

/** Arguments of {@link Search}. */
export interface SearchArgs extends DataTierArgs {
    /** Size of the encrypted gp3 data volume. */
    readonly volumeSizeGiB: number;
    /** Release tag, e.g. `v1.7.6`. */
    readonly version: string;
    /** SHA-256 the downloaded binary must have. */
    readonly sha256: string;
}

export class Search extends pulumi.ComponentResource {
    public readonly host: DataHost;
    /** `http://<address>:7700`. */
    public readonly url: pulumi.Output<string>;
    /** The master key, secret. */
    public readonly masterKey: pulumi.Output<string>;
    /** Done when Meilisearch reports `available`: section 3.2's step 1 for search. */
    public readonly ready: remote.Command;

    constructor(name: string, args: SearchArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:data:Search", name, {}, opts);
        this.host = new DataHost(`${name}-host`, { ...args, role: "search", port: MEILISEARCH_PORT, dataVolumeSizeGiB: args.volumeSizeGiB }, { parent: this });
        const masterKey = new random.RandomPassword(`${name}-master-key`, { length: 48, special: false }, { parent: this });
        this.ready = provisionDataHost(`${name}-provision`, this.host, args,
            pulumi.all([this.host.privateIp, this.host.dataVolumeId]).apply(([bindAddress, dataVolumeId]) => renderMeilisearchScript({
                version: args.version, sha256: args.sha256, downloadUrl: meilisearchDownloadUrl(args.version, args.architecture), bindAddress, dataVolumeId,
            })),
            masterKey.result, this);
        this.url = pulumi.interpolate`http://${this.host.privateIp}:${MEILISEARCH_PORT}`;
        this.masterKey = pulumi.secret(masterKey.result);
        this.registerOutputs({ url: this.url });
    }
}
