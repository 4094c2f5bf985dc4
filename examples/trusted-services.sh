#!/usr/bin/env bash
# The README walkthrough, end to end: a network-restricted registry that still explains itself.
#
#   1. start a server (or use the one in $BREAKWATER_DATA when it is running),
#   2. `breakwater login` as the bootstrap owner,
#   3. push a tiny image to the Premium registry `myregistry` with skopeo,
#   4. restrict the network and watch a pull be refused, with `acr check-health` saying why,
#   5. allow this machine's address with an IP rule and pull again,
#   6. the brief's example: a registry task with a system-assigned identity and --auth-mode None
#      pushes while public access is disabled, only while trusted services are allowed.
#
# Usage: examples/trusted-services.sh
#   BREAKWATER_DATA=DIR  use the server already running on DIR (its endpoints.json); by default
#                        a fresh server is started on free ports in a temporary directory and
#                        stopped at the end.
#   BREAKWATER=CMD       how to run the CLI (default: node <repo>/bin/breakwater.js; run
#                        `npm run build` first).
#   KEEP=1               leave the temporary directory (and a started server's data) behind.
# Needs: node 20, skopeo, tar, gzip, sha256sum; busybox-static is put in the image if present
# (and then the task's Dockerfile has a RUN step, run in bubblewrap on the server).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
read -r -a BW <<<"${BREAKWATER:-node $REPO/bin/breakwater.js}"
bw() { "${BW[@]}" "$@"; }
say() { printf '\n=== %s\n' "$*"; }
# field FILE KEY: one top-level value of a JSON file (node is there anyway; no jq needed).
field() { node -p 'String(require(process.argv[1])[process.argv[2]])' "$1" "$2"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/breakwater-walkthrough-XXXXXX")
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# The CLI's profile goes to a private directory unless the caller chose one: the walkthrough
# must not replace the login in ~/.breakwater.
export BREAKWATER_CONFIG_DIR=${BREAKWATER_CONFIG_DIR:-$WORK/config}

# --- 1. A server --------------------------------------------------------------------------------
if [ -n "${BREAKWATER_DATA:-}" ] && [ -f "$BREAKWATER_DATA/endpoints.json" ] &&
  kill -0 "$(field "$BREAKWATER_DATA/endpoints.json" pid)" 2>/dev/null; then
  DATA=$BREAKWATER_DATA
  say "Using the server running on $DATA"
else
  DATA=$WORK/data
  say "Starting breakwater serve on $DATA (free ports)"
  "${BW[@]}" serve --data "$DATA" --listen 127.0.0.1:0 --management-listen 127.0.0.1:0 \
    --log-level warn >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  # endpoints.json is written (with the server's pid) once both listeners are up.
  for _ in $(seq 1 300); do
    if [ -f "$DATA/endpoints.json" ] && [ "$(field "$DATA/endpoints.json" pid)" = "$SERVER_PID" ]; then
      break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.1
  done
fi
ENDPOINTS=$DATA/endpoints.json
[ -f "$ENDPOINTS" ] || { echo "no $ENDPOINTS: the server did not start" >&2; exit 1; }
REGISTRY_HOST=$(field "$ENDPOINTS" data)     # the default registry answers here (host:port)
TLS_VERIFY=false                                # plain HTTP data endpoint by default
if [ "$(field "$ENDPOINTS" dataTls)" = true ]; then TLS_VERIFY=true; fi
echo "data endpoint:       $REGISTRY_HOST"
echo "management endpoint: $(field "$ENDPOINTS" management)"

# --- 2. Log in as the bootstrap owner (Owner on the subscription) --------------------------------
say 'breakwater login'
bw login --data "$DATA" --query '[0].{subscription:id, user:user.name}' -o table
OWNER=$(field "$DATA/bootstrap.json" clientId):$(field "$DATA/bootstrap.json" clientSecret)
REGISTRY=myregistry # bootstrapped Premium registry (network rules need Premium)
bw acr show --name "$REGISTRY" --query '{name:name, sku:sku.name, loginServer:loginServer}' -o table
# A reused server may carry an earlier run's settings: start from an open registry.
bw acr update --name "$REGISTRY" --public-network-enabled true --default-action Allow >/dev/null
bw acr network-rule remove --name "$REGISTRY" --ip-address 127.0.0.1 >/dev/null

# --- 3. Push a tiny image ---------------------------------------------------------------------------
say 'Building a tiny OCI layout and pushing it with skopeo'
LAYOUT=$WORK/image
mkdir -p "$WORK/rootfs/bin" "$LAYOUT/blobs/sha256"
echo 'hello from the breakwater walkthrough' >"$WORK/rootfs/hello.txt"
if [ -x /bin/busybox ]; then cp /bin/busybox "$WORK/rootfs/bin/busybox"; fi
blob() { # blob FILE -> moves FILE into the layout, prints "sha256:<hex> <size>"
  local hex size
  hex=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv "$1" "$LAYOUT/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}
tar --sort=name --mtime=2024-01-01 --owner=0 --group=0 --numeric-owner \
  -C "$WORK/rootfs" -cf "$WORK/layer.tar" .
DIFF_ID=sha256:$(sha256sum "$WORK/layer.tar" | cut -d' ' -f1)
gzip -n "$WORK/layer.tar"
read -r LAYER_DIGEST LAYER_SIZE < <(blob "$WORK/layer.tar.gz")
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/busybox","cat","/hello.txt"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
  "$DIFF_ID" >"$WORK/config.json"
read -r CONFIG_DIGEST CONFIG_SIZE < <(blob "$WORK/config.json")
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":%s},"layers":[{"mediaType":"%s","digest":"%s","size":%s}]}' \
  application/vnd.oci.image.manifest.v1+json application/vnd.oci.image.config.v1+json \
  "$CONFIG_DIGEST" "$CONFIG_SIZE" application/vnd.oci.image.layer.v1.tar+gzip \
  "$LAYER_DIGEST" "$LAYER_SIZE" >"$WORK/manifest.json"
read -r MANIFEST_DIGEST MANIFEST_SIZE < <(blob "$WORK/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
  application/vnd.oci.image.manifest.v1+json "$MANIFEST_DIGEST" "$MANIFEST_SIZE" \
  >"$LAYOUT/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$LAYOUT/oci-layout"
echo "manifest $MANIFEST_DIGEST"

# skopeo with its own policy and auth file, so the walkthrough touches no global configuration.
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$WORK/policy.json"
export REGISTRY_AUTH_FILE=$WORK/auth.json
echo '{"auths":{}}' >"$REGISTRY_AUTH_FILE"
export SSL_CERT_FILE=$DATA/tls/ca.crt # for a TLS data endpoint (--data-tls)
sk() { skopeo --policy "$WORK/policy.json" "$@"; }
sk copy --quiet --dest-tls-verify="$TLS_VERIFY" --dest-creds "$OWNER" \
  "oci:$LAYOUT:latest" "docker://$REGISTRY_HOST/hello:v1"
pull() {
  sk inspect --format '{{.Digest}}' --tls-verify="$TLS_VERIFY" --creds "$OWNER" \
    "docker://$REGISTRY_HOST/hello:v1"
}
echo "pushed: $(pull)"
bw acr repository show-tags --name "$REGISTRY" --repository hello -o tsv

# --- 4. Restrict the network ----------------------------------------------------------------------
say 'Turning public network access off (defaultAction becomes Deny)'
bw acr update --name "$REGISTRY" --public-network-enabled false \
  --query '{publicNetworkAccess:publicNetworkAccess, defaultAction:networkRuleSet.defaultAction, trustedServices:networkRuleBypassOptions}' -o table
say 'A pull from this machine is now refused'
if pull >"$WORK/pull.out" 2>&1; then
  echo 'UNEXPECTED: the pull succeeded with public network access disabled' >&2
  exit 1
fi
echo "refused: $(grep -o 'invalid status code from registry [^"]*' "$WORK/pull.out" | head -1)"
say 'acr check-health explains the refusal (and the address the registry sees)'
bw acr check-health --name "$REGISTRY" --yes --ignore-errors 2>&1

# --- 5. Allow a source ------------------------------------------------------------------------------
# IP rules apply to public access, so public access comes back on, but only for listed sources.
say 'Public access on again with defaultAction Deny: only listed addresses get in'
bw acr update --name "$REGISTRY" --public-network-enabled true --default-action Deny \
  --query '{publicNetworkAccess:publicNetworkAccess, defaultAction:networkRuleSet.defaultAction}' -o table
if pull >"$WORK/pull.out" 2>&1; then
  echo 'UNEXPECTED: the pull succeeded with defaultAction Deny and no rule' >&2
  exit 1
fi
echo 'still refused: no rule matches 127.0.0.1'
say 'acr network-rule add --ip-address 127.0.0.1'
bw acr network-rule add --name "$REGISTRY" --ip-address 127.0.0.1 \
  --query 'networkRuleSet.ipRules[].ipAddressOrRange' -o tsv
echo "allowed: $(pull)"
bw acr check-health --name "$REGISTRY" --yes

# --- 6. Trusted services: the brief's worked example ---------------------------------------------
# A registry task with a system-assigned identity and `--auth-mode None` (no implicit registry
# credential: the identity is the only way in) builds and pushes into the registry while public
# access is disabled, because trusted services are allowed; with them disallowed the same run is
# refused, and its log shows the registry's answer.
say 'A managed identity for the trusted-service workflow, granted AcrPull on the registry'
REGISTRY_ID=$(bw acr show --name "$REGISTRY" --query id -o tsv)
LOGIN_SERVER=$(bw acr show --name "$REGISTRY" --query loginServer -o tsv)
PRINCIPAL=$(bw identity create --name walkthrough-builder --resource-group breakwater --query principalId -o tsv)
bw role assignment create --assignee "$PRINCIPAL" --role AcrPull --scope "$REGISTRY_ID" >/dev/null
bw role assignment list --scope "$REGISTRY_ID" --assignee "$PRINCIPAL" -o table

say 'A task with a system-assigned identity and --auth-mode None'
mkdir -p "$WORK/context"
echo 'built by a registry task' >"$WORK/context/message.txt"
{
  echo "FROM $LOGIN_SERVER/hello:v1"
  echo 'COPY message.txt /message.txt'
  # RUN needs a shell in the image and bubblewrap on the server.
  if [ -x /bin/busybox ] && command -v bwrap >/dev/null; then
    echo 'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox date -u > /built-at.txt"]'
  fi
  echo 'CMD ["/bin/busybox", "cat", "/message.txt"]'
} >"$WORK/context/Dockerfile"
bw acr task delete --name hello-task --registry "$REGISTRY" --yes >/dev/null 2>&1 || true
TASK_PRINCIPAL=$(bw acr task create --name hello-task --registry "$REGISTRY" \
  --context "$WORK/context" --file Dockerfile --image 'hello-task:{{.Run.ID}}' \
  --assign-identity '[system]' --auth-mode None --query identity.principalId -o tsv)
echo "task identity: $TASK_PRINCIPAL"
bw role assignment create --assignee "$TASK_PRINCIPAL" --role AcrPush --scope "$REGISTRY_ID" >/dev/null
bw acr task credential add --name hello-task --registry "$REGISTRY" \
  --login-server "$LOGIN_SERVER" --use-identity '[system]' -o table
bw acr update --name "$REGISTRY" --public-network-enabled false --allow-trusted-services true \
  --query '{publicNetworkAccess:publicNetworkAccess, trustedServices:networkRuleBypassOptions}' -o table

say 'Run with trusted services allowed: succeeds through the bypass'
bw acr task run --name hello-task --registry "$REGISTRY"

say 'Trusted services disallowed: the run fails with the registry'"'"'s 403 DENIED'
bw acr update --name "$REGISTRY" --allow-trusted-services false --query networkRuleBypassOptions -o tsv
if bw acr task run --name hello-task --registry "$REGISTRY" >"$WORK/run.out" 2>&1; then
  echo 'UNEXPECTED: the run succeeded with trusted services disallowed' >&2
  exit 1
fi
grep -m1 'DENIED' "$WORK/run.out"

say 'Trusted services allowed again: the run succeeds'
bw acr update --name "$REGISTRY" --allow-trusted-services true --query networkRuleBypassOptions -o tsv
bw acr task run --name hello-task --registry "$REGISTRY" >"$WORK/run.out" 2>&1 || { cat "$WORK/run.out"; exit 1; }
grep -m1 'was successful' "$WORK/run.out"
bw acr task list-runs --registry "$REGISTRY" --name hello-task -o table
say 'Done'
