/**
 * Where things live on a backend host. One definition, used by the unit renderer, the prepare
 * and switch scripts and the drift check, so paths can't drift apart.
 *
 * /var/lib/pakashop/incoming/<id>.tar           the service's sources as shipped by Pulumi
 *                                               (`git archive` of the service folder's tree on
 *                                               the deploying machine), owned by the SSH user,
 *                                               whose one sources copy puts all 19 there (SFTP)
 * /opt/pakashop/services/<id>/releases/<rid>/   one prepared release, named by its content
 *                                               (host/prepare/prepareScript.ts), root-owned,
 *                                               read-only; `.pakashop-release` marks it complete
 * /opt/pakashop/services/<id>/current           symlink to the release the unit runs
 * /opt/pakashop/services/<id>/previous          symlink to the release before it (rollback)
 * /opt/pakashop/services/<id>/deployed          the release id the last switch made healthy
 * /etc/pakashop/<id>.env                        the unit's EnvironmentFile, root:root 0600
 * /var/cache/pakashop/deps/<language>/<key>/    dependencies shared by every release whose
 *                                               lockfile, runtime and recipe hash to <key>
 * /run/pakashop/prepare/                        prepare slots and per-service locks (tmpfs:
 *                                               nothing survives a reboot that could be stale)
 */
export const HOST_LAYOUT = {
    root: "/opt/pakashop",
    incoming: "/var/lib/pakashop/incoming",
    services: "/opt/pakashop/services",
    environmentDir: "/etc/pakashop",
    /**
     * The instance id of the host as the program knows it, written by the bootstrap. The
     * switch's delete compares it with its own: a different id means the host was replaced, and
     * the services it would remove live on a machine that is gone.
     */
    hostIdFile: "/etc/pakashop-host-id",
    unitDir: "/etc/systemd/system",
    buildCache: "/var/cache/pakashop",
    /** The unprivileged user every service runs as. */
    serviceUser: "pakashop",
    /** The unprivileged user that runs `npm ci`, `go build` and `pip install` (never root). */
    buildUser: "pakashop-build",
    /** The build user's HOME: npm's cache, Go's module and build caches (GOMODCACHE, GOCACHE). */
    buildHome: "/var/cache/pakashop/home",
    /**
     * Dependency caches keyed by content (node_modules, venvs, a marker per Go module set),
     * shared by releases through symlinks; created by the bootstrap, root 0755.
     */
    dependencyCache: "/var/cache/pakashop/deps",
    /**
     * Run-time state of the host-side scripts: locks of the prepare steps and the switch's
     * private work folder (root-only, it briefly holds the environment). A tmpfs, so a crash
     * or reboot leaves nothing stale behind; the scripts create what they need in it.
     */
    runtimeDir: "/run/pakashop",
    /** Prepare slots (`slot-<k>`, one per core) and per-service prepare locks. */
    prepareLocks: "/run/pakashop/prepare",
    /** The file whose presence says a release folder is complete (the last thing prepare writes). */
    releaseMarker: ".pakashop-release",
    /**
     * In each release: a symlink to the dependency cache entry it uses (any language), so the
     * prepare's garbage collection knows which entries are still in use.
     */
    releaseDependencyLink: ".pakashop-deps",
} as const;

export function serviceDir(serviceId: string): string {
    return `${HOST_LAYOUT.services}/${serviceId}`;
}
/** Where the copy step puts a service's source tarball. */
export function incomingSourceArchive(serviceId: string): string {
    return `${HOST_LAYOUT.incoming}/${serviceId}.tar`;
}
/** The folder holding a service's prepared releases. */
export function releasesDir(serviceId: string): string {
    return `${serviceDir(serviceId)}/releases`;
}
export function currentReleaseDir(serviceId: string): string {
    return `${serviceDir(serviceId)}/current`;
}
export function environmentFile(serviceId: string): string {
    return `${HOST_LAYOUT.environmentDir}/${serviceId}.env`;
}
