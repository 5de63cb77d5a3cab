/**
 * Address coverage for the security-group policies: whether a CIDR admits any public address,
 * whether it lies inside a set of ranges, judged over the addresses it covers (ipaddr.js), not
 * over its spelling. `0.0.0.0/1` + `128.0.0.0/1`, `2000::/3`, `::/0` and `0::0/0` all admit the
 * internet; `10.10.0.0/16` does not.
 */
import * as ipaddr from "ipaddr.js";

/** A CIDR read strictly, or why it can't be. */
export type ParsedCidr = { readonly ok: true; readonly range: [ipaddr.IPv4 | ipaddr.IPv6, number] } | { readonly ok: false; readonly why: string };

/**
 * Reads a CIDR as AWS writes it: IPv4 in four-part decimal (no octal `010.`, hex `0x` or
 * shortened forms, which inet_aton-style parsers read differently from what a reader sees),
 * IPv6 in any valid spelling.
 */
export function parseCidr(text: unknown): ParsedCidr {
    if (typeof text !== "string" || !text.includes("/")) return { ok: false, why: "is not a CIDR (address/prefix)" };
    const [address, prefix] = text.split("/");
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefix)) return { ok: false, why: "has a prefix length that is not a plain decimal" };
    if (address.includes(".") && !address.includes(":")) {
        if (!/^((0|[1-9][0-9]{0,2})\.){3}(0|[1-9][0-9]{0,2})$/.test(address) || !ipaddr.IPv4.isValidFourPartDecimal(address)) {
            return { ok: false, why: "is not four-part decimal IPv4 (leading zeros read as octal, hex or short forms are refused)" };
        }
    }
    try {
        return { ok: true, range: ipaddr.parseCIDR(text) };
    } catch {
        return { ok: false, why: "is not a valid IPv4 or IPv6 CIDR" };
    }
}

/** Ranges that hold no public address (RFC 6890 special-purpose and private blocks). */
const NOT_PUBLIC_V4 = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
    "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3",
].map((c) => ipaddr.parseCIDR(c));
const NOT_PUBLIC_V6 = [
    "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
].map((c) => ipaddr.parseCIDR(c));

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Whether `inner` lies wholly inside `outer` (same family). */
export function within(inner: Range, outer: Range): boolean {
    if (inner[0].kind() !== outer[0].kind() || inner[1] < outer[1]) return false;
    return (inner[0] as ipaddr.IPv4).match(outer as [ipaddr.IPv4, number]);
}

/** Whether a range admits at least one public address. IPv4-mapped IPv6 ranges are judged as IPv4. */
export function admitsPublic(range: Range): boolean {
    const [address, bits] = range;
    if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
        return admitsPublic([(address as ipaddr.IPv6).toIPv4Address(), bits - 96]);
    }
    const reserved = address.kind() === "ipv4" ? NOT_PUBLIC_V4 : NOT_PUBLIC_V6;
    return !reserved.some((r) => within(range, r));
}

/** Whether a range lies inside one of `allowed` (CIDR strings). */
export function withinAny(range: Range, allowed: readonly string[]): boolean {
    return allowed.some((cidr) => {
        const parsed = parseCidr(cidr);
        return parsed.ok && within(range, parsed.range);
    });
}
