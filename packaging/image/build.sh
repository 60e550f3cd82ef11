#!/usr/bin/env bash
# Builds Rumi's runtime image without any image registry: a minimal Debian bookworm root
# (debootstrap, minbase) with python3, pip (used only by the pip builder containers that
# install approved requirements.lock files) and CA certificates, imported with `docker import`.
#
#   packaging/image/build.sh [IMAGE]      (default: $RUMI_RUNTIME_IMAGE or rumi-runtime:bookworm)
#
# Needs root, debootstrap and a running Docker engine. Takes about half a minute.
set -euo pipefail
image=${1:-${RUMI_RUNTIME_IMAGE:-rumi-runtime:bookworm}}
mirror=${RUMI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d /tmp/rumi-image.XXXXXX)
trap 'rm -rf "$root"' EXIT

echo "==> debootstrap bookworm (minbase, python3, python3-pip, ca-certificates) from $mirror"
debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
    tail -30 "$root.log" >&2
    exit 1
}
rm -f "$root.log"
echo "==> trimming caches and docs"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
echo "==> docker import as $image"
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
    --change 'LABEL rumi.runtime=1' \
    - "$image" >/dev/null
docker run --rm --network=none "$image" python3 -c 'import ssl, json, pip; print("python", __import__("sys").version.split()[0], "pip", pip.__version__, "ok")'
echo "==> built $image"
