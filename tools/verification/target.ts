/**
 * Where a verification run sends its requests: the stack's public URL (Cloudflare in front),
 * optionally connected to another address (`--connect-to`, as curl's option: the URL's host
 * stays the TLS server name and the Host header) and trusting an extra CA (`--ca-file`). The
 * end-to-end test uses both to reach its stand-in load balancer with the test certificate.
 */
import * as https from "https";
import * as tls from "tls";
import * as ipaddr from "ipaddr.js";

export interface Target {
    /** `https://<host>[:port]`, no path, query or credentials. */
    readonly baseUrl: URL;
    /** An IP address to connect to instead of the address the host name resolves to. */
    readonly connectTo?: string;
    /** An extra trusted CA certificate (PEM), added to Node's built-in roots. */
    readonly caPem?: string;
}

/** Checks a `--base-url`: HTTPS only (the public paths are HTTPS-only behind Cloudflare), host only. */
export function parseBaseUrl(value: string): URL | string {
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        return "is not a URL";
    }
    if (url.protocol !== "https:") return "must be an https:// URL";
    if (url.username || url.password) return "must not hold credentials";
    if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) return "must be the host only (https://<host>), without a path, query or fragment";
    return url;
}

/** Checks a `--connect-to` address: a literal IPv4 or IPv6 address. */
export function isIpAddress(value: string): boolean {
    return ipaddr.IPv4.isValidFourPartDecimal(value) || (value.includes(":") && ipaddr.IPv6.isValid(value));
}

export function urlOf(target: Target, path: string): string {
    return `${target.baseUrl.origin}${path}`;
}

export function portOf(target: Target): number {
    return target.baseUrl.port === "" ? 443 : Number(target.baseUrl.port);
}

/** Options for one HTTPS request of `path`, certificate and host name verified. */
export function requestOptions(target: Target, path: string, timeoutMs: number): https.RequestOptions {
    const host = target.baseUrl.hostname;
    return {
        host: target.connectTo ?? host,
        port: portOf(target),
        path,
        method: "GET",
        // Node verifies the certificate against `servername` when it is given (tls.connect).
        servername: host,
        headers: { host: target.baseUrl.host, "user-agent": "pakashop-verify" },
        timeout: timeoutMs,
        ca: target.caPem ? [...tls.rootCertificates, target.caPem] : undefined,
        agent: false,
    };
}
