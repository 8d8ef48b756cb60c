#!/usr/bin/env bash
# Provision a kube-apiserver and etcd for the Kubernetes test tier, offline.
#
# There is no container runtime (and no internet) on the CI machines, but a
# real API server runs fine: Debian bookworm's `kubernetes` source package
# vendors its Go dependencies, so `make WHAT=cmd/kube-apiserver` builds with
# Debian's golang-go and GOPROXY=off; Debian's etcd-server provides etcd.
#
# The built binary is cached at
#   ${XDG_CACHE_HOME:-$HOME/.cache}/flowdeck/kube/<version>/kube-apiserver
# next to a symlink to etcd, so the directory is an envtest-style assets
# directory (KUBEBUILDER_ASSETS). When it is already there, nothing is
# installed or built. The last line printed on stdout is that directory:
#
#   export KUBEBUILDER_ASSETS="$(bash scripts/provision-kube.sh | tail -n 1)"
#
# Everything else goes to provision.log in the cache directory; on failure
# its tail is printed on stderr. Building takes 8-12 minutes on two cores.
set -euo pipefail

# The upstream version of bookworm's kubernetes source (1.20.5+really1.20.2).
KUBE_VERSION=1.20.2
root="${XDG_CACHE_HOME:-$HOME/.cache}/flowdeck/kube"
dest="$root/$KUBE_VERSION"
log="$root/provision.log"
mkdir -p "$root"

have_assets() {
  [[ -x "$dest/kube-apiserver" && -x "$dest/etcd" ]]
}

if have_assets; then
  echo "$dest"
  exit 0
fi

# One provisioning at a time on a machine (parallel CI jobs share the cache).
exec 9>"$root/.lock"
flock 9
if have_assets; then
  echo "$dest"
  exit 0
fi

: >"$log"
fail() {
  echo "provision-kube: $1" >>"$log"
  exit 1
}
on_exit() {
  local rc=$?
  if ((rc)); then
    echo "provision-kube: failed (exit $rc); the end of $log:" >&2
    tail -n 40 "$log" >&2
  fi
}
trap on_exit EXIT

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || fail "not root and no sudo to install packages"
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

apt_updated=
apt_update() {
  if [[ -z $apt_updated ]]; then
    "${sudo[@]}" apt-get update -qq >>"$log" 2>&1
    apt_updated=1
  fi
}

install_missing() {
  local need=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if ((${#need[@]})); then
    echo "installing ${need[*]}" >>"$log"
    apt_update
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" \
      >>"$log" 2>&1
  fi
}

# etcd-server starts a system etcd on install where services may start; the
# tests start their own on free ports, so stop it (and keep it stopped).
if ! dpkg -s etcd-server >/dev/null 2>&1; then
  install_missing etcd-server
  "${sudo[@]}" service etcd stop >>"$log" 2>&1 || true
fi
rm -rf "$dest.partial"
mkdir -p "$dest.partial"
ln -sfn "$(command -v etcd || echo /usr/bin/etcd)" "$dest.partial/etcd"

if [[ ! -x "$dest/kube-apiserver" ]]; then
  install_missing golang-go make rsync jq dpkg-dev patch xz-utils ca-certificates

  # `apt-get source` needs deb-src entries: derive them from the Debian deb
  # entries when the machine has none (bookworm images ship only `deb`).
  if ! apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes'; then
    src_list=/etc/apt/sources.list.d/flowdeck-deb-src
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
      sed -E 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
        "${sudo[@]}" tee "$src_list.sources" >/dev/null
    elif grep -qsE '^deb .*debian' /etc/apt/sources.list; then
      sed -nE 's/^deb (.*debian.*)/deb-src \1/p' /etc/apt/sources.list |
        "${sudo[@]}" tee "$src_list.list" >/dev/null
    else
      echo "deb-src http://deb.debian.org/debian bookworm main" |
        "${sudo[@]}" tee "$src_list.list" >/dev/null
    fi
    apt_updated=
    apt_update
  fi

  work="$root/build"
  rm -rf "$work"
  mkdir -p "$work"
  (cd "$work" && apt-get source --download-only kubernetes) >>"$log" 2>&1
  dsc=$(ls "$work"/kubernetes_*.dsc)
  dpkg-source -x "$dsc" "$work/src" >>"$log" 2>&1
  version=$(sed -nE 's/^Version: (.*really)?([0-9.]+).*/\2/p' "$dsc")
  [[ $version == "$KUBE_VERSION" ]] ||
    fail "Debian's kubernetes source is $version; update KUBE_VERSION"

  echo "building kube-apiserver $version" >>"$log"
  start=$SECONDS
  # As debian/rules does: the tree must appear as k8s.io/kubernetes in a GOPATH.
  (
    cd "$work/src"
    mkdir -p .go/src/k8s.io
    ln -sfn ../../.. .go/src/k8s.io/kubernetes
    export GOPATH="$PWD/.go" GOCACHE="$work/go-cache" HOME="$work/home"
    export GOPROXY=off GOFLAGS=-mod=vendor GOTOOLCHAIN=local CGO_ENABLED=0
    export PATH="/usr/lib/go/bin:$PATH"
    make WHAT=cmd/kube-apiserver
  ) >>"$log" 2>&1
  echo "built in $((SECONDS - start)) s" >>"$log"
  install -m 0755 "$work/src/_output/bin/kube-apiserver" "$dest.partial/"
  rm -rf "$work"
else
  cp -a "$dest/kube-apiserver" "$dest.partial/"
fi

# Publish the directory whole so a half-provisioned one is never used.
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "$dest"
