/**
 * Where things live on a backend host. One definition, used by the unit renderer, the deploy
 * scripts and (later) the drift check, so paths can't drift apart.
 *
 * /var/lib/pakashop/incoming/<id>.tar           the service's sources as shipped by Pulumi
 *                                               (`git archive` on the deploying machine), owned
 *                                               by the SSH user, who copies it there over SFTP
 * /opt/pakashop/services/<id>/releases/<rev>/   one service built at one revision, read-only
 * /opt/pakashop/services/<id>/current           symlink to the release the unit runs
 * /opt/pakashop/services/<id>/previous          symlink to the release before it (rollback)
 * /etc/pakashop/<id>.env                        the unit's EnvironmentFile, root:root 0600
 */
export const HOST_LAYOUT = {
    root: "/opt/pakashop",
    incoming: "/var/lib/pakashop/incoming",
    services: "/opt/pakashop/services",
    environmentDir: "/etc/pakashop",
    /**
     * The instance id of the host as the program knows it, written by the bootstrap. A remove
     * step compares it with its own: a different id means the host was replaced, and the step's
     * deploy lives on a machine that is gone, so there is nothing to remove.
     */
    hostIdFile: "/etc/pakashop-host-id",
    unitDir: "/etc/systemd/system",
    buildCache: "/var/cache/pakashop",
    /** The unprivileged user every service runs as. */
    serviceUser: "pakashop",
    /** The unprivileged user that runs `npm ci`, `go build` and `pip install` (never root). */
    buildUser: "pakashop-build",
} as const;

export function serviceDir(serviceId: string): string {
    return `${HOST_LAYOUT.services}/${serviceId}`;
}
/** Where the copy step puts a service's source tarball. */
export function incomingSourceArchive(serviceId: string): string {
    return `${HOST_LAYOUT.incoming}/${serviceId}.tar`;
}
export function currentReleaseDir(serviceId: string): string {
    return `${serviceDir(serviceId)}/current`;
}
export function environmentFile(serviceId: string): string {
    return `${HOST_LAYOUT.environmentDir}/${serviceId}.env`;
}
