/**
 * Cloudflare in front of the stack: proxied DNS for the API origin and the frontend, an
 * Origin CA certificate (key and CSR generated here) that nginx on the backend host presents
 * so Full (strict) really validates, and, in the stack that owns the shared zone (production),
 * the zone-wide settings: SSL strict, TLS 1.2 minimum, always HTTPS, the WAF's managed rulesets
 * (OWASP Core and Cloudflare Managed), and the origin rules that send `<frontend>/api/*` of
 * every stack to that stack's API origin (so `https://pakashop.store/api/v1/health` reaches
 * the gateway while everything else goes to Vercel).
 */
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { MANAGED_RULESETS } from "./managedRulesets";
import { ZoneRoute } from "./zoneRoutes";

export { MANAGED_RULESETS };
/** Where Vercel wants custom domains pointed. */
export const VERCEL_CNAME_TARGET = "cname.vercel-dns.com";
/** Cloudflare's "automatic" TTL, required for proxied records. */
const AUTOMATIC_TTL = 1;
/** Origin CA certificates may last 15 years; renewal is a `pulumi up` away. */
const ORIGIN_CERT_VALIDITY_DAYS = 5475;

/** Arguments of {@link Edge}. */
export interface EdgeArgs {
    readonly stack: string;
    readonly zoneId: string;
    readonly apiHostname: string;
    readonly frontendHostname: string;
    /** The backend host's public address (the API origin). */
    readonly originAddress: pulumi.Input<string>;
    /** Whether this stack owns the zone-wide settings, WAF and origin rules. */
    readonly ownsSharedResources: boolean;
    /** Every stack's hostnames, for the origin rules (used only by the owner). */
    readonly routes: readonly ZoneRoute[];
}

/** The expression an origin rule matches: a frontend host's `/api/` paths. */
export function apiRouteExpression(frontendHostname: string): string {
    return `(http.host eq "${frontendHostname}" and starts_with(http.request.uri.path, "/api/"))`;
}

export class Edge extends pulumi.ComponentResource {
    /** PEM certificate for nginx. */
    public readonly originCertificate: pulumi.Output<string>;
    /** PEM private key for nginx, secret. */
    public readonly originKey: pulumi.Output<string>;

    constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:edge:Edge", name, {}, opts);
        const parent = { parent: this };
        const comment = `pakashop-infra ${args.stack}`;
        new cloudflare.DnsRecord(`${name}-api`, {
            zoneId: args.zoneId, name: args.apiHostname, type: "A", content: args.originAddress, proxied: true, ttl: AUTOMATIC_TTL, comment,
        }, parent);
        new cloudflare.DnsRecord(`${name}-frontend`, {
            zoneId: args.zoneId, name: args.frontendHostname, type: "CNAME", content: VERCEL_CNAME_TARGET, proxied: true, ttl: AUTOMATIC_TTL, comment,
        }, parent);

        // The origin answers for the API host and, through the origin rule, the frontend host.
        const key = new tls.PrivateKey(`${name}-origin-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, parent);
        const hostnames = [args.apiHostname, args.frontendHostname];
        const csr = new tls.CertRequest(`${name}-origin-csr`, {
            privateKeyPem: key.privateKeyPem,
            subject: { commonName: args.apiHostname, organization: "Pakashop" },
            dnsNames: hostnames,
        }, parent);
        const certificate = new cloudflare.OriginCaCertificate(`${name}-origin-cert`, {
            csr: csr.certRequestPem, hostnames, requestType: "origin-ecc", requestedValidity: ORIGIN_CERT_VALIDITY_DAYS,
        }, parent);
        this.originCertificate = certificate.certificate;
        this.originKey = pulumi.secret(key.privateKeyPem);

        if (args.ownsSharedResources) this.zoneWide(name, args);
        this.registerOutputs({ originCertificate: this.originCertificate });
    }

    private zoneWide(name: string, args: EdgeArgs): void {
        const parent = { parent: this };
        const setting = (id: string, value: string) =>
            new cloudflare.ZoneSetting(`${name}-${id.replace(/_/g, "-")}`, { zoneId: args.zoneId, settingId: id, value }, parent);
        setting("ssl", "strict");
        setting("min_tls_version", "1.2");
        setting("always_use_https", "on");
        new cloudflare.Ruleset(`${name}-waf`, {
            zoneId: args.zoneId,
            name: "pakashop managed WAF",
            description: "OWASP Core and Cloudflare Managed rulesets",
            kind: "zone",
            phase: "http_request_firewall_managed",
            rules: [
                { ref: "owasp-core", description: "OWASP Core Ruleset", expression: "true", action: "execute", actionParameters: { id: MANAGED_RULESETS.owaspCore } },
                { ref: "cloudflare-managed", description: "Cloudflare Managed Ruleset", expression: "true", action: "execute", actionParameters: { id: MANAGED_RULESETS.cloudflareManaged } },
            ],
        }, parent);
        new cloudflare.Ruleset(`${name}-api-routes`, {
            zoneId: args.zoneId,
            name: "pakashop API routes",
            description: "Send each stack's <frontend>/api/* to its API origin (DNS record override)",
            kind: "zone",
            phase: "http_request_origin",
            rules: args.routes.map((route) => ({
                ref: `api-${route.stack}`,
                description: `${route.frontendHostname}/api/* -> ${route.apiHostname}`,
                expression: apiRouteExpression(route.frontendHostname),
                action: "route",
                actionParameters: { origin: { host: route.apiHostname } },
            })),
        }, parent);
    }
}
