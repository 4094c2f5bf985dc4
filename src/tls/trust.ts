/**
 * @module tls/trust
 * What to tell a person so their clients trust the platform CA.
 *
 * Only `ca.crt` is ever handed out. In particular skopeo and podman must not be pointed at the
 * TLS directory itself: containers/image reads every `*.key` there as half of a client
 * certificate and fails on `ca.key` ("missing client certificate ca.cert for key ca.key").
 */

/** One paragraph of plain text: how Node, Python (az CLI), skopeo/podman and curl trust the CA. */
export function trustInstructions(caPath: string, hostPorts: string[]): string {
  const targets = hostPorts.length > 0 ? hostPorts : ['<host:port>'];
  const certsD = targets.map((hostPort) => `/etc/containers/certs.d/${hostPort}/ca.crt`);
  return [
    `Breakwater serves HTTPS with a certificate from its own local CA, ${caPath};`,
    `clients must trust that file (and only that file: the ca.key beside it stays private).`,
    `Node.js: set NODE_EXTRA_CA_CERTS=${caPath}.`,
    `az CLI and Python requests: set REQUESTS_CA_BUNDLE=${caPath}`,
    `(it replaces the default bundle, so to keep reaching public sites point it at a copy of`,
    `the default bundle with this certificate appended).`,
    `skopeo and podman: copy it to ${joinList(certsD)}`,
    `(~/.config/containers/certs.d/... when rootless; Docker uses /etc/docker/certs.d/ the same`,
    `way), or pass --cert-dir DIR (skopeo copy: --src-cert-dir/--dest-cert-dir) naming a`,
    `directory that holds just this file as ca.crt, never the directory it was made in.`,
    `curl: curl --cacert ${caPath} https://${targets[0]}/v2/.`,
  ].join(' ');
}

function joinList(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
