/**
 * Cloudflare in front of the stack: proxied DNS for the API origin (a CNAME to the stack's load
 * balancer, components/loadBalancer.ts) and the frontend, an Origin CA certificate (key and CSR
 * generated here) that the load balancer (imported into ACM) and nginx on every backend host
 * present so Full (strict) really validates, and, in the stack that owns the shared zone (production),
 * the zone-wide settings: SSL strict, TLS 1.2 minimum, always HTTPS, the WAF's managed rulesets
 * (OWASP Core and Cloudflare Managed), and the origin rules that send `<frontend>/api/*` of
 * every stack to that stack's API origin (so `https://pakashop.store/api/v1/health` reaches
 * the gateway while everything else goes to Vercel).
 */
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { MANAGED_RULESETS } from "./managedRulesets";
import {
    CLOUDFLARE_AUTOMATIC_TTL, CLOUDFLARE_DNS_RECORD_TYPE, CLOUDFLARE_ORIGIN_CA, CLOUDFLARE_PHASE, CLOUDFLARE_RULE_ACTION, CLOUDFLARE_RULESET_KIND,
    CLOUDFLARE_ZONE_SETTING, TLS_PRIVATE_KEY,
} from "./providerValues";
import { isHostname } from "./platformSettings";
import { ZoneRoute } from "./zoneRoutes";

export { MANAGED_RULESETS };
/** Where Vercel wants custom domains pointed. */
export const VERCEL_CNAME_TARGET = "cname.vercel-dns.com";

/** Arguments of {@link Edge}. */
export interface EdgeArgs {
    readonly stack: string;
    readonly zoneId: string;
    readonly apiHostname: string;
    readonly frontendHostname: string;
    /** Whether this stack owns the zone-wide settings, WAF and origin rules. */
    readonly ownsSharedResources: boolean;
    /** Every stack's hostnames, for the origin rules (used only by the owner). */
    readonly routes: readonly ZoneRoute[];
}

/**
 * `value` if it is a lower-case hostname, else an error. Values that reach Cloudflare's Rules
 * language go through this even though the settings were validated upstream (defence in depth):
 * an expression's string literal is delimited by `"` and gives `"` and `\` a meaning (written
 * `\"` and `\\`; https://developers.cloudflare.com/ruleset-engine/rules-language/values/,
 * "Quoted string syntax"), so one stray quote turns a value into expression code. A hostname
 * (letters, digits, '-', '.') has neither character: an allow-list, not escaping.
 */
export function ruleHostname(value: string, where: string): string {
    if (!isHostname(value)) {
        throw new Error(`${where}: refusing ${JSON.stringify(value)}: only a lower-case hostname (letters, digits, '-', '.') may go into a Cloudflare rule`);
    }
    return value;
}

/** The expression an origin rule matches: a frontend host's `/api/` paths. Throws on anything but a hostname. */
export function apiRouteExpression(frontendHostname: string): string {
    const host = ruleHostname(frontendHostname, "apiRouteExpression");
    return `(http.host eq "${host}" and starts_with(http.request.uri.path, "/api/"))`;
}

/** Where the API record points, given to {@link Edge.routeApi}. */
export interface ApiOriginArgs {
    /** The API origin: the load balancer's DNS name, the target of the proxied `CNAME`. */
    readonly originHostname: pulumi.Input<string>;
    /**
     * What must be done before the API record points at a new origin: the hosts' rollout
     * `-return` steps, so Cloudflare moves to the load balancer only once hosts in its target
     * group are healthy (the move from the single public host: docs/runbook.md).
     * @default []
     */
    readonly originReady?: pulumi.Resource[];
}

export class Edge extends pulumi.ComponentResource {
    private readonly args: EdgeArgs;
    private readonly recordName: string;
    /** PEM certificate for nginx. */
    public readonly originCertificate: pulumi.Output<string>;
    /** PEM private key for nginx, secret. */
    public readonly originKey: pulumi.Output<string>;

    constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("pakashop:edge:Edge", name, {}, opts);
        const parent = { parent: this };
        const comment = `pakashop-infra ${args.stack}`;
        this.args = args;
        this.recordName = `${name}-api`;
        new cloudflare.DnsRecord(`${name}-frontend`, {
            zoneId: args.zoneId, name: args.frontendHostname, type: CLOUDFLARE_DNS_RECORD_TYPE.cname, content: VERCEL_CNAME_TARGET, proxied: true, ttl: CLOUDFLARE_AUTOMATIC_TTL, comment,
        }, parent);

        // The origin answers for the API host and, through the origin rule, the frontend host.
        const key = new tls.PrivateKey(`${name}-origin-key`, { algorithm: TLS_PRIVATE_KEY.ecdsa.algorithm, ecdsaCurve: TLS_PRIVATE_KEY.ecdsa.curve }, parent);
        const hostnames = [args.apiHostname, args.frontendHostname];
        const csr = new tls.CertRequest(`${name}-origin-csr`, {
            privateKeyPem: key.privateKeyPem,
            subject: { commonName: args.apiHostname, organization: "Pakashop" },
            dnsNames: hostnames,
        }, parent);
        const certificate = new cloudflare.OriginCaCertificate(`${name}-origin-cert`, {
            csr: csr.certRequestPem, hostnames, requestType: CLOUDFLARE_ORIGIN_CA.requestType.ecc, requestedValidity: CLOUDFLARE_ORIGIN_CA.validityDays,
        }, parent);
        this.originCertificate = certificate.certificate;
        this.originKey = pulumi.secret(key.privateKeyPem);

        if (args.ownsSharedResources) this.zoneWide(name, args);
        this.registerOutputs({ originCertificate: this.originCertificate });
    }

    /**
     * The API hostname's record: a proxied `CNAME` to the load balancer. A method, not an
     * argument, because the load balancer serves this component's Origin CA certificate: the
     * certificate exists first, then the load balancer, then the record pointing at it.
     */
    public routeApi(origin: ApiOriginArgs): cloudflare.DnsRecord {
        return new cloudflare.DnsRecord(this.recordName, {
            zoneId: this.args.zoneId, name: this.args.apiHostname, type: CLOUDFLARE_DNS_RECORD_TYPE.cname, content: origin.originHostname,
            proxied: true, ttl: CLOUDFLARE_AUTOMATIC_TTL, comment: `pakashop-infra ${this.args.stack}`,
        }, {
            parent: this,
            dependsOn: origin.originReady ?? [],
            // A name holds either an A or a CNAME record, never both: should the provider plan a
            // replacement (the A-to-CNAME move from the single public host), the old record must
            // go first, or creating the new one fails (a few seconds without a record).
            deleteBeforeReplace: true,
        });
    }

    private zoneWide(name: string, args: EdgeArgs): void {
        const parent = { parent: this };
        // Zone settings always exist: creating one PATCHes the setting, deleting one leaves it as it
        // is (terraform-provider-cloudflare internal/services/zone_setting/resource.go).
        const setting = (id: string, value: string) =>
            new cloudflare.ZoneSetting(`${name}-${id.replace(/_/g, "-")}`, { zoneId: args.zoneId, settingId: id, value }, parent);
        const { ssl, minTlsVersion, alwaysUseHttps } = CLOUDFLARE_ZONE_SETTING;
        setting(ssl.id, ssl.strict);
        setting(minTlsVersion.id, minTlsVersion.tls12);
        setting(alwaysUseHttps.id, alwaysUseHttps.on);
        // Both rulesets are their phase's zone entry point, of which a zone has one per phase: a
        // replacement (name, kind and phase force one) can only delete the old one first. A zone that
        // already has one needs `pulumi import` first (docs/runbook.md); what each needs of the
        // zone's Cloudflare plan is in cloudflarePlans.ts and in `npm run plan`.
        const entrypoint = { ...parent, deleteBeforeReplace: true };
        new cloudflare.Ruleset(`${name}-waf`, {
            zoneId: args.zoneId,
            name: "pakashop managed WAF",
            description: "OWASP Core and Cloudflare Managed rulesets",
            kind: CLOUDFLARE_RULESET_KIND.zone,
            phase: CLOUDFLARE_PHASE.firewallManaged,
            rules: [
                { ref: "owasp-core", description: "OWASP Core Ruleset", expression: "true", action: CLOUDFLARE_RULE_ACTION.execute, actionParameters: { id: MANAGED_RULESETS.owaspCore } },
                { ref: "cloudflare-managed", description: "Cloudflare Managed Ruleset", expression: "true", action: CLOUDFLARE_RULE_ACTION.execute, actionParameters: { id: MANAGED_RULESETS.cloudflareManaged } },
            ],
        }, entrypoint);
        new cloudflare.Ruleset(`${name}-api-routes`, {
            zoneId: args.zoneId,
            name: "pakashop API routes",
            description: "Send each stack's <frontend>/api/* to its API origin (DNS record override)",
            kind: CLOUDFLARE_RULESET_KIND.zone,
            phase: CLOUDFLARE_PHASE.origin,
            // Every value here may come from another stack's file (components/zoneRoutes.ts).
            rules: args.routes.map((route) => {
                const frontend = ruleHostname(route.frontendHostname, `origin rule of stack ${route.stack}`);
                const api = ruleHostname(route.apiHostname, `origin rule of stack ${route.stack}`);
                if (!/^[a-z0-9-]+$/.test(route.stack)) throw new Error(`origin rule: refusing stack name ${JSON.stringify(route.stack)} in a rule ref`);
                return {
                    ref: `api-${route.stack}`,
                    description: `${frontend}/api/* -> ${api}`,
                    expression: apiRouteExpression(frontend),
                    action: CLOUDFLARE_RULE_ACTION.route,
                    actionParameters: { origin: { host: api } },
                };
            }),
        }, entrypoint);
    }
}
