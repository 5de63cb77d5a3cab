/**
 * nginx as the host's front door: HTTPS (and plain HTTP for health probes on the host) to the
 * gateway on 127.0.0.1. Only the load balancer may reach 443 (the security group says so); the
 * certificate is Debian's snakeoil until the Cloudflare Origin CA certificate replaces it.
 *
 * The proxy step also installs the load balancer's health check, `GET /healthz`, answered by
 * `pakashop-health.service` (host/health/fleetHealth.ts): nginx is what the target group asks.
 */
import { Catalog } from "../components/catalog";
import { FLEET_HEALTH_PATH, FLEET_HEALTH_PORT, FLEET_HEALTH_SCRIPT, FLEET_HEALTH_UNIT, fleetHealthServices, renderFleetHealthServer, renderFleetHealthUnit } from "./health/fleetHealth";
import { HOST_LAYOUT } from "./layout";
import { scriptHeader, heredoc } from "./shell";

export const NGINX_SITE_PATH = "/etc/nginx/sites-available/pakashop";
/** The Cloudflare Origin CA certificate and key, when the step is given them. */
export const ORIGIN_TLS = { certificate: "/etc/nginx/tls/origin.pem", key: "/etc/nginx/tls/origin.key" } as const;
const SNAKEOIL_TLS = { certificate: "/etc/ssl/certs/ssl-cert-snakeoil.pem", key: "/etc/ssl/private/ssl-cert-snakeoil.key" } as const;

/**
 * The health check's location, on both servers. The load balancer's own health checks carry
 * no X-Forwarded-For; every request it forwards from a client does (an Application Load
 * Balancer in its default `append` mode adds the header when the request has none, and
 * appends to it otherwise: "HTTP headers and Application Load Balancers",
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/application/x-forwarded-headers.html;
 * Cloudflare adds one before that). So a request with the header came from the internet, and
 * gets a 404: the internet can't read which services are down. `!= ""`, not a bare
 * `if ($http_x_forwarded_for)`, which is false for the value "0". `return` is one of the two
 * directives that are safe inside `if` in a location (nginx, "If is evil... when used in
 * location context").
 */
const HEALTH_LOCATION = [
    `    location = ${FLEET_HEALTH_PATH} {`,
    `        if ($http_x_forwarded_for != "") {`,
    `            return 404;`,
    `        }`,
    `        proxy_pass http://127.0.0.1:${FLEET_HEALTH_PORT};`,
    `        proxy_http_version 1.1;`,
    `        proxy_connect_timeout 2s;`,
    `        proxy_read_timeout 5s;`,
    `        access_log off;`,
    `    }`,
].join("\n");

/** The nginx site proxying everything to the gateway, and /healthz to the fleet health server. */
export function renderNginxSite(gatewayPort: number, originCertificate = true): string {
    const tlsFiles = originCertificate ? ORIGIN_TLS : SNAKEOIL_TLS;
    const proxy = [
        HEALTH_LOCATION,
        `    location / {`,
        `        proxy_pass http://127.0.0.1:${gatewayPort};`,
        `        proxy_http_version 1.1;`,
        `        proxy_set_header Host $host;`,
        `        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`,
        `        proxy_set_header X-Forwarded-Proto $scheme;`,
        `        proxy_read_timeout 60s;`,
        `    }`,
    ].join("\n");
    return `# Managed by pakashop-infra (Pulumi).
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    server_tokens off;
${proxy}
}

server {
    listen 443 ssl default_server;
    listen [::]:443 ssl default_server;
    server_tokens off;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate ${tlsFiles.certificate};
    ssl_certificate_key ${tlsFiles.key};
${proxy}
}
`;
}

/**
 * Installs the fleet health server and its unit (restarted when either changed), then the
 * site; checks the configuration and reloads nginx (never a broken config). With
 * `originCertificate`, the key and then the certificate (PEM) arrive on standard input.
 * The gateway's port and the services the health check asks come from the catalog.
 */
export function renderProxyScript(catalog: Catalog, originCertificate = true): string {
    const gateway = catalog.services["gateway"];
    if (!gateway) throw new Error("renderProxyScript: the catalog has no gateway service");
    const gatewayPort = gateway.port;
    const unitPath = `${HOST_LAYOUT.unitDir}/${FLEET_HEALTH_UNIT}`;
    const installCertificate = originCertificate ? `
bundle=$(mktemp)
cat > "$bundle"
install -d -m 0700 /etc/nginx/tls
awk '{ print } /^-----END .*PRIVATE KEY-----$/ { exit }' "$bundle" > "$tmp"
grep -q 'PRIVATE KEY-----$' "$tmp" || fail "no private key on standard input"
install -m 0600 -o root -g root "$tmp" ${ORIGIN_TLS.key}
awk 'found { print } /^-----END .*PRIVATE KEY-----$/ { found = 1 }' "$bundle" > "$tmp"
rm -f "$bundle"
grep -q '^-----BEGIN CERTIFICATE-----$' "$tmp" || fail "no certificate after the key on standard input"
install -m 0644 -o root -g root "$tmp" ${ORIGIN_TLS.certificate}
` : "";
    return `${scriptHeader("proxy")}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
${installCertificate}
# The fleet health server: replaced (and restarted) only when its script or unit changed.
health_changed=0
${heredoc('cat > "$tmp"', "FLEET_HEALTH_EOF", renderFleetHealthServer(fleetHealthServices(catalog)))}
if ! cmp -s "$tmp" ${FLEET_HEALTH_SCRIPT}; then
    install -d -m 0755 -o root -g root ${FLEET_HEALTH_SCRIPT.slice(0, FLEET_HEALTH_SCRIPT.lastIndexOf("/"))}
    install -m 0644 -o root -g root "$tmp" ${FLEET_HEALTH_SCRIPT}
    health_changed=1
fi
${heredoc('cat > "$tmp"', "FLEET_HEALTH_UNIT_EOF", renderFleetHealthUnit())}
if ! cmp -s "$tmp" ${unitPath}; then
    install -m 0644 -o root -g root "$tmp" ${unitPath}
    health_changed=1
fi
systemctl daemon-reload
systemctl enable --now --quiet ${FLEET_HEALTH_UNIT}
if (( health_changed )); then systemctl restart ${FLEET_HEALTH_UNIT}; fi
systemctl is-active --quiet ${FLEET_HEALTH_UNIT} || fail "${FLEET_HEALTH_UNIT} is not running (journalctl -u ${FLEET_HEALTH_UNIT})"

${heredoc('cat > "$tmp"', "NGINX_SITE_EOF", renderNginxSite(gatewayPort, originCertificate))}
install -m 0644 -o root -g root "$tmp" ${NGINX_SITE_PATH}
ln -sfn ${NGINX_SITE_PATH} /etc/nginx/sites-enabled/pakashop
rm -f /etc/nginx/sites-enabled/default
nginx -t -q || fail "nginx rejected the configuration"
systemctl enable --quiet nginx
if systemctl is-active --quiet nginx; then systemctl reload nginx; else systemctl start nginx; fi
log "nginx proxies :80 and :443 to the gateway on 127.0.0.1:${gatewayPort}, and ${FLEET_HEALTH_PATH} to ${FLEET_HEALTH_UNIT} on 127.0.0.1:${FLEET_HEALTH_PORT}"
`;
}
