/**
 * Carves a VPC's range into subnets: per availability zone one public and one private subnet,
 * each 16 times smaller than the VPC (a /16 gives /20s). Public subnets take the first blocks,
 * private ones start halfway, so adding a zone never renumbers an existing subnet.
 */
import * as ipaddr from "ipaddr.js";

export interface SubnetPlan {
    readonly public: string[];
    readonly private: string[];
}

/** The `index`-th block of size `/newPrefix` inside `cidr`. */
export function subnetCidr(cidr: string, newPrefix: number, index: number): string {
    const [address, prefix] = ipaddr.parseCIDR(cidr);
    if (address.kind() !== "ipv4") throw new Error(`subnetCidr: ${cidr} is not IPv4`);
    if (newPrefix < prefix || newPrefix > 28) throw new Error(`subnetCidr: /${newPrefix} does not fit in ${cidr}`);
    const blocks = 2 ** (newPrefix - prefix);
    if (index < 0 || index >= blocks) throw new Error(`subnetCidr: block ${index} of ${blocks} in ${cidr}`);
    const base = ipaddr.IPv4.networkAddressFromCIDR(cidr).toByteArray().reduce((n, byte) => n * 256 + byte, 0);
    const start = base + index * 2 ** (32 - newPrefix);
    const bytes = [24, 16, 8, 0].map((shift) => Math.floor(start / 2 ** shift) % 256);
    return `${bytes.join(".")}/${newPrefix}`;
}

export function planSubnets(vpcCidr: string, zoneCount: number): SubnetPlan {
    const prefix = Number(vpcCidr.split("/")[1]) + 4;
    const half = 8;
    if (zoneCount > half) throw new Error(`planSubnets: at most ${half} zones`);
    const zones = Array.from({ length: zoneCount }, (_, i) => i);
    return {
        public: zones.map((i) => subnetCidr(vpcCidr, prefix, i)),
        private: zones.map((i) => subnetCidr(vpcCidr, prefix, half + i)),
    };
}
